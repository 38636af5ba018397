// GRU and LSTM layers: the node is checked against what the fused kernels (inference/rnn_kernels.h)
// implement, its weights are packed once for all batch sizes (NodeBuilder::cache), and each plan
// gets one kernel call per direction.
//
// What the kernels do not implement is a load error naming the attribute or input: clip,
// batch-first layout, activation parameters, activations other than the defaults, input_forget,
// sequence_lens shorter than the window. W, R, B and P must be initializers (they are packed at
// load).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "inference/node_builder.h"
#include "inference/ops.h"
#include "inference/rnn_kernels.h"

namespace edge::inference {
namespace {

// The packed weights of every direction of one layer, and the storage they point into.
struct RnnPack {
  std::vector<std::shared_ptr<AlignedBytes>> storage;
  std::vector<RnnWeights> dirs;
};

float* NewFloats(RnnPack& pack, int64_t n) {
  pack.storage.push_back(
      std::make_shared<AlignedBytes>(AllocateAligned(static_cast<size_t>(n) * 4)));
  return reinterpret_cast<float*>(pack.storage.back()->data.get());
}

// Transposes src [rows, cols] (row-major) into dst [cols, rows].
void TransposeInto(const float* src, int64_t rows, int64_t cols, float* dst, int64_t dst_stride,
                   int64_t dst_col0) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * dst_stride + dst_col0 + r] = src[r * cols + c];
  }
}

// A GRU or LSTM node as the kernels will run it, once checked.
struct RnnLayer {
  bool lstm = false;
  int gates = 3;  // 3 for GRU (z, r, h), 4 for LSTM (i, o, f, c)
  int num_dirs = 1;
  bool reverse_only = false;        // direction "reverse"
  int64_t linear_before_reset = 0;  // GRU only
  int64_t steps = 0, batch = 0, input = 0, hidden = 0;
  const Value* x = nullptr;
  const Value* w = nullptr;
  const Value* r = nullptr;
  const Value* bias = nullptr;  // optional inputs: null when left out
  const Value* h0 = nullptr;
  const Value* c0 = nullptr;
  const Value* peep = nullptr;

  Shape state_shape() const { return {num_dirs, batch, hidden}; }
};

// The attributes; refuses those the kernels do not implement.
Status CheckRnnAttributes(const NodeBuilder& b, RnnLayer& l) {
  if (const OnnxAttribute* a = b.Attr("activation_alpha"); a != nullptr && !a->floats.empty()) {
    return b.Error("attribute activation_alpha is not supported");
  }
  if (const OnnxAttribute* a = b.Attr("activation_beta"); a != nullptr && !a->floats.empty()) {
    return b.Error("attribute activation_beta is not supported");
  }
  if (b.Attr("clip") != nullptr) return b.Error("attribute clip is not supported");
  if (b.AttrInt("layout", 0) != 0) return b.Error("layout=1 (batch-first) is not supported");
  if (l.lstm && b.AttrInt("input_forget", 0) != 0) {
    return b.Error("input_forget=1 is not supported");
  }
  const std::string direction = b.AttrString("direction", "forward");
  if (direction == "forward" || direction == "reverse") {
    l.num_dirs = 1;
  } else if (direction == "bidirectional") {
    l.num_dirs = 2;
  } else {
    return b.Error("direction '" + direction + "' is not supported");
  }
  l.reverse_only = direction == "reverse";
  if (const OnnxAttribute* a = b.Attr("activations"); a != nullptr) {
    std::vector<std::string> expect;
    for (int d = 0; d < l.num_dirs; ++d) {
      expect.push_back("Sigmoid");
      expect.push_back("Tanh");
      if (l.lstm) expect.push_back("Tanh");
    }
    if (a->strings != expect) {
      std::string got;
      for (const std::string& s : a->strings) got += (got.empty() ? "" : ",") + s;
      return b.Error("activations [" + got + "] are not supported (only the defaults " +
                     std::string(l.lstm ? "Sigmoid,Tanh,Tanh" : "Sigmoid,Tanh") + ")");
    }
  }
  l.linear_before_reset = l.lstm ? 0 : b.AttrInt("linear_before_reset", 0);
  if (l.linear_before_reset != 0 && l.linear_before_reset != 1) {
    return b.Error("linear_before_reset must be 0 or 1");
  }
  return Status::Ok();
}

