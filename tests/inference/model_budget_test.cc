// The model memory budget (inference/memory_budget.h) against hostile ONNX files written by hand:
// folded constants too large alone or together, Expand to huge or overflowing shapes, dims whose
// product overflows, raw_data that disagrees with the dims, millions of empty tensors, folding
// repeated per batch size, an arena above the budget. Each is refused with the node and the sizes,
// and the test process's peak RSS (VmHWM, reset through /proc/self/clear_refs) shows that nothing
// was allocated for it first.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "inference/model.h"
#include "tests/inference/onnx_test_util.h"
#include "tests/support/proc_status.h"

namespace edge::inference {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

// A line of /proc/self/status in bytes ("VmRSS", "VmHWM").
int64_t StatusBytes(const char* key) {
  const int64_t kib = edge::testing::ProcStatusKiB(key);
  if (kib < 0) ADD_FAILURE() << key << " not in /proc/self/status";
  return std::max<int64_t>(kib, 0) * 1024;
}

// Resets VmHWM to the current RSS (Linux >= 4.0), so that it shows the peak of what follows.
// The baseline is VmHWM read just after: VmRSS can lag behind the kernel's count after large
// frees (by 20 MB here after the folding tests), which VmHWM then starts from.
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// input [batch, 4, 2] -> ReduceMean over axes 1, 2 -> score [batch]; the hostile nodes are added
// after it and only need to be planned.
onnx::ModelProto BaseModel() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *m.mutable_graph();
  DeclareFloatTensor(g.add_input(), "input", {-1, 4, 2});
  DeclareFloatTensor(g.add_output(), "score", {-1});
  onnx::NodeProto* mean = AddNode(g, "ReduceMean", "score", {"input"}, {"score"});
  SetInt(mean, "keepdims", 0);
  onnx::AttributeProto* axes = mean->add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(1);
  axes->add_ints(2);
  return m;
}

void AddInts(onnx::GraphProto& g, const std::string& name, const std::vector<int64_t>& values) {
  onnx::TensorProto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
}

// `count` ConstantOfShape nodes c0, c1, ... of `shape` and element type `type` (a TensorProto
// data type), whose outputs nothing reads: only folding them costs memory.
onnx::ModelProto ConstantsOfShape(int count, const std::vector<int64_t>& shape, int type) {
  onnx::ModelProto m = BaseModel();
  onnx::GraphProto& g = *m.mutable_graph();
  AddInts(g, "shape", shape);
  for (int i = 0; i < count; ++i) {
    onnx::NodeProto* n = AddNode(g, "ConstantOfShape", "c" + std::to_string(i), {"shape"},
                                 {"k" + std::to_string(i)});
    onnx::AttributeProto* value = n->add_attribute();
    value->set_name("value");
    value->set_type(onnx::AttributeProto::TENSOR);
    value->mutable_t()->set_data_type(type);
    value->mutable_t()->add_dims(1);
    if (type == onnx::TensorProto::INT64) {
      value->mutable_t()->add_int64_data(7);
    } else {
      value->mutable_t()->add_float_data(7);
    }
  }
  return m;
}

struct Hostile {
  std::string name;
  onnx::ModelProto file;
  LoadOptions options;
  std::vector<std::string> expect;  // substrings of the message
};

// Every case is refused with its reason, and loading it raised the peak RSS by less than
// `max_growth`.
void ExpectRefused(const Hostile& c, int64_t max_growth = 4 * kMiB) {
  const std::string bytes = Bytes(c.file);
  ResetPeakRss();
  const int64_t before = StatusBytes("VmHWM");
  auto model = Model::Load(bytes, c.options);
  const int64_t growth = StatusBytes("VmHWM") - before;
  ASSERT_FALSE(model.ok()) << c.name;
  EXPECT_EQ(model.status().code(), StatusCode::kInvalidArgument) << c.name;
  for (const std::string& e : c.expect) {
    EXPECT_NE(model.status().message().find(e), std::string::npos)
        << c.name << ": '" << e << "' not in: " << model.status().message();
  }
  EXPECT_LT(growth, max_growth) << c.name << " (" << bytes.size() << " bytes of file)";
}

