// Tensors of the inference engine: element types, shapes, and constant tensors.
//
// The engine knows three element types, which is what the nodes torch.onnx.export emits for
// GRU/LSTM/Linear stacks need: float32 (activations, weights), int64 (shapes, indices, axes) and
// bool (Equal/Where masks; one byte per element). int32 and double initializers are converted at
// load. A constant tensor owns its elements in 64-byte-aligned storage; everything else lives in
// a model's arena (see inference/model.h).
//
// Thread-safety: values; a ConstTensor's storage is immutable once built and may be shared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edge::inference {

enum class DType { kFloat, kInt64, kBool };

std::string DTypeName(DType dtype);
size_t ElementSize(DType dtype);

using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a scalar).
int64_t NumElements(const Shape& shape);
// "[2,64,8]".
std::string ShapeToString(const Shape& shape);

// 64-byte-aligned bytes, freed with std::free.
struct AlignedBytes {
  struct Free {
    void operator()(std::byte* p) const;
  };
  std::unique_ptr<std::byte[], Free> data;
  size_t size = 0;
};
// Zero-filled; size 0 gives a valid, non-null pointer.
AlignedBytes AllocateAligned(size_t bytes);

struct ConstTensor {
  DType dtype = DType::kFloat;
  Shape shape;
  std::shared_ptr<AlignedBytes> storage;

  const float* floats() const { return reinterpret_cast<const float*>(storage->data.get()); }
  const int64_t* ints() const { return reinterpret_cast<const int64_t*>(storage->data.get()); }
  const uint8_t* bools() const { return reinterpret_cast<const uint8_t*>(storage->data.get()); }
  std::byte* mutable_bytes() const { return storage->data.get(); }
};

// A zero-filled constant of the given type and shape. REQUIRES: dims >= 0.
ConstTensor MakeConstTensor(DType dtype, const Shape& shape);

}  // namespace edge::inference
