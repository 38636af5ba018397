// Fused kernels for ONNX GRU and LSTM (one direction of one layer) and a dense matrix product.
//
// Each recurrent kernel computes the input projection of all time steps as one matrix product
// (X[T*B, I] x W^T + biases, written into scratch), then runs the recurrence: per step one
// matrix-vector product (matrix-matrix for a batch) of the previous hidden state with R^T, added in
// place to that step's projection, followed by the vectorised gate non-linearities. The hidden
// state of step t is written straight into Y[t] and read from there at step t+1.
//
// The kernels are compiled twice (inference/rnn_kernels_impl.h): for the baseline x86-64 target
// (SSE2) and with AVX2+FMA; Kernels() picks the AVX2 table at run time when the CPU has it
// (__builtin_cpu_supports), unless EDGE_INFERENCE_KERNELS=baseline forces the baseline (tests).
//
// Packed weight layout (all float32, row-major), per direction, G = 3 for GRU (gates z,r,h as in
// ONNX) and 4 for LSTM (i,o,f,c):
//   wt      [I, G*H]   W transposed
//   rt      [H, 4H]    LSTM: R transposed, then table.pack'ed
//   rt_zr   [H, 2H]    GRU: R of the z and r gates, transposed, then table.pack'ed
//   rt_h    [H, H]     GRU: R of the h gate, transposed, then table.pack'ed
// The recurrent weights are packed by the kernel table that will run them (pack/packed_floats):
// row-major as is for the baseline (Eigen), column panels of 16 floats ([K, 16] contiguous blocks)
// for the AVX2 kernel, which streams them once per step with the hidden-state rows in registers,
// walking the panels first to last on even steps and last to first on odd ones (the panels read
// last are still in L1 when the next step begins).
//   bias_x  [G*H]      Wb + Rb, except Rb of the GRU h gate when linear_before_reset = 1,
//   bias_rh [H]        which stays separate (it is inside r * (...)).
//   peep    [3H]       LSTM peepholes (i, o, f), or null.
//
// Thread-safety: pure functions; callers give each call its own scratch and outputs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edge::inference {

struct RnnWeights {
  int input_size = 0;
  int hidden = 0;
  const float* wt = nullptr;
  const float* rt = nullptr;
  const float* rt_zr = nullptr;
  const float* rt_h = nullptr;
  const float* bias_x = nullptr;
  const float* bias_rh = nullptr;
  const float* peep = nullptr;
  bool linear_before_reset = true;  // GRU only
};

struct RnnCall {
  int steps = 0;  // T
  int batch = 0;  // B
  bool reverse = false;
  const float* x = nullptr;   // [T, B, I]
  const float* h0 = nullptr;  // [B, H] or null for zeros
  const float* c0 = nullptr;  // LSTM: [B, H] or null for zeros
  float* y = nullptr;         // Y[t] at y + t * y_step_stride, [B, H] each; may be null
  int64_t y_step_stride = 0;
  float* y_last = nullptr;   // final hidden state [B, H], or null
  float* c_last = nullptr;   // LSTM: final cell state [B, H], or null
  float* scratch = nullptr;  // RnnScratchFloats(...) floats, 64-byte aligned
};

// Scratch a call needs (floats).
int64_t RnnScratchFloats(int gates, int steps, int batch, int hidden);

// C[M, N] = A[M, K] * B + bias (bias [N] or null). B is [K, N] row-major, or [N, K] row-major
// when b_transposed. All row-major, contiguous.
struct MatMulCall {
  int m = 0, k = 0, n = 0;
  const float* a = nullptr;
  const float* b = nullptr;
  bool b_transposed = false;
  const float* bias = nullptr;
  float* c = nullptr;
};

struct KernelTable {
  const char* name;
  void (*gru)(const RnnWeights& w, const RnnCall& call);
  void (*lstm)(const RnnWeights& w, const RnnCall& call);
  void (*matmul)(const MatMulCall& call);
  int64_t (*packed_floats)(int k, int n);
  // Packs src [K, N] (row-major, row stride ld) into dst (packed_floats(K, N) floats).
  void (*pack)(const float* src, int k, int n, int64_t ld, float* dst);
};

namespace baseline {
extern const KernelTable kKernels;
}
namespace avx2 {
extern const KernelTable kKernels;
}

// The table for this CPU (see above). Chosen once.
const KernelTable& Kernels();

}  // namespace edge::inference
