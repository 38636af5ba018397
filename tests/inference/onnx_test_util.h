// Building ONNX graphs by hand in the inference tests.
#pragma once

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

}  // namespace edge::inference