TEST(ModelBudget, FoldedConstantsAboveTheBudgetAreRefusedBeforeTheyAreAllocated) {
  const LoadOptions one{.window = 4, .features = 2, .max_batch = 1};
  // The file: five ConstantOfShape of 305 MiB each, a 1.5 GB load before.
  ExpectRefused({"five of 305 MiB",
                 ConstantsOfShape(5, {40'000'000}, onnx::TensorProto::INT64),
                 one,
                 {"node 'c0' (ConstantOfShape): folded constant int64 [40000000] (305.2 MiB) at "
                  "batch 1 needs 305.2 MiB",
                  "above its memory budget of 256.0 MiB"}});
  // 2^31 elements: above the largest single tensor, whatever the budget.
  ExpectRefused({"2^31 elements",
                 ConstantsOfShape(1, {int64_t{1} << 31}, onnx::TensorProto::FLOAT),
                 {.window = 4, .features = 2, .max_batch = 1, .memory_budget = int64_t{1} << 40},
                 {"node 'c0' (ConstantOfShape): tensor [2147483648] is larger than the limit"}});
  // Each one under the budget, together over it: the third is refused (two are held, 7.6 MiB).
  ExpectRefused({"five of 3.8 MiB in 10 MiB",
                 ConstantsOfShape(5, {1'000'000}, onnx::TensorProto::FLOAT),
                 {.window = 4, .features = 2, .max_batch = 1, .memory_budget = 10 * kMiB},
                 {"node 'c2' (ConstantOfShape): folded constant float [1000000] (3.8 MiB)",
                  "the model would hold 11.4 MiB, above its memory budget of 10.0 MiB"}},
                16 * kMiB);
  // Dims whose product overflows int64, and a negative one.
  ExpectRefused({"overflowing shape",
                 ConstantsOfShape(1, {int64_t{1} << 32, int64_t{1} << 32, int64_t{1} << 32},
                                  onnx::TensorProto::FLOAT),
                 one,
                 {"node 'c0' (ConstantOfShape): tensor [4294967296,4294967296,4294967296] is "
                  "larger than the limit"}});
  ExpectRefused({"negative dim",
                 ConstantsOfShape(1, {4, -3}, onnx::TensorProto::FLOAT),
                 one,
                 {"node 'c0' (ConstantOfShape): negative dimension in [4,-3]"}});
}

