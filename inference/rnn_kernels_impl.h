// The body of the GRU/LSTM/MatMul kernels, included by rnn_kernels_baseline.cc and
// rnn_kernels_avx2.cc inside namespace edge::inference::EDGE_KERNEL_NAMESPACE. The AVX2 unit
// renames Eigen's namespace before including this, so that the two compilations of Eigen's
// templates do not collide at link time. Layouts: inference/rnn_kernels.h.
//
// Not a public header: include only from those two files.

// The including file has included <Eigen/Core> (or its renamed copy) and rnn_kernels.h.

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstMatrixMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

inline ConstMatrixMap CMat(const float* p, int rows, int cols, int64_t stride) {
  return ConstMatrixMap(p, rows, cols, Eigen::OuterStride<>(stride));
}
inline MatrixMap Mat(float* p, int rows, int cols, int64_t stride) {
  return MatrixMap(p, rows, cols, Eigen::OuterStride<>(stride));
}

// ---- The recurrent product y[rows, N] (+)= x[rows, K] * W[K, N] on packed weights.
// With AVX2+FMA: W packed in panels of 16 columns ([K, 16] contiguous, zero-padded), streamed once
// per step with up to four hidden-state rows held in registers; no per-step packing (Eigen's GEMM
// would repack W at every step). The baseline keeps W as a plain row-major [K, N] and uses Eigen.
#if defined(__AVX2__) && defined(__FMA__)
constexpr int kPanel = 16;

int64_t PackedFloats(int k, int n) { return int64_t{k} * ((n + kPanel - 1) / kPanel) * kPanel; }

void Pack(const float* src, int k, int n, int64_t ld, float* dst) {
  const int panels = (n + kPanel - 1) / kPanel;
  for (int p = 0; p < panels; ++p) {
    for (int r = 0; r < k; ++r) {
      for (int j = 0; j < kPanel; ++j) {
        const int col = p * kPanel + j;
        dst[(int64_t{p} * k + r) * kPanel + j] = col < n ? src[r * ld + col] : 0.0f;
      }
    }
  }
}

inline void StorePanel(float* y, int width, bool accumulate, __m256 lo, __m256 hi) {
  if (width == kPanel) {
    if (accumulate) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(y));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(y + 8));
    }
    _mm256_storeu_ps(y, lo);
    _mm256_storeu_ps(y + 8, hi);
    return;
  }
  alignas(32) float tmp[kPanel];
  _mm256_store_ps(tmp, lo);
  _mm256_store_ps(tmp + 8, hi);
  for (int j = 0; j < width; ++j) y[j] = accumulate ? y[j] + tmp[j] : tmp[j];
}

// One row (batch 1, or what is left of a batch after the blocks of four), panels p..p+3 (64
// columns): one broadcast of x[k] feeds eight FMAs, and the eight accumulators hide the FMA
// latency.
inline void RowFourPanels(const float* packed, int k_count, int n, const float* xr, float* yr,
                          bool accumulate, int p) {
  const int64_t panel_floats = int64_t{k_count} * kPanel;
  const float* w0 = packed + p * panel_floats;
  const float* w1 = w0 + panel_floats;
  const float* w2 = w1 + panel_floats;
  const float* w3 = w2 + panel_floats;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0,
         d1 = a0;
  for (int k = 0; k < k_count; ++k) {
    const __m256 s = _mm256_broadcast_ss(xr + k);
    const int64_t o = int64_t{k} * kPanel;
    a0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w0 + o), a0);
    a1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w0 + o + 8), a1);
    b0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w1 + o), b0);
    b1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w1 + o + 8), b1);
    c0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w2 + o), c0);
    c1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w2 + o + 8), c1);
    d0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w3 + o), d0);
    d1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w3 + o + 8), d1);
  }
  const int col0 = p * kPanel;
  StorePanel(yr + col0, kPanel, accumulate, a0, a1);
  StorePanel(yr + col0 + kPanel, kPanel, accumulate, b0, b1);
  StorePanel(yr + col0 + 2 * kPanel, kPanel, accumulate, c0, c1);
  StorePanel(yr + col0 + 3 * kPanel, std::min(kPanel, n - col0 - 3 * kPanel), accumulate, d0,
             d1);
}

