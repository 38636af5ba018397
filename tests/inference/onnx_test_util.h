// Building ONNX graphs by hand in the inference tests.
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace edge::inference {

// Declares a float32 graph input or output; a negative dimension is the dynamic "batch" axis.
inline void DeclareFloatTensor(onnx::ValueInfoProto* v, const std::string& name,
                               const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (d < 0) {
      dim->set_dim_param("batch");
    } else {
      dim->set_dim_value(d);
    }
  }
}

inline onnx::NodeProto* AddNode(onnx::GraphProto& g, const std::string& op, const std::string& name,
                                std::vector<std::string> in, std::vector<std::string> out) {
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (auto& s : in) n->add_input(s);
  for (auto& s : out) n->add_output(s);
  return n;
}

inline void SetInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

// The file's bytes.
inline std::string Bytes(const onnx::ModelProto& p) {
  std::string s;
  EXPECT_TRUE(p.SerializeToString(&s));
  return s;
}

}  // namespace edge::inference
