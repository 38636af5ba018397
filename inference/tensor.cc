#include "inference/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/status.h"

namespace edge::inference {

std::string DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat:
      return "float";
    case DType::kInt64:
      return "int64";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

size_t ElementSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat:
      return 4;
    case DType::kInt64:
      return 8;
    case DType::kBool:
      return 1;
  }
  return 1;
}

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

void AlignedBytes::Free::operator()(std::byte* p) const { std::free(p); }

AlignedBytes AllocateAligned(size_t bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64 + 64;
  void* p = std::aligned_alloc(64, rounded);
  if (p == nullptr) throw std::bad_alloc();
  std::memset(p, 0, rounded);
  AlignedBytes out;
  out.data.reset(static_cast<std::byte*>(p));
  out.size = bytes;
  return out;
}

ConstTensor MakeConstTensor(DType dtype, const Shape& shape) {
  for (int64_t d : shape) EDGE_CHECK(d >= 0);
  ConstTensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.storage = std::make_shared<AlignedBytes>(
      AllocateAligned(static_cast<size_t>(NumElements(shape)) * ElementSize(dtype)));
  return t;
}

}  // namespace edge::inference
