#include "inference/graph_planner.h"

#include <set>
#include <utility>

#include "inference/op_registry.h"
#include "inference/tensor_walk.h"

namespace edge::inference {
namespace {

// A constant as a planned value: its storage, shared.
Value ConstValue(const ConstTensor& t) {
  Value v;
  v.dtype = t.dtype;
  v.shape = t.shape;
  v.is_const = true;
  v.konst = t;
  v.ref.cdata = t.mutable_bytes();
  return v;
}

}  // namespace

StatusOr<std::unique_ptr<Model::Plan>> Planner::Build() {
  auto plan = std::make_unique<Model::Plan>();
  plan_ = plan.get();
  plan->batch = batch_;
  EDGE_RETURN_IF_ERROR(Prepare());
  for (size_t n = 0; n < graph_.nodes.size(); ++n) {
    EDGE_RETURN_IF_ERROR(PlanNode(static_cast<int>(n)));
  }
  EDGE_RETURN_IF_ERROR(CollectOutputs());
  plan->arena_bytes = arena_.end();
  return plan;
}

Status Planner::Prepare() {
  // Last reader of each value; graph outputs are read after the last node.
  for (size_t n = 0; n < graph_.nodes.size(); ++n) {
    for (const std::string& in : graph_.nodes[n].inputs) {
      if (!in.empty()) last_use_[in] = static_cast<int>(n);
    }
  }
  for (const OnnxValueInfo& out : graph_.outputs) last_use_[out.name] = INT_MAX;

  for (const auto& [name, t] : graph_.initializers) values_[name] = ConstValue(t);
  const OnnxValueInfo& in = graph_.inputs[0];
  Value v;
  v.dtype = DType::kFloat;
  v.shape = {batch_, window_, features_};
  v.block = arena_.Allocate(int64_t{batch_} * window_ * features_ * 4);
  v.ref.offset = arena_.offset(v.block);
  plan_->input = v.ref;
  const std::string what = "input '" + in.name + "' " + TensorText(v.dtype, v.shape);
  values_[in.name] = std::move(v);
  return budget_.ReserveArena(arena_.end(), what);
}

StatusOr<const OpSpec*> Planner::FindNodeOp(const OnnxNode& node) const {
  const std::string where = NodeLabel(node);
  if (!node.domain.empty()) {
    return Status::InvalidArgument(where + ": operator domain '" + node.domain +
                                   "' is not supported (only the default ai.onnx domain)");
  }
  const OpSpec* op = FindOp(node.op_type);
  if (op == nullptr) {
    return Status::InvalidArgument(where + ": unsupported operator '" + node.op_type + "'");
  }
  for (int i = 0; i < op->min_inputs; ++i) {
    if (static_cast<int>(node.inputs.size()) <= i || node.inputs[i].empty()) {
      return Status::InvalidArgument(where + ": input " + std::to_string(i) + " is required");
    }
  }
  return op;
}

StatusOr<std::vector<const Value*>> Planner::NodeInputs(const OnnxNode& node) const {
  std::vector<const Value*> inputs;
  for (const std::string& in : node.inputs) {
    if (in.empty()) {
      inputs.push_back(nullptr);
      continue;
    }
    auto it = values_.find(in);
    if (it == values_.end()) {
      return Status::InvalidArgument(NodeLabel(node) + ": input '" + in +
                                     "' is not produced by any earlier node, initializer "
                                     "or graph input");
    }
    inputs.push_back(&it->second);
  }
  return inputs;
}

Status Planner::PlanNode(int n) {
  const OnnxNode& node = graph_.nodes[static_cast<size_t>(n)];
  EDGE_ASSIGN_OR_RETURN(const OpSpec* op, FindNodeOp(node));
  EDGE_ASSIGN_OR_RETURN(std::vector<const Value*> inputs, NodeInputs(node));
  bool all_const = true;
  for (const Value* v : inputs) all_const = all_const && (v == nullptr || v->is_const);
  const bool fold = all_const || op->reads == OpReads::kShapesOnly;
  pending_kernels_.clear();
  pending_scratch_.clear();
  current_outputs_.assign(node.outputs.size(), Value());
  output_set_.assign(node.outputs.size(), false);
  NodeBuilder builder(*this, node, n, std::move(inputs), fold);
  EDGE_RETURN_IF_ERROR(op->build(builder));
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (!node.outputs[i].empty() && !output_set_[i]) {
      return Status::InvalidArgument(NodeLabel(node) + ": output " + std::to_string(i) +
                                     " is not produced by this engine's " + node.op_type);
    }
  }
  if (fold) {
    for (Kernel& k : pending_kernels_) k(nullptr);
  } else {
    for (Kernel& k : pending_kernels_) plan_->steps.push_back(std::move(k));
  }
  FinishNode(n);
  // The arena is allocated after planning; what this node added to it is checked now, so that
  // the node is named.
  return budget_.ReserveArena(
      arena_.end(), NodeLabel(node) + ": working memory at batch " + std::to_string(batch_));
}

