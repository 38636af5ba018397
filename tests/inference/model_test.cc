// The ONNX engine (inference/model.h, inference/rnn_kernels.h): the GRU/LSTM kernels against a
// direct transcription of the ONNX operator definitions, the baseline and AVX2 builds of the
// kernels against each other, batched execution against one-window calls, and the load errors
// a user sees for models the engine cannot run. Graphs are built here with the onnx protobuf
// classes; parity with real PyTorch exports is tests/integration/predict_test.cc.
#include "inference/model.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "inference/rnn_kernels.h"
#include "tests/inference/onnx_test_util.h"

namespace edge::inference {
namespace {

std::vector<float> Random(size_t n, uint32_t seed, float scale = 0.5f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

float Sig(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// ONNX GRU, one direction, written from the operator's definition (gates z, r, h).
std::vector<float> ReferenceGru(const std::vector<float>& x, int t_count, int batch, int in, int h,
                                const float* w, const float* r, const float* wb, const float* rb,
                                bool lbr, bool reverse) {
  std::vector<float> y(static_cast<size_t>(t_count) * batch * h), hp(batch * h, 0.0f);
  for (int s = 0; s < t_count; ++s) {
    const int t = reverse ? t_count - 1 - s : s;
    std::vector<float> hn(batch * h);
    for (int b = 0; b < batch; ++b) {
      const float* xt = &x[(static_cast<size_t>(t) * batch + b) * in];
      const float* hb = &hp[b * h];
      auto dot_x = [&](int row) {
        double acc = 0;
        for (int i = 0; i < in; ++i) acc += w[row * in + i] * xt[i];
        return static_cast<float>(acc);
      };
      auto dot_h = [&](int row, const float* v) {
        double acc = 0;
        for (int i = 0; i < h; ++i) acc += r[row * h + i] * v[i];
        return static_cast<float>(acc);
      };
      std::vector<float> z(h), rr(h), rh(h);
      for (int j = 0; j < h; ++j) {
        z[j] = Sig(dot_x(j) + dot_h(j, hb) + wb[j] + rb[j]);
        rr[j] = Sig(dot_x(h + j) + dot_h(h + j, hb) + wb[h + j] + rb[h + j]);
        rh[j] = rr[j] * hb[j];
      }
      for (int j = 0; j < h; ++j) {
        const float pre =
            lbr ? dot_x(2 * h + j) + rr[j] * (dot_h(2 * h + j, hb) + rb[2 * h + j]) + wb[2 * h + j]
                : dot_x(2 * h + j) + dot_h(2 * h + j, rh.data()) + rb[2 * h + j] + wb[2 * h + j];
        const float n = std::tanh(pre);
        hn[b * h + j] = (1 - z[j]) * n + z[j] * hb[j];
      }
    }
    hp = hn;
    std::copy(hn.begin(), hn.end(), y.begin() + static_cast<size_t>(t) * batch * h);
  }
  return y;
}

// ONNX LSTM, one direction, gates i, o, f, c, with peepholes (i, o, f).
std::vector<float> ReferenceLstm(const std::vector<float>& x, int t_count, int batch, int in, int h,
                                 const float* w, const float* r, const float* wb, const float* rb,
                                 const float* p) {
  std::vector<float> y(static_cast<size_t>(t_count) * batch * h), hp(batch * h, 0.0f),
      cp(batch * h, 0.0f);
  for (int t = 0; t < t_count; ++t) {
    std::vector<float> hn(batch * h), cn(batch * h);
    for (int b = 0; b < batch; ++b) {
      const float* xt = &x[(static_cast<size_t>(t) * batch + b) * in];
      auto pre = [&](int row) {
        double acc = wb[row] + rb[row];
        for (int i = 0; i < in; ++i) acc += w[row * in + i] * xt[i];
        for (int i = 0; i < h; ++i) acc += r[row * h + i] * hp[b * h + i];
        return static_cast<float>(acc);
      };
      for (int j = 0; j < h; ++j) {
        const float c_prev = cp[b * h + j];
        const float i = Sig(pre(j) + p[j] * c_prev);
        const float f = Sig(pre(2 * h + j) + p[2 * h + j] * c_prev);
        const float c = f * c_prev + i * std::tanh(pre(3 * h + j));
        const float o = Sig(pre(h + j) + p[h + j] * c);
        cn[b * h + j] = c;
        hn[b * h + j] = o * std::tanh(c);
      }
    }
    hp = hn;
    cp = cn;
    std::copy(hn.begin(), hn.end(), y.begin() + static_cast<size_t>(t) * batch * h);
  }
  return y;
}

// --- building ONNX graphs ---

void AddTensor(onnx::GraphProto& g, const std::string& name, const std::vector<int64_t>& dims,
               const std::vector<float>& values) {
  onnx::TensorProto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  for (float v : values) t->add_float_data(v);
}

void SetInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void SetString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// input [batch, T, F] -> Transpose -> GRU (H, direction) -> Y [T, dirs, B, H] -> Gather(T-1)
// -> Reshape [B, dirs*H] -> Gemm -> score [B, 1]. The shape of a typical torch export.
struct GruModel {
  int window = 6, features = 3, hidden = 5;
  std::string direction = "forward";
  int lbr = 1;
  onnx::ModelProto proto;
  onnx::NodeProto* gru = nullptr;
};

GruModel MakeGruModel(int window, int features, int hidden, const std::string& direction, int lbr) {
  GruModel m;
  m.window = window;
  m.features = features;
  m.hidden = hidden;
  m.direction = direction;
  m.lbr = lbr;
  const int dirs = direction == "bidirectional" ? 2 : 1;
  m.proto.set_ir_version(8);
  m.proto.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *m.proto.mutable_graph();
  DeclareFloatTensor(g.add_input(), "input", {-1, window, features});
  DeclareFloatTensor(g.add_output(), "score", {-1, 1});
  AddTensor(g, "W", {dirs, 3 * hidden, features}, Random(dirs * 3 * hidden * features, 1));
  AddTensor(g, "R", {dirs, 3 * hidden, hidden}, Random(dirs * 3 * hidden * hidden, 2));
  AddTensor(g, "B", {dirs, 6 * hidden}, Random(dirs * 6 * hidden, 3));
  AddTensor(g, "head_w", {1, dirs * hidden}, Random(dirs * hidden, 4));
  AddTensor(g, "head_b", {1}, {0.1f});
  onnx::TensorProto* last = g.add_initializer();
  last->set_name("last");
  last->set_data_type(onnx::TensorProto::INT64);
  last->add_int64_data(window - 1);
  onnx::TensorProto* shape = g.add_initializer();
  shape->set_name("flat");
  shape->set_data_type(onnx::TensorProto::INT64);
  shape->add_dims(2);
  shape->add_int64_data(0);
  shape->add_int64_data(-1);
  SetInts(AddNode(g, "Transpose", "to_time_major", {"input"}, {"x_t"}), "perm", {1, 0, 2});
  m.gru = AddNode(g, "GRU", "gru", {"x_t", "W", "R", "B"}, {"y", "y_h"});
  SetInt(m.gru, "hidden_size", hidden);
  SetInt(m.gru, "linear_before_reset", lbr);
  SetString(m.gru, "direction", direction);
  SetInt(AddNode(g, "Gather", "last_step", {"y", "last"}, {"y_last"}), "axis", 0);
  SetInts(AddNode(g, "Transpose", "batch_major", {"y_last"}, {"y_bd"}), "perm", {1, 0, 2});
  AddNode(g, "Reshape", "flatten", {"y_bd", "flat"}, {"feat"});
  SetInt(AddNode(g, "Gemm", "head", {"feat", "head_w", "head_b"}, {"score"}), "transB", 1);
  return m;
}

void ExpectNear(const std::vector<float>& want, const float* got, const std::string& what) {
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-5f + 1e-4f * std::fabs(want[i])) << what << " at " << i;
  }
}

// ---- kernels ----

struct KernelCase {
  bool lstm;
  bool lbr;
  bool reverse;
  int batch;
  int hidden;
};

void RunKernelCase(const KernelTable& kt, const KernelCase& c) {
  const int t_count = 7, in = 5, h = c.hidden, gates = c.lstm ? 4 : 3, gh = gates * h;
  const std::vector<float> w = Random(gh * in, 11), r = Random(gh * h, 12), wb = Random(gh, 13),
                           rb = Random(gh, 14), p = Random(3 * h, 15);
  const std::vector<float> x = Random(static_cast<size_t>(t_count) * c.batch * in, 16, 2.0f);
  // Pack as inference/ops_rnn.cc (PackDirection) does.
  std::vector<float> wt(in * gh), rt_plain(h * gh), bx(gh), brh(h);
  for (int g = 0; g < gh; ++g)
    for (int i = 0; i < in; ++i) wt[i * gh + g] = w[g * in + i];
  for (int g = 0; g < gh; ++g)
    for (int i = 0; i < h; ++i) rt_plain[i * gh + g] = r[g * h + i];
  std::vector<float> rt(kt.packed_floats(h, gh)), rzr(kt.packed_floats(h, 2 * h)),
      rh(kt.packed_floats(h, h));
  kt.pack(rt_plain.data(), h, gh, gh, rt.data());
  kt.pack(rt_plain.data(), h, 2 * h, gh, rzr.data());
  kt.pack(rt_plain.data() + 2 * h, h, h, gh, rh.data());
  for (int g = 0; g < gh; ++g) {
    const bool separate = !c.lstm && c.lbr && g >= 2 * h;
    bx[g] = wb[g] + (separate ? 0.0f : rb[g]);
  }
  for (int j = 0; j < h; ++j) brh[j] = c.lstm || !c.lbr ? 0.0f : rb[2 * h + j];
  RnnWeights rw;
  rw.input_size = in;
  rw.hidden = h;
  rw.wt = wt.data();
  rw.rt = rt.data();
  rw.rt_zr = rzr.data();
  rw.rt_h = rh.data();
  rw.bias_x = bx.data();
  rw.bias_rh = brh.data();
  rw.peep = c.lstm ? p.data() : nullptr;
  rw.linear_before_reset = c.lbr;
  std::vector<float> y(static_cast<size_t>(t_count) * c.batch * h), last(c.batch * h),
      scratch(RnnScratchFloats(gates, t_count, c.batch, h));
  RnnCall call;
  call.steps = t_count;
  call.batch = c.batch;
  call.reverse = c.reverse;
  call.x = x.data();
  call.y = y.data();
  call.y_step_stride = int64_t{c.batch} * h;
  call.y_last = last.data();
  call.scratch = scratch.data();
  if (c.lstm) {
    kt.lstm(rw, call);
  } else {
    kt.gru(rw, call);
  }
  const std::vector<float> want = c.lstm
                                      ? ReferenceLstm(x, t_count, c.batch, in, h, w.data(),
                                                      r.data(), wb.data(), rb.data(), p.data())
                                      : ReferenceGru(x, t_count, c.batch, in, h, w.data(), r.data(),
                                                     wb.data(), rb.data(), c.lbr, c.reverse);
  const std::string what = std::string(kt.name) + (c.lstm ? " LSTM" : " GRU") +
                           (c.lbr ? " lbr1" : " lbr0") + (c.reverse ? " reverse" : "") + " batch " +
                           std::to_string(c.batch) + " hidden " + std::to_string(h);
  ExpectNear(want, y.data(), what + " Y");
  const int final_t = c.reverse ? 0 : t_count - 1;
  ExpectNear(std::vector<float>(want.begin() + static_cast<ptrdiff_t>(final_t) * c.batch * h,
                                want.begin() + static_cast<ptrdiff_t>(final_t + 1) * c.batch * h),
             last.data(), what + " Y_h");
}

std::vector<KernelCase> AllCases() {
  std::vector<KernelCase> cases;
  // Hidden sizes for the AVX2 panels of 16 columns, walked four at a time for a single row: 15
  // (an LSTM's 60 columns are one group of four whose last panel is partial), 19 (a group and a
  // partial panel alone), 40 (groups and panels alone, full and partial). Seven steps: both
  // directions of the walk, and more than one step of each.
  for (int hidden : {15, 19, 40}) {
    for (int batch : {1, 4, 6}) {
      cases.push_back({false, true, false, batch, hidden});
      cases.push_back({false, false, false, batch, hidden});
      cases.push_back({false, true, true, batch, hidden});
      cases.push_back({true, false, false, batch, hidden});
    }
  }
  return cases;
}

TEST(RnnKernels, BaselineMatchesTheOnnxDefinitions) {
  for (const KernelCase& c : AllCases()) RunKernelCase(baseline::kKernels, c);
}

TEST(RnnKernels, Avx2MatchesTheOnnxDefinitions) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    GTEST_SKIP() << "this CPU has no AVX2+FMA; the AVX2 kernels cannot run here";
  }
  for (const KernelCase& c : AllCases()) RunKernelCase(avx2::kKernels, c);
  EXPECT_STREQ(Kernels().name, "avx2+fma") << "dispatch should pick AVX2 on this CPU";
}

