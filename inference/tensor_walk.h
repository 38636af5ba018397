// Index arithmetic shared by the operator implementations (inference/ops_*.cc): row-major
// strides, numpy broadcasting, and an N-d walk over several operands at once.
//
// Kernels call Walk::Run on every Model::Run, so it is a template here, inlined into each
// operator's kernel: the callback gets whole innermost runs, and the operators keep the tight
// loop over a run (contiguous, or one operand broadcast) in their own code.
//
// Thread-safety: values and pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "inference/tensor.h"

namespace edge::inference {

// Highest rank the engine plans (the planner refuses larger ones, so Walk's index fits).
inline constexpr int kMaxRank = 8;

// Row-major strides, in elements.
Shape Strides(const Shape& shape);

// Normalises a possibly negative axis against `rank`; false if out of range.
bool NormalizeAxis(int64_t& axis, int64_t rank);

// Numpy broadcasting of two shapes; false if they do not broadcast.
bool BroadcastShapes(const Shape& a, const Shape& b, Shape& out);

// Strides (in elements) of `in` broadcast to `out` (0 along broadcast dimensions).
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out);

// An N-d walk over `dims` (row-major), with one stride vector per operand. The innermost
// dimension is handed to the callback as a run: f(offsets, count, inner_strides).
// REQUIRES: dims.size() <= kMaxRank; each strides[k] has dims.size() entries.
template <int K>
struct Walk {
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, K> strides;

  template <typename F>
  void Run(F&& f) const {
    const int nd = static_cast<int>(dims.size());
    std::array<int64_t, K> off{};
    std::array<int64_t, K> inner{};
    if (nd == 0) {
      f(off, int64_t{1}, inner);
      return;
    }
    for (int k = 0; k < K; ++k) inner[k] = strides[k][nd - 1];
    const int64_t count = dims[nd - 1];
    for (int64_t d : dims) {
      if (d == 0) return;
    }
    std::array<int64_t, kMaxRank> idx{};
    while (true) {
      f(off, count, inner);
      int d = nd - 2;
      for (; d >= 0; --d) {
        ++idx[d];
        for (int k = 0; k < K; ++k) off[k] += strides[k][d];
        if (idx[d] < dims[d]) break;
        for (int k = 0; k < K; ++k) off[k] -= strides[k][d] * dims[d];
        idx[d] = 0;
      }
      if (d < 0) return;
    }
  }
};

// Copies elements of size `esize` from src (operand 1, strided) to dst (operand 0, contiguous in
// walk order).
void StridedCopy(const Walk<2>& w, size_t esize, const std::byte* src, std::byte* dst);

}  // namespace edge::inference
