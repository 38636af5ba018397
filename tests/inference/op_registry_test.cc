// The operator table (inference/op_registry.h): one row per operator, names unique and sorted,
// SupportedOperators() derived from it, every row's required inputs enforced by the planner, and
// the table checked against ONNX's own operator schemas (libonnx), so that it neither names an
// operator ONNX does not define nor refuses a node ONNX calls valid.
#include "inference/op_registry.h"

#include <gtest/gtest.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "inference/model.h"
#include "tests/inference/onnx_test_util.h"

namespace edge::inference {
namespace {

// A model whose only node is `op` with `inputs` (each the graph input), output "y".
std::string OneNodeModel(const std::string& op, int inputs, const std::string& domain = "") {
  onnx::ModelProto proto;
  proto.set_ir_version(8);
  proto.add_opset_import()->set_version(13);
  if (!domain.empty()) {
    auto* custom = proto.add_opset_import();
    custom->set_domain(domain);
    custom->set_version(1);
  }
  onnx::GraphProto& g = *proto.mutable_graph();
  g.set_name("one_node");
  DeclareFloatTensor(g.add_input(), "input", {-1, 4, 2});
  DeclareFloatTensor(g.add_output(), "y", {-1, 4, 2});
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name("n");
  n->set_domain(domain);
  for (int i = 0; i < inputs; ++i) n->add_input("input");
  n->add_output("y");
  std::string bytes;
  EXPECT_TRUE(proto.SerializeToString(&bytes));
  return bytes;
}

StatusOr<std::unique_ptr<Model>> LoadOneNode(const std::string& bytes) {
  return Model::Load(bytes, {.window = 4, .features = 2, .max_batch = 2});
}

TEST(OpRegistry, NamesAreUniqueAndInByteOrder) {
  std::set<std::string_view> seen;
  std::string_view previous;
  for (const OpSpec& row : OpTable()) {
    EXPECT_TRUE(seen.insert(row.name).second) << row.name << " has two rows";
    EXPECT_LT(previous, row.name) << row.name << " is out of order";
    previous = row.name;
  }
  EXPECT_EQ(seen.size(), 43u);
}

TEST(OpRegistry, SupportedOperatorsAreTheTableNamesSorted) {
  std::vector<std::string> names;
  for (const OpSpec& row : OpTable()) names.emplace_back(row.name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(SupportedOperators(), names);
}

TEST(OpRegistry, FindOpGivesTheRowOfAnOperatorAndNullOtherwise) {
  const OpSpec* gru = FindOp("GRU");
  ASSERT_NE(gru, nullptr);
  EXPECT_EQ(gru->name, "GRU");
  EXPECT_EQ(gru->min_inputs, 3);
  const OpSpec* shape = FindOp("Shape");
  ASSERT_NE(shape, nullptr);
  EXPECT_EQ(shape->reads, OpReads::kShapesOnly);
  EXPECT_EQ(FindOp("Dropout")->build, FindOp("Identity")->build);
  for (const OpSpec& row : OpTable()) {
    EXPECT_EQ(FindOp(row.name), &row) << row.name;
    EXPECT_NE(row.build, nullptr) << row.name;
  }
  EXPECT_EQ(FindOp("Gru"), nullptr);  // op_type is case-sensitive
  EXPECT_EQ(FindOp("Frobnicate"), nullptr);
  EXPECT_EQ(FindOp(""), nullptr);
  EXPECT_EQ(FindOp("Zzz"), nullptr);  // past the last row
}

// Every name is an operator of the default domain at the opsets Load accepts. No row requires more
// inputs than ONNX does (a valid model would be refused), nor fewer (the builder would index an
// input that is not there), except Unsqueeze: it also takes its axes from the attribute, as
// opset 11 did, and checks for them itself.
TEST(OpRegistry, RowsAgreeWithTheOnnxSchemas) {
  for (int opset : {13, 17}) {
    std::set<std::string_view> fewer;
    for (const OpSpec& row : OpTable()) {
      const onnx::OpSchema* schema =
          onnx::OpSchemaRegistry::Schema(std::string(row.name), opset, "");
      ASSERT_NE(schema, nullptr) << row.name << " at opset " << opset;
      EXPECT_LE(row.min_inputs, schema->min_input()) << row.name << " at opset " << opset;
      if (row.min_inputs < schema->min_input()) fewer.insert(row.name);
    }
    EXPECT_EQ(fewer, std::set<std::string_view>{"Unsqueeze"}) << "opset " << opset;
  }
}

TEST(OpRegistry, NodeWithoutARequiredInputIsALoadErrorNamingTheInput) {
  int checked = 0;
  for (const OpSpec& row : OpTable()) {
    if (row.min_inputs == 0) continue;
    auto model = LoadOneNode(OneNodeModel(std::string(row.name), row.min_inputs - 1));
    ASSERT_FALSE(model.ok()) << row.name;
    const std::string expect = "node 'n' (" + std::string(row.name) + "): input " +
                               std::to_string(row.min_inputs - 1) + " is required";
    EXPECT_EQ(model.status().message(), expect);
    ++checked;
  }
  EXPECT_EQ(checked, 42);
}

TEST(OpRegistry, OperatorOutsideTheTableIsALoadErrorNamingIt) {
  auto unknown = LoadOneNode(OneNodeModel("Frobnicate", 1));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.status().message(), "node 'n' (Frobnicate): unsupported operator 'Frobnicate'");

  auto other_domain = LoadOneNode(OneNodeModel("Relu", 1, "com.example"));
  ASSERT_FALSE(other_domain.ok());
  EXPECT_NE(other_domain.status().message().find("node 'n' (Relu): operator domain 'com.example' "
                                                 "is not supported"),
            std::string::npos)
      << other_domain.status().message();

  // The same node in the default domain is a row of the table and loads.
  auto relu = LoadOneNode(OneNodeModel("Relu", 1));
  ASSERT_TRUE(relu.ok()) << relu.status().ToString();
  const std::vector<float> input(2 * 4 * 2, -1.0f);
  (*relu)->Run(input.data(), 2);
  EXPECT_EQ((*relu)->output(0)[0], 0.0f);
}

}  // namespace
}  // namespace edge::inference
