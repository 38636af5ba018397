// Turns a parsed ONNX graph into a plan for one batch size: the list of kernel calls Model::Run
// makes over one arena, with everything that depends only on constants and shapes computed at
// load.
//
// The planner walks the nodes in file order (ONNX requires a topological order) with the shapes
// the batch size gives. For each node it finds the operator's row (inference/op_registry.h),
// checks the required inputs are there, and calls the builder through a NodeBuilder
// (inference/node_builder.h). A node whose inputs are all constants, or which reads only shapes,
// is folded: its kernels run at once and its outputs become constants. The others' kernels become
// the plan's steps, their outputs regions of the arena (inference/arena_allocator.h), released
// when the value's last reader has been planned so that later nodes reuse them.
//
// Every folded constant, folded scratch and packed weight is reserved in the model's MemoryBudget
// (inference/memory_budget.h) before it is allocated, and the arena after each node (it is only
// allocated once every plan is built, by Model::Load).
//
// Errors are kInvalidArgument load errors naming the node ("node 'n' (Op): ...") or the graph
// output.
//
// Thread-safety: a Planner is used by one thread; planners of different models are independent.
// The NodeCache is shared by the planners of one model, run one after another.
#pragma once

#include <climits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "inference/arena_allocator.h"
#include "inference/memory_budget.h"
#include "inference/model.h"
#include "inference/node_builder.h"
#include "inference/onnx_graph.h"
#include "inference/tensor.h"

namespace edge::inference {

struct OpSpec;

// Declared in inference/model.h: what the planner builds for one batch size, run by Model::Run.
struct Model::Plan {
  int batch = 0;
  std::vector<Kernel> steps;
  Ref input;
  std::vector<Ref> outputs;
  std::vector<std::shared_ptr<AlignedBytes>> keep_alive;  // folded constants referenced by steps
  int64_t arena_bytes = 0;
};

// Per-node state that does not depend on the batch size (packed RNN weights), shared across the
// plans of one model (NodeBuilder::cache).
struct NodeCache {
  std::map<int, std::shared_ptr<void>> by_node;
};

class Planner {
 public:
  // REQUIRES: graph has exactly one input (Model::Load checks it); graph, cache and budget
  // outlive the planner.
  Planner(const OnnxGraph& graph, NodeCache& cache, MemoryBudget& budget, int batch, int window,
          int features)
      : graph_(graph),
        cache_(cache),
        budget_(budget),
        batch_(batch),
        window_(window),
        features_(features) {}

  // The plan for this planner's batch size. Called once.
  [[nodiscard]] StatusOr<std::unique_ptr<Model::Plan>> Build();

  // Shapes of the graph outputs, in graph order, after Build.
  const std::vector<Shape>& output_shapes() const { return output_shapes_; }

 private:
  friend class NodeBuilder;

  // Before the first node: the last reader of each value, the initializers as constants, the
  // graph input as the first arena block.
  [[nodiscard]] Status Prepare();
  // Plans node n: builder run, kernels folded or kept, dead values released.
  [[nodiscard]] Status PlanNode(int n);
  // The operator's row, once the node's domain and required inputs are checked.
  [[nodiscard]] StatusOr<const OpSpec*> FindNodeOp(const OnnxNode& node) const;
  // The node's inputs as planned values (null for an optional input left out).
  [[nodiscard]] StatusOr<std::vector<const Value*>> NodeInputs(const OnnxNode& node) const;
  // After node n's builder: records its outputs and frees the blocks whose last reader it was.
  void FinishNode(int n);
  // After the last node: the graph outputs, checked and added to the plan.
  [[nodiscard]] Status CollectOutputs();

  // --- for NodeBuilder ---
  [[nodiscard]] StatusOr<Ref> NewOutput(const NodeBuilder& b, size_t i, DType dtype,
                                        const Shape& shape);
  [[nodiscard]] Status NewAlias(const NodeBuilder& b, size_t i, const Value& src,
                                const Shape& shape);
  [[nodiscard]] Status NewConstOutput(const NodeBuilder& b, size_t i, const ConstTensor& t);
  [[nodiscard]] Status Reserve(const NodeBuilder& b, int64_t bytes, const std::string& what);
  [[nodiscard]] StatusOr<Ref> NewScratch(const NodeBuilder& b, int64_t bytes);
  void AddKernel(Kernel k) { pending_kernels_.push_back(std::move(k)); }
  std::shared_ptr<void>& cache(int node_index) { return cache_.by_node[node_index]; }

  [[nodiscard]] Status CheckShape(const NodeBuilder& b, const Shape& shape) const;
  void ReleaseValue(const std::string& name);

  const OnnxGraph& graph_;
  NodeCache& cache_;
  MemoryBudget& budget_;
  const int batch_, window_, features_;
  Model::Plan* plan_ = nullptr;
  ArenaAllocator arena_;
  std::map<std::string, int> last_use_;  // value -> index of its last reader (INT_MAX: output)
  std::map<std::string, Value> values_;
  // The node being planned.
  std::vector<Kernel> pending_kernels_;
  std::vector<int> pending_scratch_;
  std::vector<Value> current_outputs_;
  std::vector<bool> output_set_;
  std::vector<Shape> output_shapes_;
};

}  // namespace edge::inference
