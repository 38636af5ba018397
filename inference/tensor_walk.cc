#include "inference/tensor_walk.h"

#include <algorithm>
#include <cstring>

namespace edge::inference {

Shape Strides(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

bool NormalizeAxis(int64_t& axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return false;
  if (axis < 0) axis += rank;
  return true;
}

bool BroadcastShapes(const Shape& a, const Shape& b, Shape& out) {
  const size_t n = std::max(a.size(), b.size());
  out.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    out[i] = da == 1 ? db : da;
  }
  return true;
}

std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  std::vector<int64_t> s(out.size(), 0);
  const Shape st = Strides(in);
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) s[lead + i] = in[i] == 1 ? 0 : st[i];
  return s;
}

void StridedCopy(const Walk<2>& w, size_t esize, const std::byte* src, std::byte* dst) {
  w.Run([&](const std::array<int64_t, 2>& off, int64_t count, const std::array<int64_t, 2>& inner) {
    std::byte* d = dst + off[0] * static_cast<int64_t>(esize);
    const std::byte* s = src + off[1] * static_cast<int64_t>(esize);
    if (inner[1] == 1) {
      std::memcpy(d, s, static_cast<size_t>(count) * esize);
      return;
    }
    const int64_t step = inner[1] * static_cast<int64_t>(esize);
    for (int64_t j = 0; j < count; ++j)
      std::memcpy(d + j * static_cast<int64_t>(esize), s + j * step, esize);
  });
}

}  // namespace edge::inference