// ---- the planner and executor ----

TEST(Model, BidirectionalGruGraphMatchesTheReference) {
  for (int lbr : {0, 1}) {
    GruModel m = MakeGruModel(6, 3, 5, "bidirectional", lbr);
    auto model = Model::Load(Bytes(m.proto), {.window = 6, .features = 3, .max_batch = 4});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    const int batch = 3;
    const std::vector<float> input = Random(batch * 6 * 3, 21, 1.5f);
    (*model)->Run(input.data(), batch);
    // Reference: time-major x, both directions, last time step, linear head.
    std::vector<float> x(6 * batch * 3);
    for (int b = 0; b < batch; ++b)
      for (int t = 0; t < 6; ++t)
        for (int f = 0; f < 3; ++f) x[(t * batch + b) * 3 + f] = input[(b * 6 + t) * 3 + f];
    const std::vector<float> w = Random(2 * 15 * 3, 1), r = Random(2 * 15 * 5, 2),
                             bias = Random(2 * 30, 3), head = Random(10, 4);
    const auto fwd = ReferenceGru(x, 6, batch, 3, 5, w.data(), r.data(), bias.data(),
                                  bias.data() + 15, lbr == 1, false);
    const auto bwd = ReferenceGru(x, 6, batch, 3, 5, w.data() + 45, r.data() + 75, bias.data() + 30,
                                  bias.data() + 45, lbr == 1, true);
    std::vector<float> want(batch);
    for (int b = 0; b < batch; ++b) {
      double s = 0.1;
      for (int j = 0; j < 5; ++j) {
        s += head[j] * fwd[(5 * batch + b) * 5 + j];
        s += head[5 + j] * bwd[(5 * batch + b) * 5 + j];
      }
      want[b] = static_cast<float>(s);
    }
    ExpectNear(want, (*model)->output(0), "lbr " + std::to_string(lbr));
  }
}

