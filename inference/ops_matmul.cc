// Matrix products: MatMul and Gemm, through the dense product of the kernel table this CPU runs
// (inference/rnn_kernels.h), which takes a row bias in the same pass.
#include <algorithm>
#include <array>

#include "inference/node_builder.h"
#include "inference/ops.h"
#include "inference/rnn_kernels.h"
#include "inference/tensor_walk.h"

namespace edge::inference {

// MatMul: A[..., M, K] x B[K, N], or both with equal leading dimensions.
Status OpMatMul(NodeBuilder& b) {
  const Value& a = b.in(0);
  const Value& w = b.in(1);
  if (a.dtype != DType::kFloat || w.dtype != DType::kFloat) return b.Error("inputs must be float");
  if (a.shape.size() < 2 || w.shape.size() < 2)
    return b.Error("inputs of rank < 2 are not supported");
  const int64_t k = a.shape.back();
  const int64_t n = w.shape.back();
  if (w.shape[w.shape.size() - 2] != k) {
    return b.Error("shapes " + ShapeToString(a.shape) + " and " + ShapeToString(w.shape) +
                   " do not multiply");
  }
  Shape out = a.shape;
  out.back() = n;
  int64_t batches = 1, m = a.shape[a.shape.size() - 2];
  bool batched_b = false;
  if (w.shape.size() == 2) {
    m = NumElements(a.shape) / std::max<int64_t>(k, 1);
  } else {
    if (w.shape.size() != a.shape.size() ||
        !std::equal(a.shape.begin(), a.shape.end() - 2, w.shape.begin())) {
      return b.Error("broadcasting of batch dimensions " + ShapeToString(a.shape) + " x " +
                     ShapeToString(w.shape) + " is not supported");
    }
    batches = NumElements(a.shape) / std::max<int64_t>(m * k, 1);
    batched_b = true;
  }
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, out));
  const Ref ra = a.ref, rw = w.ref;
  const KernelTable* kt = &Kernels();
  b.AddKernel([=](std::byte* arena) {
    for (int64_t i = 0; i < batches; ++i) {
      MatMulCall call;
      call.m = static_cast<int>(m);
      call.k = static_cast<int>(k);
      call.n = static_cast<int>(n);
      call.a = reinterpret_cast<const float*>(ra.Get(arena)) + i * m * k;
      call.b = reinterpret_cast<const float*>(rw.Get(arena)) + (batched_b ? i * k * n : 0);
      call.c = reinterpret_cast<float*>(o.Get(arena)) + i * m * n;
      kt->matmul(call);
    }
  });
  return Status::Ok();
}

Status OpGemm(NodeBuilder& b) {
  const Value& a = b.in(0);
  const Value& w = b.in(1);
  if (a.dtype != DType::kFloat || w.dtype != DType::kFloat) return b.Error("inputs must be float");
  if (a.shape.size() != 2 || w.shape.size() != 2) return b.Error("A and B must be 2-D");
  if (b.AttrInt("transA", 0) != 0) return b.Error("transA=1 is not supported");
  const bool trans_b = b.AttrInt("transB", 0) != 0;
  const float alpha = b.AttrFloat("alpha", 1.0f), beta = b.AttrFloat("beta", 1.0f);
  const int64_t m = a.shape[0], k = a.shape[1];
  const int64_t kb = trans_b ? w.shape[1] : w.shape[0];
  const int64_t n = trans_b ? w.shape[0] : w.shape[1];
  if (kb != k) {
    return b.Error("shapes " + ShapeToString(a.shape) + " and " + ShapeToString(w.shape) +
                   (trans_b ? " (transposed)" : "") + " do not multiply");
  }
  // Bias: [N] or [1, N] goes into the product; other shapes are broadcast-added afterwards.
  const bool has_c = b.has_input(2);
  bool row_bias = false;
  Walk<2> cw;
  Ref rc;
  if (has_c) {
    const Value& c = b.in(2);
    if (c.dtype != DType::kFloat) return b.Error("C must be float");
    Shape bc;
    if (!BroadcastShapes(c.shape, {m, n}, bc) || bc != Shape{m, n}) {
      return b.Error("C " + ShapeToString(c.shape) + " does not broadcast to " +
                     ShapeToString({m, n}));
    }
    row_bias = beta == 1.0f && NumElements(c.shape) == n &&
               (c.shape == Shape{n} || c.shape == Shape{1, n});
    cw.dims = {m, n};
    cw.strides[0] = Strides({m, n});
    cw.strides[1] = BroadcastStrides(c.shape, {m, n});
    rc = c.ref;
  }
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, {m, n}));
  const Ref ra = a.ref, rw = w.ref;
  const KernelTable* kt = &Kernels();
  b.AddKernel([=](std::byte* arena) {
    MatMulCall call;
    call.m = static_cast<int>(m);
    call.k = static_cast<int>(k);
    call.n = static_cast<int>(n);
    call.a = reinterpret_cast<const float*>(ra.Get(arena));
    call.b = reinterpret_cast<const float*>(rw.Get(arena));
    call.b_transposed = trans_b;
    float* out = reinterpret_cast<float*>(o.Get(arena));
    call.c = out;
    if (alpha == 1.0f && row_bias) call.bias = reinterpret_cast<const float*>(rc.Get(arena));
    kt->matmul(call);
    if (alpha == 1.0f && row_bias) return;
    if (alpha != 1.0f) {
      for (int64_t i = 0; i < m * n; ++i) out[i] *= alpha;
    }
    if (has_c) {
      const float* c = reinterpret_cast<const float*>(rc.Get(arena));
      cw.Run([&](const std::array<int64_t, 2>& off, int64_t cnt, const std::array<int64_t, 2>& st) {
        for (int64_t j = 0; j < cnt; ++j) out[off[0] + j] += beta * c[off[1] + j * st[1]];
      });
    }
  });
  return Status::Ok();
}

}  // namespace edge::inference
