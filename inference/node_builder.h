// What an operator implementation (inference/ops_*.cc) sees of the node it builds: its inputs as
// planned values, its attributes, and calls to declare its outputs and add the kernel that
// computes them. The planner (inference/graph_planner.h) makes one NodeBuilder per node per batch
// size and calls the operator's builder (inference/op_registry.h) with it.
//
// A builder checks what it needs (shapes, types, constant inputs, attribute values) and returns a
// load error naming the node (Error()) for anything its kernel does not implement; then it
// declares each output, with Output() for new elements or Alias() for a view of an input, and adds
// one or more kernels. When every input is a constant (folding()), the kernels run once at load
// and the outputs become constants; otherwise they are steps of the plan, run by Model::Run over
// the arena. Either way a kernel must find everything through the Refs it captured: a Ref is
// valid in both cases.
//
// Thread-safety: used by one planner thread; kernels run on the thread that calls Model::Run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "inference/onnx_graph.h"
#include "inference/tensor.h"

namespace edge::inference {

// Where a value's elements are: a constant's storage, or an offset into the arena.
struct Ref {
  std::byte* cdata = nullptr;
  int64_t offset = -1;
  std::byte* Get(std::byte* arena) const { return cdata != nullptr ? cdata : arena + offset; }
};

// A value of the graph as planned for one batch size.
struct Value {
  DType dtype = DType::kFloat;
  Shape shape;
  bool is_const = false;
  ConstTensor konst;  // when is_const
  Ref ref;
  int block = -1;  // arena block when not const
};

// One step of a plan. `arena` is null when the step runs at load to fold constants.
using Kernel = std::function<void(std::byte* arena)>;

class Planner;

// The longest shape, axes or starts list NodeBuilder::ConstInts accepts (a rank is at most
// kMaxRank; the rest of the margin is for lists with a repeated or out-of-range entry, refused
// with a more precise message by the builder).
inline constexpr int64_t kMaxConstInts = 64;
// "node 'name' (OpType)": how load errors name a node.
std::string NodeLabel(const OnnxNode& node);

class NodeBuilder {
 public:
  NodeBuilder(Planner& planner, const OnnxNode& node, int node_index,
              std::vector<const Value*> inputs, bool fold)
      : planner_(planner),
        node_(node),
        node_index_(node_index),
        inputs_(std::move(inputs)),
        fold_(fold) {}

  const OnnxNode& node() const { return node_; }
  int node_index() const { return node_index_; }
  bool folding() const { return fold_; }

  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // REQUIRES: has_input(i) (the registry's min_inputs guarantees the first ones).
  const Value& in(size_t i) const { return *inputs_[i]; }
  size_t num_outputs() const { return node_.outputs.size(); }
  bool wants_output(size_t i) const {
    return i < node_.outputs.size() && !node_.outputs[i].empty();
  }

  // A load error naming the node: "node 'n' (Op): what".
  Status Error(const std::string& what) const;

  // Allocates output i (const storage when folding, else an arena block).
  [[nodiscard]] StatusOr<Ref> Output(size_t i, DType dtype, const Shape& shape);
  // Output i shares input j's elements with a new shape (same element count).
  [[nodiscard]] Status Alias(size_t i, size_t j, const Shape& shape);
  // Output i is the constant t itself, shared, not copied (a Constant node's value). t's bytes
  // must have been reserved in the model's budget already (ParseOnnxGraph does it for attributes).
  [[nodiscard]] Status ConstOutput(size_t i, const ConstTensor& t);
  // Refused shapes: negative, rank above kMaxRank, more than kMaxTensorElements elements. For a
  // builder that computes with a shape before declaring it as an output.
  [[nodiscard]] Status CheckShape(const Shape& shape) const;
  // Counts bytes the node keeps outside the arena and the constants (packed weights) in the
  // model's budget, before they are allocated; `what` names them in the error.
  [[nodiscard]] Status Reserve(int64_t bytes, const std::string& what);
  // Temporary bytes for this node's kernel only.
  [[nodiscard]] StatusOr<Ref> Scratch(int64_t bytes);
  void AddKernel(Kernel k);
  // Per-node state shared by the plans of every batch size (e.g. packed RNN weights): null on the
  // first plan, whatever the builder stored there on the next ones.
  std::shared_ptr<void>& cache();

  // Attributes; the default when absent or of another kind.
  const OnnxAttribute* Attr(const std::string& name) const;
  int64_t AttrInt(const std::string& name, int64_t def) const;
  float AttrFloat(const std::string& name, float def) const;
  std::string AttrString(const std::string& name, const std::string& def) const;
  std::optional<std::vector<int64_t>> AttrInts(const std::string& name) const;

  // A constant int64 input as a vector (axes, shapes, starts, repeats) of at most kMaxConstInts
  // elements; `what` names it in errors.
  [[nodiscard]] StatusOr<std::vector<int64_t>> ConstInts(size_t i, const std::string& what) const;
  // Axes from input `input` when given, else from the "axes" attribute, else none; *given says
  // whether either was (opset 13 moved axes from the attribute to an input for some operators).
  [[nodiscard]] StatusOr<std::vector<int64_t>> AxesInputOrAttr(size_t input, bool* given) const;

 private:
  Planner& planner_;
  const OnnxNode& node_;
  int node_index_;
  std::vector<const Value*> inputs_;
  bool fold_;
};

}  // namespace edge::inference