TEST(Model, BatchedCallGivesTheSameScoresAsOneWindowAtATime) {
  GruModel m = MakeGruModel(8, 4, 16, "forward", 1);
  auto model = Model::Load(Bytes(m.proto), {.window = 8, .features = 4, .max_batch = 16});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->max_batch(), 16);
  ASSERT_EQ((*model)->outputs().size(), 1u);
  EXPECT_EQ((*model)->outputs()[0].sample_size, 1);
  const int batch = 11;
  const std::vector<float> input = Random(batch * 8 * 4, 31, 2.0f);
  (*model)->Run(input.data(), batch);
  const std::vector<float> batched((*model)->output(0), (*model)->output(0) + batch);
  for (int b = 0; b < batch; ++b) {
    (*model)->Run(input.data() + b * 8 * 4, 1);
    EXPECT_NEAR((*model)->output(0)[0], batched[b], 1e-5f + 1e-5f * std::fabs(batched[b]))
        << "window " << b;
  }
}

struct LoadError {
  std::string name;
  std::function<void(GruModel&)> change;
  std::string expect;  // substring of the message
};

TEST(Model, LoadErrorsNameTheNodeAndTheFault) {
  const std::vector<LoadError> cases = {
      {"unknown op",
       [](GruModel& m) { m.proto.mutable_graph()->mutable_node(2)->set_op_type("Frobnicate"); },
       "node 'last_step' (Frobnicate): unsupported operator 'Frobnicate'"},
      {"clip",
       [](GruModel& m) {
         auto* a = m.gru->add_attribute();
         a->set_name("clip");
         a->set_type(onnx::AttributeProto::FLOAT);
         a->set_f(3.0f);
       },
       "node 'gru' (GRU): attribute clip is not supported"},
      {"layout", [](GruModel& m) { SetInt(m.gru, "layout", 1); }, "node 'gru' (GRU): layout=1"},
      {"activations",
       [](GruModel& m) {
         auto* a = m.gru->add_attribute();
         a->set_name("activations");
         a->set_type(onnx::AttributeProto::STRINGS);
         a->add_strings("Relu");
         a->add_strings("Tanh");
       },
       "node 'gru' (GRU): activations [Relu,Tanh] are not supported"},
      {"hidden_size",
       [](GruModel& m) {
         m.gru->clear_attribute();
         SetInt(m.gru, "hidden_size", 7);
       },
       "node 'gru' (GRU): hidden_size 7 disagrees with W"},
      {"shape",
       [](GruModel& m) {
         auto* t = m.proto.mutable_graph()->mutable_initializer(3);  // head_w [1, 5]
         t->clear_dims();
         t->add_dims(5);
         t->add_dims(1);
       },
       "node 'head' (Gemm): shapes [1,5] and [5,1] (transposed) do not multiply"},
      {"missing input",
       [](GruModel& m) { m.proto.mutable_graph()->mutable_node(1)->set_input(0, "nowhere"); },
       "node 'gru' (GRU): input 'nowhere' is not produced"},
      {"opset", [](GruModel& m) { m.proto.mutable_opset_import(0)->set_version(9); },
       "opset 9 is not supported"},
  };
  for (const LoadError& c : cases) {
    GruModel m = MakeGruModel(6, 3, 5, "forward", 1);
    c.change(m);
    auto model = Model::Load(Bytes(m.proto), {.window = 6, .features = 3, .max_batch = 2});
    ASSERT_FALSE(model.ok()) << c.name;
    EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(model.status().message().find(c.expect), std::string::npos)
        << c.name << ": " << model.status().message();
  }
}