void Planner::FinishNode(int n) {
  const OnnxNode& node = graph_.nodes[static_cast<size_t>(n)];
  for (int block : pending_scratch_) arena_.Release(block);
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (node.outputs[i].empty()) continue;
    Value& v = current_outputs_[i];
    if (v.is_const) plan_->keep_alive.push_back(v.konst.storage);
    const bool unused = last_use_.count(node.outputs[i]) == 0;
    values_[node.outputs[i]] = std::move(v);
    if (unused) ReleaseValue(node.outputs[i]);
  }
  // Free the arena blocks whose last reader this node was.
  std::set<std::string> seen;
  for (const std::string& in : node.inputs) {
    if (in.empty() || !seen.insert(in).second) continue;
    auto lu = last_use_.find(in);
    if (lu != last_use_.end() && lu->second == n) ReleaseValue(in);
  }
}

Status Planner::CollectOutputs() {
  for (const OnnxValueInfo& out : graph_.outputs) {
    auto it = values_.find(out.name);
    if (it == values_.end()) {
      return Status::InvalidArgument("graph output '" + out.name + "' is not produced by any node");
    }
    const Value& v = it->second;
    if (v.dtype != DType::kFloat) {
      return Status::InvalidArgument("graph output '" + out.name + "' is " + DTypeName(v.dtype) +
                                     ", not float");
    }
    if (v.shape.empty() || v.shape[0] != batch_) {
      return Status::InvalidArgument(
          "graph output '" + out.name + "' has shape " + ShapeToString(v.shape) + " at batch " +
          std::to_string(batch_) + "; expected the batch size as its first dimension");
    }
    if (v.is_const) plan_->keep_alive.push_back(v.konst.storage);
    plan_->outputs.push_back(v.ref);
    output_shapes_.push_back(v.shape);
  }
  return Status::Ok();
}

StatusOr<Ref> Planner::NewOutput(const NodeBuilder& b, size_t i, DType dtype, const Shape& shape) {
  EDGE_RETURN_IF_ERROR(CheckShape(b, shape));
  if (i >= current_outputs_.size()) return b.Error("too few outputs declared");
  Value v;
  v.dtype = dtype;
  v.shape = shape;
  if (b.folding()) {
    EDGE_RETURN_IF_ERROR(budget_.Reserve(*TensorBytes(dtype, shape) + kTensorOverhead,
                                         NodeLabel(b.node()) + ": folded constant " +
                                             TensorText(dtype, shape) + " at batch " +
                                             std::to_string(batch_)));
    v.is_const = true;
    v.konst = MakeConstTensor(dtype, shape);
    v.ref.cdata = v.konst.mutable_bytes();
  } else {
    v.block = arena_.Allocate(NumElements(shape) * static_cast<int64_t>(ElementSize(dtype)));
    v.ref.offset = arena_.offset(v.block);
  }
  Ref r = v.ref;
  current_outputs_[i] = std::move(v);
  output_set_[i] = true;
  return r;
}

Status Planner::NewAlias(const NodeBuilder& b, size_t i, const Value& src, const Shape& shape) {
  EDGE_RETURN_IF_ERROR(CheckShape(b, shape));
  if (NumElements(shape) != NumElements(src.shape)) {
    return b.Error("cannot view " + ShapeToString(src.shape) + " as " + ShapeToString(shape));
  }
  if (i >= current_outputs_.size()) return b.Error("too few outputs declared");
  Value v = src;
  v.shape = shape;
  if (!v.is_const) arena_.AddRef(v.block);
  current_outputs_[i] = std::move(v);
  output_set_[i] = true;
  return Status::Ok();
}

Status Planner::NewConstOutput(const NodeBuilder& b, size_t i, const ConstTensor& t) {
  EDGE_RETURN_IF_ERROR(CheckShape(b, t.shape));
  if (i >= current_outputs_.size()) return b.Error("too few outputs declared");
  current_outputs_[i] = ConstValue(t);
  output_set_[i] = true;
  return Status::Ok();
}

Status Planner::Reserve(const NodeBuilder& b, int64_t bytes, const std::string& what) {
  return budget_.Reserve(bytes, NodeLabel(b.node()) + ": " + what);
}

StatusOr<Ref> Planner::NewScratch(const NodeBuilder& b, int64_t bytes) {
  if (bytes < 0 || bytes > budget_.limit()) {
    return b.Error("scratch of " + std::to_string(bytes) + " bytes is above the memory budget of " +
                   BytesText(budget_.limit()));
  }
  Ref r;
  if (b.folding()) {
    EDGE_RETURN_IF_ERROR(
        budget_.Reserve(bytes + kTensorOverhead, NodeLabel(b.node()) + ": folded scratch"));
    auto storage = std::make_shared<AlignedBytes>(AllocateAligned(static_cast<size_t>(bytes)));
    r.cdata = storage->data.get();
    plan_->keep_alive.push_back(storage);
  } else {
    const int block = arena_.Allocate(bytes);
    pending_scratch_.push_back(block);
    r.offset = arena_.offset(block);
  }
  return r;
}

Status Planner::CheckShape(const NodeBuilder& b, const Shape& shape) const {
  if (shape.size() > static_cast<size_t>(kMaxRank)) {
    return b.Error("rank " + std::to_string(shape.size()) + " is above the limit of " +
                   std::to_string(kMaxRank));
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return b.Error("negative dimension in " + ShapeToString(shape));
    if (d > 0 && n > kMaxTensorElements / d) {
      return b.Error("tensor " + ShapeToString(shape) + " is larger than the limit");
    }
    n *= d;
  }
  return Status::Ok();
}

void Planner::ReleaseValue(const std::string& name) {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.is_const || it->second.block < 0) return;
  arena_.Release(it->second.block);
  it->second.block = -2;  // released: a second release is a planner bug
}

}  // namespace edge::inference