// X, W, R and the optional B, sequence_lens, initial_h, initial_c and P: shapes, types, and the
// inputs that must be initializers.
Status CheckRnnInputs(const NodeBuilder& b, RnnLayer& l) {
  const Value& x = b.in(0);
  if (x.dtype != DType::kFloat || x.shape.size() != 3) {
    return b.Error("X must be float [seq_length, batch, input_size], is " + ShapeToString(x.shape));
  }
  l.x = &x;
  l.steps = x.shape[0];
  l.batch = x.shape[1];
  l.input = x.shape[2];
  if (!b.has_input(1) || !b.has_input(2)) return b.Error("W and R are required");
  l.w = &b.in(1);
  l.r = &b.in(2);
  const Value& w = *l.w;
  if (!w.is_const || !l.r->is_const) return b.Error("W and R must be initializers");
  if (w.shape.size() != 3 || w.shape[0] != l.num_dirs || w.shape[2] != l.input ||
      w.shape[1] % l.gates != 0) {
    return b.Error("W " + ShapeToString(w.shape) + " does not fit X " + ShapeToString(x.shape) +
                   " and " + std::to_string(l.num_dirs) + " direction(s)");
  }
  l.hidden = w.shape[1] / l.gates;
  if (b.Attr("hidden_size") != nullptr && b.AttrInt("hidden_size", 0) != l.hidden) {
    return b.Error("hidden_size " + std::to_string(b.AttrInt("hidden_size", 0)) +
                   " disagrees with W " + ShapeToString(w.shape));
  }
  if (l.hidden <= 0) return b.Error("hidden size 0");
  const int64_t gh = l.gates * l.hidden;
  if (l.r->shape != Shape{l.num_dirs, gh, l.hidden}) {
    return b.Error("R " + ShapeToString(l.r->shape) + " should be " +
                   ShapeToString({l.num_dirs, gh, l.hidden}));
  }
  if (b.has_input(3)) {
    l.bias = &b.in(3);
    if (!l.bias->is_const) return b.Error("B must be an initializer");
    if (l.bias->shape != Shape{l.num_dirs, 2 * gh}) {
      return b.Error("B " + ShapeToString(l.bias->shape) + " should be " +
                     ShapeToString({l.num_dirs, 2 * gh}));
    }
  }
  if (b.has_input(4)) {
    const Value& sl = b.in(4);
    bool all_full = sl.is_const && sl.dtype == DType::kInt64 && NumElements(sl.shape) == l.batch;
    for (int64_t i = 0; all_full && i < l.batch; ++i) all_full = sl.konst.ints()[i] == l.steps;
    if (!all_full) return b.Error("sequence_lens other than the full length are not supported");
  }
  const Shape state_shape = l.state_shape();
  l.h0 = b.has_input(5) ? &b.in(5) : nullptr;
  if (l.h0 != nullptr && (l.h0->shape != state_shape || l.h0->dtype != DType::kFloat)) {
    return b.Error("initial_h " + ShapeToString(l.h0->shape) + " should be " +
                   ShapeToString(state_shape));
  }
  l.c0 = l.lstm && b.has_input(6) ? &b.in(6) : nullptr;
  if (l.c0 != nullptr && (l.c0->shape != state_shape || l.c0->dtype != DType::kFloat)) {
    return b.Error("initial_c " + ShapeToString(l.c0->shape) + " should be " +
                   ShapeToString(state_shape));
  }
  l.peep = l.lstm && b.has_input(7) ? &b.in(7) : nullptr;
  if (l.peep != nullptr &&
      (!l.peep->is_const || l.peep->shape != Shape{l.num_dirs, 3 * l.hidden})) {
    return b.Error("P must be an initializer of shape " +
                   ShapeToString({l.num_dirs, 3 * l.hidden}));
  }
  return Status::Ok();
}