TEST(Model, WindowOrFeaturesDisagreeingWithTheInputShapeIsRefused) {
  GruModel m = MakeGruModel(6, 3, 5, "forward", 1);
  auto window = Model::Load(Bytes(m.proto), {.window = 7, .features = 3, .max_batch = 1});
  ASSERT_FALSE(window.ok());
  EXPECT_NE(window.status().message().find("window 7 disagrees with the model's input shape "
                                           "[?,6,3]"),
            std::string::npos)
      << window.status().message();
  auto features = Model::Load(Bytes(m.proto), {.window = 6, .features = 4, .max_batch = 1});
  ASSERT_FALSE(features.ok());
  EXPECT_NE(features.status().message().find("4 features disagree"), std::string::npos)
      << features.status().message();
}

TEST(Model, TruncatedAndCorruptFilesAreRefused) {
  GruModel m = MakeGruModel(6, 3, 5, "forward", 1);
  const std::string bytes = Bytes(m.proto);
  int refused = 0;
  for (size_t len : {size_t{0}, size_t{1}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 3}) {
    auto model = Model::Load(bytes.substr(0, len), {.window = 6, .features = 3, .max_batch = 1});
    EXPECT_FALSE(model.ok()) << "truncated to " << len;
    if (!model.ok()) ++refused;
  }
  EXPECT_EQ(refused, 5);
  auto garbage = Model::Load(std::string(200, '\xff'), {.window = 6, .features = 3});
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("not a valid ONNX model"), std::string::npos)
      << garbage.status().message();
}