// One row, panel p alone: four partial sums over k hide the FMA latency.
inline void RowOnePanel(const float* packed, int k_count, int n, const float* xr, float* yr,
                        bool accumulate, int p) {
  const int64_t panel_floats = int64_t{k_count} * kPanel;
  const float* w = packed + p * panel_floats;
  const int col0 = p * kPanel;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0,
         d1 = a0;
  int k = 0;
  for (; k + 4 <= k_count; k += 4) {
    const float* wk = w + k * kPanel;
    __m256 s = _mm256_broadcast_ss(xr + k);
    a0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wk), a0);
    a1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wk + 8), a1);
    s = _mm256_broadcast_ss(xr + k + 1);
    b0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wk + 16), b0);
    b1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wk + 24), b1);
    s = _mm256_broadcast_ss(xr + k + 2);
    c0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wk + 32), c0);
    c1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wk + 40), c1);
    s = _mm256_broadcast_ss(xr + k + 3);
    d0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wk + 48), d0);
    d1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(wk + 56), d1);
  }
  for (; k < k_count; ++k) {
    const __m256 s = _mm256_broadcast_ss(xr + k);
    a0 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + k * kPanel), a0);
    a1 = _mm256_fmadd_ps(s, _mm256_loadu_ps(w + k * kPanel + 8), a1);
  }
  StorePanel(yr + col0, std::min(kPanel, n - col0), accumulate,
             _mm256_add_ps(_mm256_add_ps(a0, b0), _mm256_add_ps(c0, d0)),
             _mm256_add_ps(_mm256_add_ps(a1, b1), _mm256_add_ps(c1, d1)));
}

// Rows r..r+3, panel p: each load of the panel feeds the four rows.
inline void FourRowsOnePanel(const float* packed, int k_count, int n, const float* x, int64_t ldx,
                             float* y, int64_t ldy, bool accumulate, int p, int r) {
  const float* w = packed + int64_t{p} * k_count * kPanel;
  const int col0 = p * kPanel;
  const int width = std::min(kPanel, n - col0);
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0,
         d1 = a0;
  const float* x0 = x + (r + 0) * ldx;
  const float* x1 = x + (r + 1) * ldx;
  const float* x2 = x + (r + 2) * ldx;
  const float* x3 = x + (r + 3) * ldx;
  for (int k = 0; k < k_count; ++k) {
    const __m256 w0 = _mm256_loadu_ps(w + k * kPanel);
    const __m256 w1 = _mm256_loadu_ps(w + k * kPanel + 8);
    __m256 s = _mm256_broadcast_ss(x0 + k);
    a0 = _mm256_fmadd_ps(s, w0, a0);
    a1 = _mm256_fmadd_ps(s, w1, a1);
    s = _mm256_broadcast_ss(x1 + k);
    b0 = _mm256_fmadd_ps(s, w0, b0);
    b1 = _mm256_fmadd_ps(s, w1, b1);
    s = _mm256_broadcast_ss(x2 + k);
    c0 = _mm256_fmadd_ps(s, w0, c0);
    c1 = _mm256_fmadd_ps(s, w1, c1);
    s = _mm256_broadcast_ss(x3 + k);
    d0 = _mm256_fmadd_ps(s, w0, d0);
    d1 = _mm256_fmadd_ps(s, w1, d1);
  }
  StorePanel(y + (r + 0) * ldy + col0, width, accumulate, a0, a1);
  StorePanel(y + (r + 1) * ldy + col0, width, accumulate, b0, b1);
  StorePanel(y + (r + 2) * ldy + col0, width, accumulate, c0, c1);
  StorePanel(y + (r + 3) * ldy + col0, width, accumulate, d0, d1);
}

// `backward` walks the panels from the last to the first. A recurrence alternates the direction
// from one step to the next, so that the panels it read last, still in L1, are the first it reads
// again: with weights larger than L1, about an L1's worth of them is then not fetched from L2
// again at every step.
void RecurrentProduct(const float* packed, int k_count, int n, const float* x, int64_t ldx,
                      int rows, float* y, int64_t ldy, bool accumulate, bool backward) {
  const int panels = (n + kPanel - 1) / kPanel;
  const int blocked_rows = rows / 4 * 4;
  for (int i = 0; i < panels && blocked_rows > 0; ++i) {
    const int p = backward ? panels - 1 - i : i;
    for (int r = 0; r < blocked_rows; r += 4) {
      FourRowsOnePanel(packed, k_count, n, x, ldx, y, ldy, accumulate, p, r);
    }
  }
  const int grouped = panels / 4 * 4;
  for (int r = blocked_rows; r < rows; ++r) {
    const float* xr = x + r * ldx;
    float* yr = y + r * ldy;
    if (backward) {
      for (int p = panels - 1; p >= grouped; --p) {
        RowOnePanel(packed, k_count, n, xr, yr, accumulate, p);
      }
      for (int p = grouped - 4; p >= 0; p -= 4) {
        RowFourPanels(packed, k_count, n, xr, yr, accumulate, p);
      }
    } else {
      for (int p = 0; p < grouped; p += 4) RowFourPanels(packed, k_count, n, xr, yr, accumulate, p);
      for (int p = grouped; p < panels; ++p) RowOnePanel(packed, k_count, n, xr, yr, accumulate, p);
    }
  }
}
#else
int64_t PackedFloats(int k, int n) { return int64_t{k} * n; }