// Direction d's weights in the layout of inference/rnn_kernels.h, for the kernels of this CPU.
RnnWeights PackDirection(const RnnLayer& l, int d, RnnPack& pack) {
  const int64_t h = l.hidden, gh = l.gates * l.hidden, input = l.input;
  const bool lbr = l.linear_before_reset == 1;
  RnnWeights rw;
  rw.input_size = static_cast<int>(input);
  rw.hidden = static_cast<int>(h);
  rw.linear_before_reset = lbr;
  const float* wd = l.w->konst.floats() + d * gh * input;
  const float* rd = l.r->konst.floats() + d * gh * h;
  float* wt = NewFloats(pack, input * gh);
  TransposeInto(wd, gh, input, wt, gh, 0);
  rw.wt = wt;
  // R transposed, then packed the way the kernels of this CPU read it.
  const KernelTable& kt = Kernels();
  std::vector<float> rt(static_cast<size_t>(h * gh));
  TransposeInto(rd, gh, h, rt.data(), gh, 0);
  const int hi = static_cast<int>(h);
  if (l.lstm) {
    float* packed = NewFloats(pack, kt.packed_floats(hi, static_cast<int>(gh)));
    kt.pack(rt.data(), hi, static_cast<int>(gh), gh, packed);
    rw.rt = packed;
  } else {
    float* zr = NewFloats(pack, kt.packed_floats(hi, 2 * hi));
    kt.pack(rt.data(), hi, 2 * hi, gh, zr);
    float* hh = NewFloats(pack, kt.packed_floats(hi, hi));
    kt.pack(rt.data() + 2 * h, hi, hi, gh, hh);
    rw.rt_zr = zr;
    rw.rt_h = hh;
  }
  float* bx = NewFloats(pack, gh);
  float* brh = NewFloats(pack, h);
  if (l.bias != nullptr) {
    const float* wb = l.bias->konst.floats() + d * 2 * gh;
    const float* rb = wb + gh;
    for (int64_t i = 0; i < gh; ++i) {
      const bool separate = !l.lstm && lbr && i >= 2 * h;
      bx[i] = wb[i] + (separate ? 0.0f : rb[i]);
    }
    if (!l.lstm && lbr) std::copy(rb + 2 * h, rb + 3 * h, brh);
  }
  rw.bias_x = bx;
  rw.bias_rh = brh;
  if (l.peep != nullptr) {
    float* p = NewFloats(pack, 3 * h);
    const float* src = l.peep->konst.floats();
    std::copy(src + d * 3 * h, src + (d + 1) * 3 * h, p);
    rw.peep = p;
  }
  return rw;
}

// Bytes PackDirection allocates for all directions, each allocation with its bookkeeping. W and R
// are initializers of checked size, so nothing here overflows.
int64_t PackedBytes(const RnnLayer& l) {
  const KernelTable& kt = Kernels();
  const int hi = static_cast<int>(l.hidden), gh = static_cast<int>(l.gates * l.hidden);
  int64_t floats = l.input * gh + gh + l.hidden + (l.peep != nullptr ? 3 * l.hidden : 0);
  floats +=
      l.lstm ? kt.packed_floats(hi, gh) : kt.packed_floats(hi, 2 * hi) + kt.packed_floats(hi, hi);
  const int64_t allocations = 5 + (l.peep != nullptr ? 1 : 0);
  return l.num_dirs * (floats * 4 + allocations * kTensorOverhead);
}