TEST(Model, ShapeSubgraphIsFoldedAndNothingButKernelsRuns) {
  // A torch-style initial state: Shape -> Gather(0) -> Unsqueeze -> Concat -> ConstantOfShape,
  // all folded at load; the result feeds GRU initial_h.
  GruModel m = MakeGruModel(5, 2, 4, "forward", 1);
  onnx::GraphProto& g = *m.proto.mutable_graph();
  onnx::TensorProto* zero = g.add_initializer();
  zero->set_name("zero");
  zero->set_data_type(onnx::TensorProto::INT64);
  zero->add_int64_data(0);
  onnx::TensorProto* axes = g.add_initializer();
  axes->set_name("axes0");
  axes->set_data_type(onnx::TensorProto::INT64);
  axes->add_dims(1);
  axes->add_int64_data(0);
  onnx::TensorProto* one = g.add_initializer();
  one->set_name("one");
  one->set_data_type(onnx::TensorProto::INT64);
  one->add_dims(1);
  one->add_int64_data(1);
  onnx::TensorProto* four = g.add_initializer();
  four->set_name("four");
  four->set_data_type(onnx::TensorProto::INT64);
  four->add_dims(1);
  four->add_int64_data(4);
  // Put the shape nodes first.
  onnx::GraphProto reordered = g;
  reordered.clear_node();
  AddNode(reordered, "Shape", "shape", {"input"}, {"s"});
  SetInt(AddNode(reordered, "Gather", "batch_dim", {"s", "zero"}, {"bsz"}), "axis", 0);
  AddNode(reordered, "Unsqueeze", "unsq", {"bsz", "axes0"}, {"bsz1"});
  SetInt(AddNode(reordered, "Concat", "cat", {"one", "bsz1", "four"}, {"h_shape"}), "axis", 0);
  AddNode(reordered, "ConstantOfShape", "h0", {"h_shape"}, {"h_init"});
  for (const auto& n : g.node()) *reordered.add_node() = n;
  for (auto& n : *reordered.mutable_node()) {
    if (n.op_type() == "GRU") {
      n.add_input("");
      n.add_input("h_init");
    }
  }
  *m.proto.mutable_graph() = reordered;
  auto model = Model::Load(Bytes(m.proto), {.window = 5, .features = 2, .max_batch = 3});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<float> input = Random(3 * 5 * 2, 41);
  (*model)->Run(input.data(), 3);
  GruModel plain = MakeGruModel(5, 2, 4, "forward", 1);
  auto reference = Model::Load(Bytes(plain.proto), {.window = 5, .features = 2, .max_batch = 3});
  ASSERT_TRUE(reference.ok());
  (*reference)->Run(input.data(), 3);
  for (int b = 0; b < 3; ++b) EXPECT_FLOAT_EQ((*model)->output(0)[b], (*reference)->output(0)[b]);
}