void Pack(const float* src, int k, int n, int64_t ld, float* dst) {
  for (int r = 0; r < k; ++r) {
    for (int j = 0; j < n; ++j) dst[int64_t{r} * n + j] = src[r * ld + j];
  }
}

void RecurrentProduct(const float* packed, int k_count, int n, const float* x, int64_t ldx,
                      int rows, float* y, int64_t ldy, bool accumulate, bool /*backward*/) {
  auto out = Mat(y, rows, n, ldy);
  if (accumulate) {
    out.noalias() += CMat(x, rows, k_count, ldx) * CMat(packed, k_count, n, n);
  } else {
    out.noalias() = CMat(x, rows, k_count, ldx) * CMat(packed, k_count, n, n);
  }
}
#endif

// sigmoid(x) = 0.5 * tanh(0.5 x) + 0.5, with Eigen's vectorised tanh.
template <typename In>
inline void SigmoidInto(float* out, const In& in) {
  const Eigen::Index n = in.size();
  ArrayMap(out, n) = (in * 0.5f).tanh() * 0.5f + 0.5f;
}

// X[T*B, I] x Wt[I, G*H] + bias_x into xw[T*B, G*H].
inline void InputProjection(const RnnWeights& w, const RnnCall& call, int gh, float* xw) {
  const int rows = call.steps * call.batch;
  auto out = Mat(xw, rows, gh, gh);
  // The bias first, then the product added to it: one pass over xw fewer than `=` (which
  // clears xw before accumulating) followed by adding the bias.
  out.rowwise() = Eigen::Map<const Eigen::RowVectorXf>(w.bias_x, gh);
  out.noalias() += CMat(call.x, rows, w.input_size, w.input_size) * CMat(w.wt, w.input_size, gh, gh);
}

void Gru(const RnnWeights& w, const RnnCall& call) {
  const int h = w.hidden, b = call.batch, t_count = call.steps, gh = 3 * h;
  float* xw = call.scratch;                    // [T*B, 3H]
  float* hr = xw + int64_t{t_count} * b * gh;  // [B, H]: h_prev * Rh^T (+ Rbh)
  float* ping = hr + int64_t{b} * h;           // [B, H] x2 when y is not kept
  float* rh = ping + 2 * int64_t{b} * h;       // [B, H]: r * h_prev (lbr = 0)
  InputProjection(w, call, gh, xw);

  const float* h_prev = call.h0;
  if (h_prev == nullptr) {
    ArrayMap(rh, int64_t{b} * h).setZero();  // zero initial state, kept in rh until overwritten
    h_prev = rh;
  }
  for (int s = 0; s < t_count; ++s) {
    const int t = call.reverse ? t_count - 1 - s : s;
    const bool backward = s % 2 == 1;  // the direction of the walk over the weight panels
    float* g = xw + int64_t{t} * b * gh;  // [B, 3H]
    float* h_out =
        call.y != nullptr ? call.y + t * call.y_step_stride : ping + int64_t{s % 2} * b * h;
    if (w.linear_before_reset) {
      // z, r: g[:, 0:2H] += h_prev Rzr^T; n needs r * (h_prev Rh^T + Rbh): hr = h_prev Rh^T.
      // Both products read h_prev only: on backward steps the one read last goes first.
      if (backward) {
        RecurrentProduct(w.rt_h, h, h, h_prev, h, b, hr, h, false, true);
        RecurrentProduct(w.rt_zr, h, 2 * h, h_prev, h, b, g, gh, true, true);
      } else {
        RecurrentProduct(w.rt_zr, h, 2 * h, h_prev, h, b, g, gh, true, false);
        RecurrentProduct(w.rt_h, h, h, h_prev, h, b, hr, h, false, false);
      }
      for (int i = 0; i < b; ++i) {
        float* gi = g + int64_t{i} * gh;
        SigmoidInto(gi, ArrayMap(gi, 2 * h));  // z, r
        ArrayMap z(gi, h), r(gi + h, h), n(gi + 2 * h, h);
        n = (n + r * (ArrayMap(hr + int64_t{i} * h, h) + ConstArrayMap(w.bias_rh, h))).tanh();
        ConstArrayMap hp(h_prev + int64_t{i} * h, h);
        ArrayMap(h_out + int64_t{i} * h, h) = n + z * (hp - n);
      }
    } else {
      RecurrentProduct(w.rt_zr, h, 2 * h, h_prev, h, b, g, gh, true, backward);
      for (int i = 0; i < b; ++i) {
        float* gi = g + int64_t{i} * gh;
        SigmoidInto(gi, ArrayMap(gi, 2 * h));
        ArrayMap(rh + int64_t{i} * h, h) =
            ArrayMap(gi + h, h) * ConstArrayMap(h_prev + int64_t{i} * h, h);
      }
      // rh may alias h_prev only at s == 0 with a zero state, where r * 0 = 0 is what it holds.
      RecurrentProduct(w.rt_h, h, h, rh, h, b, hr, h, false, backward);
      for (int i = 0; i < b; ++i) {
        float* gi = g + int64_t{i} * gh;
        ArrayMap z(gi, h), n(gi + 2 * h, h);
        n = (n + ArrayMap(hr + int64_t{i} * h, h)).tanh();
        // h_prev may be rh (zero initial state): rh is all zero then, as r * 0 = 0.
        ConstArrayMap hp(h_prev + int64_t{i} * h, h);
        ArrayMap(h_out + int64_t{i} * h, h) = n + z * (hp - n);
      }
    }
    h_prev = h_out;
  }
  if (call.y_last != nullptr) {
    ArrayMap(call.y_last, int64_t{b} * h) = ConstArrayMap(h_prev, int64_t{b} * h);
  }
}

