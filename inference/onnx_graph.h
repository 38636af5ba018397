// An ONNX model file read into plain structs: the graph's nodes with their attributes, the
// initializers as constant tensors, and the declared graph inputs and outputs.
//
// This is the only unit that touches protobuf (Debian libonnx-dev's onnx_proto classes); nothing
// of protobuf leaks out of onnx_graph.cc. It checks what a file must satisfy to be read at all
// (parses, an ai.onnx opset is imported, tensors are well formed and within size limits, names are
// unique); whether the nodes can be executed is for the planner (inference/model.h) to decide.
//
// Thread-safety: ParseOnnxGraph is reentrant; results are values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "inference/memory_budget.h"
#include "inference/tensor.h"

namespace edge::inference {

struct OnnxAttribute {
  enum class Kind { kFloat, kInt, kString, kTensor, kFloats, kInts, kStrings, kOther };
  Kind kind = Kind::kOther;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::optional<ConstTensor> t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
};

struct OnnxNode {
  std::string name;  // may be empty in the file; then "<op_type> #<index>"
  std::string op_type;
  std::string domain;               // "" for ai.onnx
  std::vector<std::string> inputs;  // "" = optional input left out
  std::vector<std::string> outputs;
  std::map<std::string, OnnxAttribute> attributes;
};

struct OnnxValueInfo {
  std::string name;
  int32_t elem_type = 0;  // onnx TensorProto::DataType; 1 = float
  bool has_shape = false;
  std::vector<int64_t> dims;  // -1 for a symbolic or unknown dimension
};

struct OnnxGraph {
  int64_t opset = 0;  // of the default (ai.onnx) domain
  std::string producer;
  std::vector<OnnxNode> nodes;
  std::map<std::string, ConstTensor> initializers;
  std::vector<OnnxValueInfo> inputs;  // graph inputs that are not initializers
  std::vector<OnnxValueInfo> outputs;
};

// The largest single tensor a file or a plan may declare, whatever the budget (it keeps element
// offsets and the kernels' int sizes in range); what all tensors add up to is the MemoryBudget's.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 26;  // 256 MiB of float32

// "<protobuf version>, onnx <version of the ONNX classes>".
std::string OnnxLibraryVersions();

// Parses the bytes of an .onnx file. Every initializer and tensor attribute is reserved in
// `budget` before its elements are allocated. Errors are kInvalidArgument and say what is wrong
// (the caller prefixes the file name).
StatusOr<OnnxGraph> ParseOnnxGraph(std::string_view bytes, MemoryBudget& budget);

}  // namespace edge::inference