TEST(ModelBudget, FoldingForEveryBatchSizeCountsEveryCopy) {
  // 1 MiB folded once per plan: 32 plans would hold 32 MiB.
  ExpectRefused({"per batch size",
                 ConstantsOfShape(1, {262'144}, onnx::TensorProto::FLOAT),
                 {.window = 4, .features = 2, .max_batch = 32, .memory_budget = 10 * kMiB},
                 {"node 'c0' (ConstantOfShape): folded constant float [262144] (1.0 MiB) at "
                  "batch 10 needs 1.0 MiB",
                  "above its memory budget of 10.0 MiB"}},
                24 * kMiB);  // the nine that fit, and ASan's shadow of them
}

// Expand of `from` (an int64 initializer [1] or the graph input) to `target`.
onnx::ModelProto ExpandTo(const std::string& from, const std::vector<int64_t>& target) {
  onnx::ModelProto m = BaseModel();
  onnx::GraphProto& g = *m.mutable_graph();
  AddInts(g, "one", {1});
  AddInts(g, "target", target);
  AddNode(g, "Expand", "grow", {from, "target"}, {"big"});
  return m;
}

TEST(ModelBudget, ExpandToHugeOrOverflowingShapesIsRefused) {
  const LoadOptions one{.window = 4, .features = 2, .max_batch = 1};
  ExpectRefused({"expand 2^40",
                 ExpandTo("one", {int64_t{1} << 20, int64_t{1} << 20}),
                 one,
                 {"node 'grow' (Expand): tensor [1048576,1048576] is larger than the limit"}});
  // The product overflows int64: refused before it is computed (UBSan runs this too).
  ExpectRefused({"expand overflow",
                 ExpandTo("one", {int64_t{1} << 40, int64_t{1} << 40, int64_t{1} << 40}),
                 one,
                 {"node 'grow' (Expand): tensor [1099511627776,1099511627776,1099511627776] is "
                  "larger than the limit"}});
  // A shape list longer than any rank: refused before anything is sized by it.
  ExpectRefused({"expand to rank 100000",
                 ExpandTo("one", std::vector<int64_t>(100'000, 1)),
                 one,
                 {"node 'grow' (Expand): shape has 100000 elements (at most 64)"}});
  // Of the graph input: an arena block, refused as working memory (2 MiB in a 1 MiB budget).
  ExpectRefused({"expand into the arena",
                 ExpandTo("input", {65536, 1, 4, 2}),
                 {.window = 4, .features = 2, .max_batch = 1, .memory_budget = kMiB},
                 {"node 'grow' (Expand): working memory at batch 1 needs 2.0 MiB",
                  "above its memory budget of 1.0 MiB"}});
}

TEST(ModelBudget, InitializersThatDisagreeWithTheirDimsAreRefusedBeforeTheyAreAllocated) {
  const LoadOptions one{.window = 4, .features = 2, .max_batch = 1};
  auto with_initializer = [](const std::vector<int64_t>& dims, const std::string& raw) {
    onnx::ModelProto m = BaseModel();
    onnx::TensorProto* t = m.mutable_graph()->add_initializer();
    t->set_name("w");
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(raw);
    return m;
  };
  // 512 MiB declared, 8 bytes given: nothing allocated (before: 512 MiB zeroed, then refused).
  ExpectRefused({"raw_data short",
                 with_initializer({int64_t{1} << 26}, std::string(8, '\1')),
                 one,
                 {"initializer 'w': tensor [67108864] needs 67108864 elements, the file has 8 "
                  "bytes of raw_data for 536870912"}});
  ExpectRefused({"raw_data long",
                 with_initializer({2}, std::string(24, '\1')),
                 one,
                 {"initializer 'w': tensor [2] needs 2 elements, the file has 24 bytes of "
                  "raw_data for 16"}});
  ExpectRefused({"dims overflow",
                 with_initializer({int64_t{1} << 32, int64_t{1} << 32, int64_t{1} << 32}, ""),
                 one,
                 {"initializer 'w': tensor is larger than the limit"}});
  ExpectRefused({"negative dim",
                 with_initializer({-1}, ""),
                 one,
                 {"initializer 'w': tensor has a negative dimension"}});
  // Within size and consistent, but above the budget: 4 MiB of int64 in 1 MiB.
  ExpectRefused({"initializer above the budget",
                 with_initializer({int64_t{1} << 19}, std::string(int64_t{8} << 19, '\0')),
                 {.window = 4, .features = 2, .max_batch = 1, .memory_budget = kMiB},
                 {"initializer 'w': int64 [524288] needs 4.0 MiB", "budget of 1.0 MiB"}},
                16 * kMiB);  // the file's parse is 4 MiB of it
}

TEST(ModelBudget, ManyEmptyTensorsCountTheirBookkeeping) {
  onnx::ModelProto m = BaseModel();
  for (int i = 0; i < 5000; ++i) {
    onnx::TensorProto* t = m.mutable_graph()->add_initializer();
    t->set_name("e" + std::to_string(i));
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(0);
  }
  ExpectRefused({"5000 empty initializers",
                 m,
                 {.window = 4, .features = 2, .max_batch = 1, .memory_budget = kMiB},
                 {"initializer 'e", ": float [0] needs 256 bytes", "budget of 1.0 MiB"}},
                32 * kMiB);  // the protobuf parse of 5000 tensors (more under ASan)
}

TEST(ModelBudget, ConstantNodesShareTheirValueAcrossBatchSizes) {
  // A Constant of 1 MiB, read by nothing: held once, not once per batch size.
  onnx::ModelProto m = BaseModel();
  onnx::NodeProto* c = AddNode(*m.mutable_graph(), "Constant", "table", {}, {"t"});
  onnx::AttributeProto* value = c->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  value->mutable_t()->add_dims(262'144);
  value->mutable_t()->set_raw_data(std::string(262'144 * 4, '\0'));
  auto one = Model::Load(Bytes(m), {.window = 4, .features = 2, .max_batch = 1});
  auto many = Model::Load(Bytes(m), {.window = 4, .features = 2, .max_batch = 32});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  EXPECT_GE((*one)->memory_bytes(), kMiB);
  EXPECT_LT((*many)->memory_bytes() - (*one)->memory_bytes(), 64 * 1024);
  // And it still scores: the mean of each window.
  std::vector<float> input(2 * 4 * 2);
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i);
  (*many)->Run(input.data(), 2);
  EXPECT_FLOAT_EQ((*many)->output(0)[0], 3.5f);
  EXPECT_FLOAT_EQ((*many)->output(0)[1], 11.5f);
}

}  // namespace
}  // namespace edge::inference