TEST(Model, MemoryBytesIsExactlyTheBudgetTheModelNeeds) {
  // What the model reports it holds is what the budget counted: a budget of exactly that loads,
  // one byte less is refused (inference/memory_budget.h; hostile files in model_budget_test.cc).
  GruModel m = MakeGruModel(6, 3, 5, "bidirectional", 1);
  auto model = Model::Load(Bytes(m.proto), {.window = 6, .features = 3, .max_batch = 4});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const int64_t held = (*model)->memory_bytes();
  EXPECT_EQ((*model)->memory_budget(), kDefaultModelMemoryBudget);
  EXPECT_GT(held, (*model)->arena_bytes());
  EXPECT_LT(held, 64 * 1024);
  auto exact = Model::Load(Bytes(m.proto),
                           {.window = 6, .features = 3, .max_batch = 4, .memory_budget = held});
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  EXPECT_EQ((*exact)->memory_bytes(), held);
  auto less = Model::Load(Bytes(m.proto),
                          {.window = 6, .features = 3, .max_batch = 4, .memory_budget = held - 1});
  ASSERT_FALSE(less.ok());
  EXPECT_NE(less.status().message().find("above its memory budget of"), std::string::npos)
      << less.status().message();
}

TEST(Model, SupportedOperatorsCoverWhatTorchExportsForRnnStacks) {
  const std::vector<std::string>& ops = SupportedOperators();
  for (const char* op : {"GRU",       "LSTM",      "Gemm",    "MatMul",     "Add",
                         "Sub",       "Mul",       "Div",     "Sigmoid",    "Tanh",
                         "Relu",      "Abs",       "Pow",     "ReduceMean", "ReduceSum",
                         "ReduceMax", "Transpose", "Squeeze", "Unsqueeze",  "Slice",
                         "Gather",    "Shape",     "Concat",  "Constant",   "ConstantOfShape",
                         "Reshape",   "Expand",    "Equal",   "Where"}) {
    EXPECT_NE(std::find(ops.begin(), ops.end(), op), ops.end()) << op;
  }
}

}  // namespace
}  // namespace edge::inference