void Lstm(const RnnWeights& w, const RnnCall& call) {
  const int h = w.hidden, b = call.batch, t_count = call.steps, gh = 4 * h;
  float* xw = call.scratch;                   // [T*B, 4H]
  float* c = xw + int64_t{t_count} * b * gh;  // [B, H] cell state
  float* ping = c + int64_t{b} * h;           // [B, H] x2 when y is not kept
  float* zeros = ping + 2 * int64_t{b} * h;   // [B, H]
  InputProjection(w, call, gh, xw);
  const float* h_prev = call.h0;
  if (h_prev == nullptr) {
    ArrayMap(zeros, int64_t{b} * h).setZero();
    h_prev = zeros;
  }
  if (call.c0 != nullptr) {
    ArrayMap(c, int64_t{b} * h) = ConstArrayMap(call.c0, int64_t{b} * h);
  } else {
    ArrayMap(c, int64_t{b} * h).setZero();
  }
  for (int s = 0; s < t_count; ++s) {
    const int t = call.reverse ? t_count - 1 - s : s;
    const bool backward = s % 2 == 1;
    float* g = xw + int64_t{t} * b * gh;  // [B, 4H]: i, o, f, c
    float* h_out =
        call.y != nullptr ? call.y + t * call.y_step_stride : ping + int64_t{s % 2} * b * h;
    RecurrentProduct(w.rt, h, gh, h_prev, h, b, g, gh, true, backward);
    for (int i = 0; i < b; ++i) {
      float* gi = g + int64_t{i} * gh;
      ArrayMap ci(c + int64_t{i} * h, h);
      ArrayMap gate_i(gi, h), gate_o(gi + h, h), gate_f(gi + 2 * h, h), gate_c(gi + 3 * h, h);
      if (w.peep == nullptr) {
        SigmoidInto(gi, ArrayMap(gi, 3 * h));  // i, o, f
      } else {
        gate_i += ConstArrayMap(w.peep, h) * ci;
        gate_f += ConstArrayMap(w.peep + 2 * h, h) * ci;
        SigmoidInto(gi, ArrayMap(gi, h));
        SigmoidInto(gi + 2 * h, ArrayMap(gi + 2 * h, h));
      }
      ci = gate_f * ci + gate_i * gate_c.tanh();
      if (w.peep != nullptr) {
        gate_o += ConstArrayMap(w.peep + h, h) * ci;
        SigmoidInto(gi + h, ArrayMap(gi + h, h));
      }
      ArrayMap(h_out + int64_t{i} * h, h) = gate_o * ci.tanh();
    }
    h_prev = h_out;
  }
  if (call.y_last != nullptr) {
    ArrayMap(call.y_last, int64_t{b} * h) = ConstArrayMap(h_prev, int64_t{b} * h);
  }
  if (call.c_last != nullptr) {
    ArrayMap(call.c_last, int64_t{b} * h) = ArrayMap(c, int64_t{b} * h);
  }
}

void MatMul(const MatMulCall& m) {
  auto out = Mat(m.c, m.m, m.n, m.n);
  if (m.b_transposed) {
    out.noalias() = CMat(m.a, m.m, m.k, m.k) * CMat(m.b, m.n, m.k, m.k).transpose();
  } else {
    out.noalias() = CMat(m.a, m.m, m.k, m.k) * CMat(m.b, m.k, m.n, m.n);
  }
  if (m.bias != nullptr) out.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(m.bias, m.n);
}