// The outputs the node asks for (Y, Y_h, and Y_c for an LSTM), the scratch, and one kernel that
// runs every direction.
Status AddRnnKernel(NodeBuilder& b, const RnnLayer& l, std::shared_ptr<const RnnPack> pack) {
  const bool lstm = l.lstm;
  const int64_t steps = l.steps, batch = l.batch, hidden = l.hidden;
  const int num_dirs = l.num_dirs;
  Ref ry, ryh, ryc;
  const bool want_y = b.wants_output(0), want_yh = b.wants_output(1),
             want_yc = lstm && b.wants_output(2);
  if (!lstm && b.num_outputs() > 2) return b.Error("GRU has at most 2 outputs");
  if (want_y) {
    EDGE_ASSIGN_OR_RETURN(ry, b.Output(0, DType::kFloat, {steps, num_dirs, batch, hidden}));
  }
  if (want_yh) {
    EDGE_ASSIGN_OR_RETURN(ryh, b.Output(1, DType::kFloat, l.state_shape()));
  }
  if (want_yc) {
    EDGE_ASSIGN_OR_RETURN(ryc, b.Output(2, DType::kFloat, l.state_shape()));
  }
  EDGE_ASSIGN_OR_RETURN(
      Ref scratch, b.Scratch(RnnScratchFloats(l.gates, static_cast<int>(steps),
                                              static_cast<int>(batch), static_cast<int>(hidden)) *
                             4));
  const Ref rx = l.x->ref;
  const Ref rh0 = l.h0 != nullptr ? l.h0->ref : Ref();
  const Ref rc0 = l.c0 != nullptr ? l.c0->ref : Ref();
  const bool has_h0 = l.h0 != nullptr, has_c0 = l.c0 != nullptr;
  const bool reverse_only = l.reverse_only;
  const KernelTable* kt = &Kernels();
  b.AddKernel([=](std::byte* arena) {
    const int64_t state = batch * hidden;
    for (int d = 0; d < num_dirs; ++d) {
      RnnCall call;
      call.steps = static_cast<int>(steps);
      call.batch = static_cast<int>(batch);
      call.reverse = reverse_only || d == 1;
      call.x = reinterpret_cast<const float*>(rx.Get(arena));
      if (has_h0) call.h0 = reinterpret_cast<const float*>(rh0.Get(arena)) + d * state;
      if (has_c0) call.c0 = reinterpret_cast<const float*>(rc0.Get(arena)) + d * state;
      if (want_y) {
        call.y = reinterpret_cast<float*>(ry.Get(arena)) + d * state;
        call.y_step_stride = num_dirs * state;
      }
      if (want_yh) call.y_last = reinterpret_cast<float*>(ryh.Get(arena)) + d * state;
      if (want_yc) call.c_last = reinterpret_cast<float*>(ryc.Get(arena)) + d * state;
      call.scratch = reinterpret_cast<float*>(scratch.Get(arena));
      if (lstm) {
        kt->lstm(pack->dirs[d], call);
      } else {
        kt->gru(pack->dirs[d], call);
      }
    }
  });
  return Status::Ok();
}

Status Rnn(NodeBuilder& b, bool lstm) {
  RnnLayer layer;
  layer.lstm = lstm;
  layer.gates = lstm ? 4 : 3;
  EDGE_RETURN_IF_ERROR(CheckRnnAttributes(b, layer));
  EDGE_RETURN_IF_ERROR(CheckRnnInputs(b, layer));
  // Packed weights, shared by the plans of all batch sizes.
  std::shared_ptr<void>& cached = b.cache();
  if (!cached) {
    EDGE_RETURN_IF_ERROR(b.Reserve(PackedBytes(layer), "packed weights"));
    auto pack = std::make_shared<RnnPack>();
    for (int d = 0; d < layer.num_dirs; ++d) pack->dirs.push_back(PackDirection(layer, d, *pack));
    cached = pack;
  }
  return AddRnnKernel(b, layer, std::static_pointer_cast<const RnnPack>(cached));
}

}  // namespace

Status OpGru(NodeBuilder& b) { return Rnn(b, false); }
Status OpLstm(NodeBuilder& b) { return Rnn(b, true); }

}  // namespace edge::inference
