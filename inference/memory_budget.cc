#include "inference/memory_budget.h"

#include <cstdio>
#include <iterator>

namespace edge::inference {

std::optional<int64_t> CheckedNumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (d > 0 && n > INT64_MAX / d) return std::nullopt;
    n *= d;
  }
  return n;
}

std::optional<int64_t> TensorBytes(DType dtype, const Shape& shape) {
  const std::optional<int64_t> n = CheckedNumElements(shape);
  const int64_t es = static_cast<int64_t>(ElementSize(dtype));
  if (!n.has_value() || *n > INT64_MAX / es) return std::nullopt;
  return *n * es;
}

std::string BytesText(int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string TensorText(DType dtype, const Shape& shape) {
  const std::optional<int64_t> bytes = TensorBytes(dtype, shape);
  return DTypeName(dtype) + " " + ShapeToString(shape) + " (" +
         (bytes.has_value() ? BytesText(*bytes) : std::string("more than 8 EiB")) + ")";
}

Status MemoryBudget::Refuse(int64_t bytes, int64_t total, const std::string& what) const {
  return Status::InvalidArgument(what + " needs " + BytesText(bytes) + "; the model would hold " +
                                 (total < 0 ? std::string("more than 8 EiB") : BytesText(total)) +
                                 ", above its memory budget of " + BytesText(limit_));
}

Status MemoryBudget::Reserve(int64_t bytes, const std::string& what) {
  EDGE_CHECK(bytes >= 0);
  // held() <= limit_ always holds, so the subtraction cannot overflow.
  if (bytes > limit_ - held()) {
    return Refuse(bytes, bytes > INT64_MAX - held() ? -1 : held() + bytes, what);
  }
  held_ += bytes;
  return Status::Ok();
}

Status MemoryBudget::ReserveArena(int64_t bytes, const std::string& what) {
  EDGE_CHECK(bytes >= 0);
  if (bytes <= arena_) return Status::Ok();
  if (bytes > limit_ - held_) {
    return Refuse(bytes, bytes > INT64_MAX - held_ ? -1 : held_ + bytes, what);
  }
  arena_ = bytes;
  return Status::Ok();
}

}  // namespace edge::inference
