// Reductions over axes (ReduceSum, ReduceMean, ReduceMax; axes as attribute or input) and Softmax
// on the last axis.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "inference/node_builder.h"
#include "inference/ops.h"
#include "inference/tensor_walk.h"

namespace edge::inference {
namespace {

enum class ReduceKind { kSum, kMean, kMax };

Status Reduce(NodeBuilder& b, ReduceKind kind) {
  const Value& in = b.in(0);
  if (in.dtype != DType::kFloat) return b.Error("input must be float");
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  bool given;
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, b.AxesInputOrAttr(1, &given));
  const bool keepdims = b.AttrInt("keepdims", 1) != 0;
  std::vector<bool> red(rank, false);
  if (axes.empty()) {
    if (b.AttrInt("noop_with_empty_axes", 0) != 0) return b.Alias(0, 0, in.shape);
    red.assign(rank, true);
  }
  for (int64_t a : axes) {
    if (!NormalizeAxis(a, rank)) return b.Error("axis out of range");
    red[a] = true;
  }
  Shape kept, out;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i) {
    kept.push_back(red[i] ? 1 : in.shape[i]);
    if (red[i]) count *= in.shape[i];
    if (!red[i]) {
      out.push_back(in.shape[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  if (kind == ReduceKind::kMax && count == 0) return b.Error("max over an empty axis");
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, out));
  Walk<2> w;
  w.dims = in.shape;
  w.strides[0] = Strides(in.shape);
  w.strides[1] = BroadcastStrides(kept, in.shape);
  const Ref src = in.ref;
  const int64_t n_out = NumElements(out);
  b.AddKernel([=](std::byte* arena) {
    const float* s = reinterpret_cast<const float*>(src.Get(arena));
    float* d = reinterpret_cast<float*>(o.Get(arena));
    const float init = kind == ReduceKind::kMax ? -INFINITY : 0.0f;
    std::fill(d, d + n_out, init);
    w.Run([&](const std::array<int64_t, 2>& off, int64_t cnt, const std::array<int64_t, 2>& st) {
      const float* ss = s + off[0];
      float* dd = d + off[1];
      if (kind == ReduceKind::kMax) {
        for (int64_t j = 0; j < cnt; ++j) dd[j * st[1]] = std::max(dd[j * st[1]], ss[j]);
      } else if (st[1] == 0) {
        float acc = 0;
        for (int64_t j = 0; j < cnt; ++j) acc += ss[j];
        *dd += acc;
      } else {
        for (int64_t j = 0; j < cnt; ++j) dd[j * st[1]] += ss[j];
      }
    });
    if (kind == ReduceKind::kMean && count > 0) {
      const float scale = 1.0f / static_cast<float>(count);
      for (int64_t i = 0; i < n_out; ++i) d[i] *= scale;
    }
  });
  return Status::Ok();
}

}  // namespace

Status OpReduceSum(NodeBuilder& b) { return Reduce(b, ReduceKind::kSum); }
Status OpReduceMean(NodeBuilder& b) { return Reduce(b, ReduceKind::kMean); }
Status OpReduceMax(NodeBuilder& b) { return Reduce(b, ReduceKind::kMax); }

Status OpSoftmax(NodeBuilder& b) {
  const Value& in = b.in(0);
  if (in.dtype != DType::kFloat) return b.Error("input must be float");
  int64_t axis = b.AttrInt("axis", -1);
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  if (!NormalizeAxis(axis, rank)) return b.Error("axis out of range");
  if (axis != rank - 1) return b.Error("only the last axis is supported");
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, in.shape));
  const int64_t inner = in.shape[axis], outer = NumElements(in.shape) / std::max<int64_t>(inner, 1);
  const Ref src = in.ref;
  b.AddKernel([=](std::byte* arena) {
    for (int64_t r = 0; r < outer; ++r) {
      Eigen::Map<const Eigen::ArrayXf> x(reinterpret_cast<const float*>(src.Get(arena)) + r * inner,
                                         inner);
      Eigen::Map<Eigen::ArrayXf> y(reinterpret_cast<float*>(o.Get(arena)) + r * inner, inner);
      y = (x - x.maxCoeff()).exp();
      y /= y.sum();
    }
  });
  return Status::Ok();
}

}  // namespace edge::inference
