#include "inference/model.h"

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <utility>

#include "inference/onnx_graph.h"
#include "inference/rnn_kernels.h"

namespace edge::inference {
namespace {

constexpr int kMaxRank = 8;
constexpr int64_t kMaxArenaBytes = int64_t{1} << 30;
constexpr int64_t kMinOpset = 13;
constexpr int64_t kMaxOpset = 17;

// Where a value's elements are: a constant's storage, or an offset into the arena.
struct Ref {
  std::byte* cdata = nullptr;
  int64_t offset = -1;
  std::byte* Get(std::byte* arena) const { return cdata != nullptr ? cdata : arena + offset; }
};

struct Value {
  DType dtype = DType::kFloat;
  Shape shape;
  bool is_const = false;
  ConstTensor konst;  // when is_const
  Ref ref;
  int block = -1;  // arena block when not const
};

using Kernel = std::function<void(std::byte* arena)>;

// First-fit allocator of arena regions, sizes in 64-byte units, with reference-counted blocks
// (aliases such as Reshape outputs share their input's block).
class ArenaAllocator {
 public:
  int Allocate(int64_t bytes) {
    const int64_t size = std::max<int64_t>(64, (bytes + 63) / 64 * 64);
    int64_t offset = -1;
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second >= size) {
        offset = it->first;
        const int64_t rest = it->second - size;
        const int64_t rest_at = it->first + size;
        free_.erase(it);
        if (rest > 0) free_[rest_at] = rest;
        break;
      }
    }
    if (offset < 0) {
      offset = end_;
      end_ += size;
    }
    blocks_.push_back({offset, size, 1});
    return static_cast<int>(blocks_.size()) - 1;
  }
  void AddRef(int block) { ++blocks_[block].refs; }
  void Release(int block) {
    Block& b = blocks_[block];
    if (--b.refs > 0) return;
    auto [it, inserted] = free_.emplace(b.offset, b.size);
    EDGE_CHECK(inserted);
    auto next = std::next(it);
    if (next != free_.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_.erase(it);
      }
    }
  }
  int64_t offset(int block) const { return blocks_[block].offset; }
  int64_t end() const { return end_; }

 private:
  struct Block {
    int64_t offset, size;
    int refs;
  };
  std::vector<Block> blocks_;
  std::map<int64_t, int64_t> free_;  // offset -> size
  int64_t end_ = 0;
};

// Shared across the plans of one model: per-node state that does not depend on the batch size
// (packed RNN weights).
struct NodeCache {
  std::map<int, std::shared_ptr<void>> by_node;
};

}  // namespace

struct Model::Plan {
  int batch = 0;
  std::vector<Kernel> steps;
  Ref input;
  std::vector<Ref> outputs;
  std::vector<std::shared_ptr<AlignedBytes>> keep_alive;  // folded constants referenced by steps
  int64_t arena_bytes = 0;
};

namespace {

class Planner;

// What an operator implementation sees of the node it builds.
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
  const Value& in(size_t i) const { return *inputs_[i]; }
  size_t num_outputs() const { return node_.outputs.size(); }
  bool wants_output(size_t i) const {
    return i < node_.outputs.size() && !node_.outputs[i].empty();
  }

  Status Error(const std::string& what) const {
    return Status::InvalidArgument("node '" + node_.name + "' (" + node_.op_type + "): " + what);
  }

  // Allocates output i (const storage when folding, else an arena block).
  StatusOr<Ref> Output(size_t i, DType dtype, const Shape& shape);
  // Output i shares input j's elements with a new shape (same element count).
  Status Alias(size_t i, size_t j, const Shape& shape);
  // Temporary bytes for this node's kernel only.
  StatusOr<Ref> Scratch(int64_t bytes);
  void AddKernel(Kernel k);
  std::shared_ptr<void>& cache();

  // Attributes.
  const OnnxAttribute* Attr(const std::string& name) const {
    auto it = node_.attributes.find(name);
    return it == node_.attributes.end() ? nullptr : &it->second;
  }
  int64_t AttrInt(const std::string& name, int64_t def) const {
    const OnnxAttribute* a = Attr(name);
    return a != nullptr && a->kind == OnnxAttribute::Kind::kInt ? a->i : def;
  }
  float AttrFloat(const std::string& name, float def) const {
    const OnnxAttribute* a = Attr(name);
    return a != nullptr && a->kind == OnnxAttribute::Kind::kFloat ? a->f : def;
  }
  std::string AttrString(const std::string& name, const std::string& def) const {
    const OnnxAttribute* a = Attr(name);
    return a != nullptr && a->kind == OnnxAttribute::Kind::kString ? a->s : def;
  }
  std::optional<std::vector<int64_t>> AttrInts(const std::string& name) const {
    const OnnxAttribute* a = Attr(name);
    if (a == nullptr || a->kind != OnnxAttribute::Kind::kInts) return std::nullopt;
    return a->ints;
  }

  // A constant int64 input as a vector (axes, shapes, indices).
  StatusOr<std::vector<int64_t>> ConstInts(size_t i, const std::string& what) const {
    if (!has_input(i)) return Error(what + " input is missing");
    const Value& v = in(i);
    if (!v.is_const) return Error(what + " must be a constant (computed from shapes only)");
    if (v.dtype != DType::kInt64) return Error(what + " must be int64");
    if (v.shape.size() > 1) return Error(what + " must be a scalar or a 1-D tensor");
    const int64_t n = NumElements(v.shape);
    return std::vector<int64_t>(v.konst.ints(), v.konst.ints() + n);
  }

 private:
  Planner& planner_;
  const OnnxNode& node_;
  int node_index_;
  std::vector<const Value*> inputs_;
  bool fold_;
};

using OpBuilder = Status (*)(NodeBuilder&);

const std::map<std::string, OpBuilder>& OpTable();

// Inputs an operator cannot do without (the builders index them unchecked).
int RequiredInputs(const std::string& op) {
  static const auto* counts = new std::map<std::string, int>{
      {"Constant", 0}, {"Add", 2},     {"Sub", 2},    {"Mul", 2},     {"Div", 2},
      {"Pow", 2},      {"Equal", 2},   {"Less", 2},   {"Greater", 2}, {"Where", 3},
      {"Gather", 2},   {"Reshape", 2}, {"Expand", 2}, {"Tile", 2},    {"Slice", 3},
      {"Gemm", 2},     {"MatMul", 2},  {"GRU", 3},    {"LSTM", 3},
  };
  auto it = counts->find(op);
  return it == counts->end() ? 1 : it->second;
}

class Planner {
 public:
  Planner(const OnnxGraph& graph, NodeCache& cache, int batch, int window, int features)
      : graph_(graph), cache_(cache), batch_(batch), window_(window), features_(features) {}

  StatusOr<std::unique_ptr<Model::Plan>> Build() {
    auto plan = std::make_unique<Model::Plan>();
    plan_ = plan.get();
    plan->batch = batch_;
    // Last reader of each value; graph outputs are read after the last node.
    std::map<std::string, int> last_use;
    for (size_t n = 0; n < graph_.nodes.size(); ++n) {
      for (const std::string& in : graph_.nodes[n].inputs) {
        if (!in.empty()) last_use[in] = static_cast<int>(n);
      }
    }
    for (const OnnxValueInfo& out : graph_.outputs) last_use[out.name] = INT_MAX;

    for (const auto& [name, t] : graph_.initializers) {
      Value v;
      v.dtype = t.dtype;
      v.shape = t.shape;
      v.is_const = true;
      v.konst = t;
      v.ref.cdata = t.mutable_bytes();
      values_[name] = std::move(v);
    }
    {
      const OnnxValueInfo& in = graph_.inputs[0];
      Value v;
      v.dtype = DType::kFloat;
      v.shape = {batch_, window_, features_};
      v.block = arena_.Allocate(int64_t{batch_} * window_ * features_ * 4);
      v.ref.offset = arena_.offset(v.block);
      plan->input = v.ref;
      values_[in.name] = std::move(v);
    }

    for (size_t n = 0; n < graph_.nodes.size(); ++n) {
      const OnnxNode& node = graph_.nodes[n];
      const std::string where = "node '" + node.name + "' (" + node.op_type + ")";
      if (!node.domain.empty()) {
        return Status::InvalidArgument(where + ": operator domain '" + node.domain +
                                       "' is not supported (only the default ai.onnx domain)");
      }
      auto op = OpTable().find(node.op_type);
      if (op == OpTable().end()) {
        return Status::InvalidArgument(where + ": unsupported operator '" + node.op_type + "'");
      }
      const int required = RequiredInputs(node.op_type);
      for (int i = 0; i < required; ++i) {
        if (static_cast<int>(node.inputs.size()) <= i || node.inputs[i].empty()) {
          return Status::InvalidArgument(where + ": input " + std::to_string(i) + " is required");
        }
      }
      std::vector<const Value*> inputs;
      bool all_const = true;
      for (const std::string& in : node.inputs) {
        if (in.empty()) {
          inputs.push_back(nullptr);
          continue;
        }
        auto it = values_.find(in);
        if (it == values_.end()) {
          return Status::InvalidArgument(where + ": input '" + in +
                                         "' is not produced by any earlier node, initializer "
                                         "or graph input");
        }
        inputs.push_back(&it->second);
        all_const = all_const && it->second.is_const;
      }
      // Shape only reads its input's (known) shape: always a constant.
      const bool fold = all_const || node.op_type == "Shape";
      pending_kernels_.clear();
      pending_scratch_.clear();
      current_outputs_.assign(node.outputs.size(), Value());
      output_set_.assign(node.outputs.size(), false);
      NodeBuilder builder(*this, node, static_cast<int>(n), std::move(inputs), fold);
      EDGE_RETURN_IF_ERROR(op->second(builder));
      for (size_t i = 0; i < node.outputs.size(); ++i) {
        if (!node.outputs[i].empty() && !output_set_[i]) {
          return Status::InvalidArgument(where + ": output " + std::to_string(i) +
                                         " is not produced by this engine's " + node.op_type);
        }
      }
      if (fold) {
        for (Kernel& k : pending_kernels_) k(nullptr);
      } else {
        for (Kernel& k : pending_kernels_) plan->steps.push_back(std::move(k));
      }
      for (int block : pending_scratch_) arena_.Release(block);
      for (size_t i = 0; i < node.outputs.size(); ++i) {
        if (node.outputs[i].empty()) continue;
        Value& v = current_outputs_[i];
        if (v.is_const) plan->keep_alive.push_back(v.konst.storage);
        const bool unused = last_use.count(node.outputs[i]) == 0;
        values_[node.outputs[i]] = std::move(v);
        if (unused) ReleaseValue(node.outputs[i]);
      }
      // Free the arena blocks whose last reader this node was.
      std::set<std::string> seen;
      for (const std::string& in : node.inputs) {
        if (in.empty() || !seen.insert(in).second) continue;
        auto lu = last_use.find(in);
        if (lu != last_use.end() && lu->second == static_cast<int>(n)) ReleaseValue(in);
      }
      if (arena_.end() > kMaxArenaBytes) {
        return Status::InvalidArgument(where + ": the model needs more than " +
                                       std::to_string(kMaxArenaBytes >> 20) +
                                       " MiB of working memory at batch " + std::to_string(batch_));
      }
    }

    for (const OnnxValueInfo& out : graph_.outputs) {
      auto it = values_.find(out.name);
      if (it == values_.end()) {
        return Status::InvalidArgument("graph output '" + out.name +
                                       "' is not produced by any node");
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
      if (v.is_const) plan->keep_alive.push_back(v.konst.storage);
      plan->outputs.push_back(v.ref);
      output_shapes_.push_back(v.shape);
    }
    plan->arena_bytes = arena_.end();
    return plan;
  }

  const std::vector<Shape>& output_shapes() const { return output_shapes_; }

  // --- used by NodeBuilder ---

  StatusOr<Ref> NewOutput(const NodeBuilder& b, size_t i, DType dtype, const Shape& shape) {
    EDGE_RETURN_IF_ERROR(CheckShape(b, shape));
    if (i >= current_outputs_.size()) return b.Error("too few outputs declared");
    Value v;
    v.dtype = dtype;
    v.shape = shape;
    if (b.folding()) {
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

  Status NewAlias(const NodeBuilder& b, size_t i, const Value& src, const Shape& shape) {
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

  StatusOr<Ref> NewScratch(const NodeBuilder& b, int64_t bytes) {
    if (bytes < 0 || bytes > kMaxArenaBytes) return b.Error("scratch too large");
    Ref r;
    if (b.folding()) {
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

  void AddKernel(Kernel k) { pending_kernels_.push_back(std::move(k)); }
  std::shared_ptr<void>& cache(int node_index) { return cache_.by_node[node_index]; }

 private:
  Status CheckShape(const NodeBuilder& b, const Shape& shape) {
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

  void ReleaseValue(const std::string& name) {
    auto it = values_.find(name);
    if (it == values_.end() || it->second.is_const || it->second.block < 0) return;
    arena_.Release(it->second.block);
    it->second.block = -2;  // released: a second release is a planner bug
  }

  const OnnxGraph& graph_;
  NodeCache& cache_;
  int batch_, window_, features_;
  Model::Plan* plan_ = nullptr;
  ArenaAllocator arena_;
  std::map<std::string, Value> values_;
  std::vector<Kernel> pending_kernels_;
  std::vector<int> pending_scratch_;
  std::vector<Value> current_outputs_;
  std::vector<bool> output_set_;
  std::vector<Shape> output_shapes_;
};

StatusOr<Ref> NodeBuilder::Output(size_t i, DType dtype, const Shape& shape) {
  return planner_.NewOutput(*this, i, dtype, shape);
}
Status NodeBuilder::Alias(size_t i, size_t j, const Shape& shape) {
  return planner_.NewAlias(*this, i, in(j), shape);
}
StatusOr<Ref> NodeBuilder::Scratch(int64_t bytes) { return planner_.NewScratch(*this, bytes); }
void NodeBuilder::AddKernel(Kernel k) { planner_.AddKernel(std::move(k)); }
std::shared_ptr<void>& NodeBuilder::cache() { return planner_.cache(node_index_); }

// ---------------------------------------------------------------------------------------------
// Helpers for operator implementations.

Shape Strides(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

// Normalises a possibly negative axis against `rank`; false if out of range.
bool NormalizeAxis(int64_t& axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return false;
  if (axis < 0) axis += rank;
  return true;
}

// An N-d walk over `dims` (row-major), with one stride vector per operand. The innermost
// dimension is handed to the callback as a run: f(offsets, count, inner_strides).
template <int K>
struct Walk {
  std::vector<int64_t> dims;
  std::array<std::vector<int64_t>, K> strides;

  template <typename F>
  void Run(F&& f) const {
    const int nd = static_cast<int>(dims.size());
    std::array<int64_t, K> off{};
    std::array<int64_t, K> inner{};
    if (nd == 0) {
      f(off, int64_t{1}, inner);
      return;
    }
    for (int k = 0; k < K; ++k) inner[k] = strides[k][nd - 1];
    const int64_t count = dims[nd - 1];
    for (int64_t d : dims) {
      if (d == 0) return;
    }
    std::array<int64_t, kMaxRank> idx{};
    while (true) {
      f(off, count, inner);
      int d = nd - 2;
      for (; d >= 0; --d) {
        ++idx[d];
        for (int k = 0; k < K; ++k) off[k] += strides[k][d];
        if (idx[d] < dims[d]) break;
        for (int k = 0; k < K; ++k) off[k] -= strides[k][d] * dims[d];
        idx[d] = 0;
      }
      if (d < 0) return;
    }
  }
};

// Numpy broadcasting of two shapes.
bool BroadcastShapes(const Shape& a, const Shape& b, Shape& out) {
  const size_t n = std::max(a.size(), b.size());
  out.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    out[i] = da == 1 ? db : da;
  }
  return true;
}

// Strides (in elements) of `in` broadcast to `out` (0 along broadcast dimensions).
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  std::vector<int64_t> s(out.size(), 0);
  const Shape st = Strides(in);
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) s[lead + i] = in[i] == 1 ? 0 : st[i];
  return s;
}

// Copies elements of size `esize` from src (strided) to dst (contiguous, in walk order).
void StridedCopy(const Walk<2>& w, size_t esize, const std::byte* src, std::byte* dst) {
  w.Run([&](const std::array<int64_t, 2>& off, int64_t count, const std::array<int64_t, 2>& inner) {
    std::byte* d = dst + off[0] * static_cast<int64_t>(esize);
    const std::byte* s = src + off[1] * static_cast<int64_t>(esize);
    if (inner[1] == 1) {
      std::memcpy(d, s, static_cast<size_t>(count) * esize);
      return;
    }
    const int64_t step = inner[1] * static_cast<int64_t>(esize);
    for (int64_t j = 0; j < count; ++j)
      std::memcpy(d + j * static_cast<int64_t>(esize), s + j * step, esize);
  });
}

// ---------------------------------------------------------------------------------------------
// Operators.

Status OpConstant(NodeBuilder& b) {
  ConstTensor t;
  if (const OnnxAttribute* a = b.Attr("value"); a != nullptr && a->t.has_value()) {
    t = *a->t;
  } else if (const OnnxAttribute* vf = b.Attr("value_float"); vf != nullptr) {
    t = MakeConstTensor(DType::kFloat, {});
    *reinterpret_cast<float*>(t.mutable_bytes()) = vf->f;
  } else if (const OnnxAttribute* vi = b.Attr("value_int"); vi != nullptr) {
    t = MakeConstTensor(DType::kInt64, {});
    *reinterpret_cast<int64_t*>(t.mutable_bytes()) = vi->i;
  } else if (const OnnxAttribute* vfs = b.Attr("value_floats"); vfs != nullptr) {
    t = MakeConstTensor(DType::kFloat, {static_cast<int64_t>(vfs->floats.size())});
    std::copy(vfs->floats.begin(), vfs->floats.end(), reinterpret_cast<float*>(t.mutable_bytes()));
  } else if (const OnnxAttribute* vis = b.Attr("value_ints"); vis != nullptr) {
    t = MakeConstTensor(DType::kInt64, {static_cast<int64_t>(vis->ints.size())});
    std::copy(vis->ints.begin(), vis->ints.end(), reinterpret_cast<int64_t*>(t.mutable_bytes()));
  } else {
    return b.Error("no supported value attribute (value, value_float(s), value_int(s))");
  }
  EDGE_ASSIGN_OR_RETURN(Ref out, b.Output(0, t.dtype, t.shape));
  const size_t bytes = static_cast<size_t>(NumElements(t.shape)) * ElementSize(t.dtype);
  b.AddKernel(
      [out, t, bytes](std::byte* arena) { std::memcpy(out.Get(arena), t.mutable_bytes(), bytes); });
  return Status::Ok();
}

Status OpShape(NodeBuilder& b) {
  const Shape& s = b.in(0).shape;
  const int64_t rank = static_cast<int64_t>(s.size());
  int64_t start = b.AttrInt("start", 0), end = b.AttrInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  const int64_t n = std::max<int64_t>(0, end - start);
  EDGE_ASSIGN_OR_RETURN(Ref out, b.Output(0, DType::kInt64, {n}));
  Shape dims(s.begin() + start, s.begin() + start + n);
  b.AddKernel(
      [out, dims](std::byte* arena) { std::memcpy(out.Get(arena), dims.data(), dims.size() * 8); });
  return Status::Ok();
}

Status OpConstantOfShape(NodeBuilder& b) {
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> shape, b.ConstInts(0, "shape"));
  DType dtype = DType::kFloat;
  std::array<std::byte, 8> value{};
  if (const OnnxAttribute* a = b.Attr("value"); a != nullptr && a->t.has_value()) {
    if (NumElements(a->t->shape) != 1) return b.Error("value must have one element");
    dtype = a->t->dtype;
    std::memcpy(value.data(), a->t->mutable_bytes(), ElementSize(dtype));
  }
  EDGE_ASSIGN_OR_RETURN(Ref out, b.Output(0, dtype, shape));
  const int64_t n = NumElements(shape);
  const size_t es = ElementSize(dtype);
  b.AddKernel([out, n, es, value](std::byte* arena) {
    std::byte* p = out.Get(arena);
    for (int64_t i = 0; i < n; ++i) std::memcpy(p + i * static_cast<int64_t>(es), value.data(), es);
  });
  return Status::Ok();
}

Status OpIdentity(NodeBuilder& b) { return b.Alias(0, 0, b.in(0).shape); }

Status OpReshape(NodeBuilder& b) {
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> spec, b.ConstInts(1, "shape"));
  const Shape& in = b.in(0).shape;
  const bool allowzero = b.AttrInt("allowzero", 0) != 0;
  Shape out(spec.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1) {
      if (infer >= 0) return b.Error("more than one -1 in the target shape");
      infer = static_cast<int>(i);
      continue;
    }
    if (spec[i] == 0 && !allowzero) {
      if (i >= in.size()) return b.Error("0 in the target shape beyond the input's rank");
      out[i] = in[i];
    } else if (spec[i] < 0 || spec[i] > kMaxTensorElements) {
      return b.Error("dimension " + std::to_string(spec[i]) + " in the target shape is not usable");
    } else {
      out[i] = spec[i];
    }
    if (out[i] > 0 && known > kMaxTensorElements / out[i]) return b.Error("target shape too large");
    known *= out[i];
  }
  const int64_t total = NumElements(in);
  if (infer >= 0) {
    if (known == 0 || total % known != 0) {
      return b.Error("cannot reshape " + ShapeToString(in) + " with " +
                     ShapeToString(Shape(spec.begin(), spec.end())));
    }
    out[infer] = total / known;
  }
  if (NumElements(out) != total) {
    return b.Error("cannot reshape " + ShapeToString(in) + " to " + ShapeToString(out));
  }
  return b.Alias(0, 0, out);
}

Status OpFlatten(NodeBuilder& b) {
  const Shape& in = b.in(0).shape;
  int64_t axis = b.AttrInt("axis", 1);
  if (axis < 0) axis += static_cast<int64_t>(in.size());
  if (axis < 0 || axis > static_cast<int64_t>(in.size())) return b.Error("axis out of range");
  int64_t outer = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= in[i];
  return b.Alias(0, 0, {outer, NumElements(in) / std::max<int64_t>(outer, 1)});
}

StatusOr<std::vector<int64_t>> AxesFromInputOrAttr(NodeBuilder& b, size_t input, bool& given) {
  given = false;
  if (b.has_input(input)) {
    given = true;
    return b.ConstInts(input, "axes");
  }
  if (auto a = b.AttrInts("axes"); a.has_value()) {
    given = true;
    return *a;
  }
  return std::vector<int64_t>{};
}

Status OpSqueeze(NodeBuilder& b) {
  bool given;
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesFromInputOrAttr(b, 1, given));
  const Shape& in = b.in(0).shape;
  std::vector<bool> drop(in.size(), false);
  if (!given) {
    for (size_t i = 0; i < in.size(); ++i) drop[i] = in[i] == 1;
  }
  for (int64_t a : axes) {
    if (!NormalizeAxis(a, static_cast<int64_t>(in.size()))) return b.Error("axis out of range");
    if (in[a] != 1) {
      return b.Error("cannot squeeze axis " + std::to_string(a) + " of " + ShapeToString(in));
    }
    drop[a] = true;
  }
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!drop[i]) out.push_back(in[i]);
  }
  return b.Alias(0, 0, out);
}

Status OpUnsqueeze(NodeBuilder& b) {
  bool given;
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesFromInputOrAttr(b, 1, given));
  if (!given) return b.Error("axes are required");
  const Shape& in = b.in(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size() + axes.size());
  std::vector<bool> ins(rank, false);
  for (int64_t a : axes) {
    if (!NormalizeAxis(a, rank) || ins[a]) return b.Error("axes out of range or repeated");
    ins[a] = true;
  }
  Shape out;
  size_t j = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(ins[i] ? 1 : in[j++]);
  return b.Alias(0, 0, out);
}

Status OpTranspose(NodeBuilder& b) {
  const Value& in = b.in(0);
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  std::vector<int64_t> perm;
  if (auto p = b.AttrInts("perm"); p.has_value()) {
    perm = *p;
  } else {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  if (static_cast<int64_t>(perm.size()) != rank) return b.Error("perm does not match the rank");
  std::vector<bool> seen(rank, false);
  Shape out(rank);
  for (int64_t i = 0; i < rank; ++i) {
    if (perm[i] < 0 || perm[i] >= rank || seen[perm[i]])
      return b.Error("perm is not a permutation");
    seen[perm[i]] = true;
    out[i] = in.shape[perm[i]];
  }
  // Moving only dimensions of size 1 does not reorder memory.
  std::vector<int64_t> moved_in, moved_out;
  for (int64_t i = 0; i < rank; ++i) {
    if (in.shape[i] != 1) moved_in.push_back(i);
    if (out[i] != 1) moved_out.push_back(perm[i]);
  }
  if (moved_in == moved_out) return b.Alias(0, 0, out);
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, in.dtype, out));
  Walk<2> w;
  w.dims = out;
  w.strides[0] = Strides(out);
  const Shape in_st = Strides(in.shape);
  for (int64_t i = 0; i < rank; ++i) w.strides[1].push_back(in_st[perm[i]]);
  const Ref src = in.ref;
  const size_t es = ElementSize(in.dtype);
  b.AddKernel(
      [w, src, o, es](std::byte* arena) { StridedCopy(w, es, src.Get(arena), o.Get(arena)); });
  return Status::Ok();
}

Status OpGather(NodeBuilder& b) {
  const Value& data = b.in(0);
  const Value& idx = b.in(1);
  int64_t axis = b.AttrInt("axis", 0);
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  if (!NormalizeAxis(axis, rank)) return b.Error("axis out of range");
  if (idx.dtype != DType::kInt64) return b.Error("indices must be int64");
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  const int64_t dim = data.shape[axis];
  if (idx.is_const) {
    for (int64_t i = 0; i < NumElements(idx.shape); ++i) {
      const int64_t v = idx.konst.ints()[i];
      if (v < -dim || v >= dim) {
        return b.Error("index " + std::to_string(v) + " out of range for axis of size " +
                       std::to_string(dim));
      }
    }
  }
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= data.shape[i];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= data.shape[i];
  const int64_t n_idx = NumElements(idx.shape);
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, data.dtype, out));
  const Ref src = data.ref, ir = idx.ref;
  const int64_t es = static_cast<int64_t>(ElementSize(data.dtype));
  b.AddKernel([=](std::byte* arena) {
    const std::byte* s = src.Get(arena);
    const int64_t* ix = reinterpret_cast<const int64_t*>(ir.Get(arena));
    std::byte* d = o.Get(arena);
    for (int64_t a = 0; a < outer; ++a) {
      for (int64_t j = 0; j < n_idx; ++j) {
        int64_t k = ix[j] < 0 ? ix[j] + dim : ix[j];
        k = std::clamp<int64_t>(k, 0, dim - 1);  // runtime indices: stay in bounds
        std::memcpy(d + (a * n_idx + j) * inner * es, s + (a * dim + k) * inner * es,
                    static_cast<size_t>(inner * es));
      }
    }
  });
  return Status::Ok();
}

Status OpConcat(NodeBuilder& b) {
  if (b.num_inputs() == 0 || !b.has_input(0)) return b.Error("no inputs");
  const Value& first = b.in(0);
  int64_t axis = b.AttrInt("axis", 0);
  const int64_t rank = static_cast<int64_t>(first.shape.size());
  if (!NormalizeAxis(axis, rank)) return b.Error("axis out of range");
  Shape out = first.shape;
  out[axis] = 0;
  std::vector<std::pair<Ref, int64_t>> parts;  // ref, inner block size (elements)
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= first.shape[i];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= first.shape[i];
  for (size_t i = 0; i < b.num_inputs(); ++i) {
    if (!b.has_input(i)) return b.Error("empty input name");
    const Value& v = b.in(i);
    if (v.dtype != first.dtype || v.shape.size() != first.shape.size()) {
      return b.Error("inputs differ in type or rank");
    }
    for (int64_t d = 0; d < rank; ++d) {
      if (d != axis && v.shape[d] != first.shape[d]) {
        return b.Error("input shapes " + ShapeToString(first.shape) + " and " +
                       ShapeToString(v.shape) + " differ outside axis " + std::to_string(axis));
      }
    }
    out[axis] += v.shape[axis];
    parts.emplace_back(v.ref, v.shape[axis] * inner);
  }
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, first.dtype, out));
  const int64_t es = static_cast<int64_t>(ElementSize(first.dtype));
  const int64_t row = out[axis] * inner;
  b.AddKernel([=](std::byte* arena) {
    std::byte* d = o.Get(arena);
    int64_t at = 0;
    for (const auto& [ref, block] : parts) {
      const std::byte* s = ref.Get(arena);
      for (int64_t a = 0; a < outer; ++a) {
        std::memcpy(d + (a * row + at) * es, s + a * block * es, static_cast<size_t>(block * es));
      }
      at += block;
    }
  });
  return Status::Ok();
}

Status OpSlice(NodeBuilder& b) {
  const Value& data = b.in(0);
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> starts, b.ConstInts(1, "starts"));
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> ends, b.ConstInts(2, "ends"));
  std::vector<int64_t> axes, steps;
  if (b.has_input(3)) {
    EDGE_ASSIGN_OR_RETURN(axes, b.ConstInts(3, "axes"));
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (b.has_input(4)) {
    EDGE_ASSIGN_OR_RETURN(steps, b.ConstInts(4, "steps"));
  } else {
    steps.assign(starts.size(), 1);
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return b.Error("starts, ends, axes and steps differ in length");
  }
  std::vector<int64_t> first(rank, 0), step(rank, 1);
  Shape out = data.shape;
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = axes[i];
    if (!NormalizeAxis(a, rank) || seen[a]) return b.Error("axes out of range or repeated");
    seen[a] = true;
    const int64_t dim = data.shape[a];
    const int64_t st = steps[i];
    if (st == 0 || st == INT64_MIN) return b.Error("step " + std::to_string(st) + " is not usable");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0 && e > INT64_MIN / 2) e += dim;
    int64_t count;
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      count = e > s ? (e - s - 1) / st + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      count = s > e ? (s - e - 1) / (-st) + 1 : 0;
    }
    first[a] = s;
    step[a] = st;
    out[a] = count;
  }
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, data.dtype, out));
  const Shape in_st = Strides(data.shape);
  Walk<2> w;
  w.dims = out;
  w.strides[0] = Strides(out);
  int64_t base = 0;
  for (int64_t d = 0; d < rank; ++d) {
    w.strides[1].push_back(in_st[d] * step[d]);
    if (out[d] > 0) base += first[d] * in_st[d];
  }
  const Ref src = data.ref;
  const size_t es = ElementSize(data.dtype);
  b.AddKernel([=](std::byte* arena) {
    StridedCopy(w, es, src.Get(arena) + base * static_cast<int64_t>(es), o.Get(arena));
  });
  return Status::Ok();
}

Status OpExpand(NodeBuilder& b) {
  const Value& in = b.in(0);
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> spec, b.ConstInts(1, "shape"));
  Shape out;
  if (!BroadcastShapes(in.shape, Shape(spec.begin(), spec.end()), out)) {
    return b.Error("cannot expand " + ShapeToString(in.shape) + " to " +
                   ShapeToString(Shape(spec.begin(), spec.end())));
  }
  if (NumElements(out) == NumElements(in.shape)) return b.Alias(0, 0, out);
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, in.dtype, out));
  Walk<2> w;
  w.dims = out;
  w.strides[0] = Strides(out);
  w.strides[1] = BroadcastStrides(in.shape, out);
  const Ref src = in.ref;
  const size_t es = ElementSize(in.dtype);
  b.AddKernel([=](std::byte* arena) { StridedCopy(w, es, src.Get(arena), o.Get(arena)); });
  return Status::Ok();
}

Status OpTile(NodeBuilder& b) {
  const Value& in = b.in(0);
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> reps, b.ConstInts(1, "repeats"));
  if (reps.size() != in.shape.size()) return b.Error("repeats do not match the rank");
  Shape out = in.shape;
  for (size_t i = 0; i < reps.size(); ++i) {
    if (reps[i] < 0) return b.Error("negative repeat");
    if (reps[i] > 0 && out[i] > kMaxTensorElements / reps[i]) return b.Error("result too large");
    out[i] *= reps[i];
  }
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, in.dtype, out));
  const Shape in_shape = in.shape, in_st = Strides(in.shape), out_st = Strides(out);
  const Ref src = in.ref;
  const int64_t es = static_cast<int64_t>(ElementSize(in.dtype));
  const int64_t n = NumElements(out);
  b.AddKernel([=](std::byte* arena) {
    const std::byte* s = src.Get(arena);
    std::byte* d = o.Get(arena);
    for (int64_t i = 0; i < n; ++i) {
      int64_t rem = i, from = 0;
      for (size_t k = 0; k < out_st.size(); ++k) {
        const int64_t idx = rem / out_st[k];
        rem %= out_st[k];
        from += (idx % in_shape[k]) * in_st[k];
      }
      std::memcpy(d + i * es, s + from * es, static_cast<size_t>(es));
    }
  });
  return Status::Ok();
}

Status OpCast(NodeBuilder& b) {
  const Value& in = b.in(0);
  const int64_t to = b.AttrInt("to", 0);
  DType dt;
  switch (to) {
    case 1:
    case 11:
      dt = DType::kFloat;
      break;
    case 6:
    case 7:
      dt = DType::kInt64;
      break;
    case 9:
      dt = DType::kBool;
      break;
    default:
      return b.Error("cast to element type " + std::to_string(to) + " is not supported");
  }
  if (dt == in.dtype) return b.Alias(0, 0, in.shape);
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, dt, in.shape));
  const Ref src = in.ref;
  const DType from = in.dtype;
  const int64_t n = NumElements(in.shape);
  b.AddKernel([=](std::byte* arena) {
    const std::byte* s = src.Get(arena);
    std::byte* d = o.Get(arena);
    for (int64_t i = 0; i < n; ++i) {
      double v = 0;
      switch (from) {
        case DType::kFloat:
          v = reinterpret_cast<const float*>(s)[i];
          break;
        case DType::kInt64:
          v = static_cast<double>(reinterpret_cast<const int64_t*>(s)[i]);
          break;
        case DType::kBool:
          v = reinterpret_cast<const uint8_t*>(s)[i];
          break;
      }
      switch (dt) {
        case DType::kFloat:
          reinterpret_cast<float*>(d)[i] = static_cast<float>(v);
          break;
        case DType::kInt64:
          reinterpret_cast<int64_t*>(d)[i] =
              std::isfinite(v) && std::fabs(v) < 9.2e18 ? static_cast<int64_t>(v) : 0;
          break;
        case DType::kBool:
          reinterpret_cast<uint8_t*>(d)[i] = v != 0 ? 1 : 0;
          break;
      }
    }
  });
  return Status::Ok();
}

// Elementwise unary float operators.
template <typename F>
Status UnaryFloat(NodeBuilder& b, F f) {
  const Value& in = b.in(0);
  if (in.dtype != DType::kFloat) return b.Error("input must be float");
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, in.shape));
  const Ref src = in.ref;
  const int64_t n = NumElements(in.shape);
  b.AddKernel([=](std::byte* arena) {
    Eigen::Map<const Eigen::ArrayXf> x(reinterpret_cast<const float*>(src.Get(arena)), n);
    Eigen::Map<Eigen::ArrayXf> y(reinterpret_cast<float*>(o.Get(arena)), n);
    f(x, y);
  });
  return Status::Ok();
}

using ArrIn = Eigen::Map<const Eigen::ArrayXf>;
using ArrOut = Eigen::Map<Eigen::ArrayXf>;

Status OpSigmoid(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = (x * 0.5f).tanh() * 0.5f + 0.5f; });
}
Status OpTanh(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = x.tanh(); });
}
Status OpRelu(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = x.max(0.0f); });
}
Status OpLeakyRelu(NodeBuilder& b) {
  const float alpha = b.AttrFloat("alpha", 0.01f);
  return UnaryFloat(b, [alpha](const ArrIn& x, ArrOut& y) { y = (x > 0).select(x, x * alpha); });
}
Status OpAbs(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = x.abs(); });
}
Status OpNeg(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = -x; });
}
Status OpExp(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = x.exp(); });
}
Status OpLog(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = x.log(); });
}
Status OpSqrt(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = x.sqrt(); });
}
Status OpReciprocal(NodeBuilder& b) {
  return UnaryFloat(b, [](const ArrIn& x, ArrOut& y) { y = x.inverse(); });
}

enum class BinOp { kAdd, kSub, kMul, kDiv, kPow, kEqual, kLess, kGreater };

// int64 arithmetic wraps (as ONNX Runtime's does in practice) instead of overflowing: the values
// are shape arithmetic from the file, which may be hostile.
inline int64_t ApplyArith(BinOp op, int64_t a, int64_t c) {
  const uint64_t ua = static_cast<uint64_t>(a), uc = static_cast<uint64_t>(c);
  switch (op) {
    case BinOp::kAdd:
      return static_cast<int64_t>(ua + uc);
    case BinOp::kSub:
      return static_cast<int64_t>(ua - uc);
    case BinOp::kMul:
      return static_cast<int64_t>(ua * uc);
    case BinOp::kDiv:
      if (c == 0 || (a == INT64_MIN && c == -1)) return 0;
      return a / c;
    case BinOp::kPow: {
      const double p = std::pow(static_cast<double>(a), static_cast<double>(c));
      return std::isfinite(p) && std::fabs(p) < 9.2e18 ? static_cast<int64_t>(p) : 0;
    }
    default:
      return 0;
  }
}

template <typename T>
inline T ApplyArith(BinOp op, T a, T c) {
  switch (op) {
    case BinOp::kAdd:
      return a + c;
    case BinOp::kSub:
      return a - c;
    case BinOp::kMul:
      return a * c;
    case BinOp::kDiv:
      if constexpr (std::is_integral_v<T>) {
        return c == 0 ? T{0} : a / c;
      } else {
        return a / c;
      }
    case BinOp::kPow:
      if constexpr (std::is_integral_v<T>) {
        return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(c)));
      } else {
        return c == T{2} ? a * a : std::pow(a, c);
      }
    default:
      return T{};
  }
}

template <typename T>
inline uint8_t ApplyCompare(BinOp op, T a, T c) {
  switch (op) {
    case BinOp::kEqual:
      return a == c;
    case BinOp::kLess:
      return a < c;
    case BinOp::kGreater:
      return a > c;
    default:
      return 0;
  }
}

template <typename T, typename R, typename F>
void BinaryLoop(const Walk<3>& w, const std::byte* pa, const std::byte* pb, std::byte* po, F f) {
  const T* a = reinterpret_cast<const T*>(pa);
  const T* c = reinterpret_cast<const T*>(pb);
  R* o = reinterpret_cast<R*>(po);
  w.Run([&](const std::array<int64_t, 3>& off, int64_t count, const std::array<int64_t, 3>& in) {
    R* oo = o + off[0];
    const T* aa = a + off[1];
    const T* cc = c + off[2];
    if (in[1] == 1 && in[2] == 1) {
      for (int64_t j = 0; j < count; ++j) oo[j] = f(aa[j], cc[j]);
    } else if (in[1] == 1 && in[2] == 0) {
      const T cv = *cc;
      for (int64_t j = 0; j < count; ++j) oo[j] = f(aa[j], cv);
    } else {
      for (int64_t j = 0; j < count; ++j) oo[j] = f(aa[j * in[1]], cc[j * in[2]]);
    }
  });
}

Status Binary(NodeBuilder& b, BinOp op) {
  const Value& x = b.in(0);
  const Value& y = b.in(1);
  if (x.dtype != y.dtype) return b.Error("inputs differ in element type");
  if (x.dtype == DType::kBool) return b.Error("bool inputs are not supported");
  Shape out;
  if (!BroadcastShapes(x.shape, y.shape, out)) {
    return b.Error("shapes " + ShapeToString(x.shape) + " and " + ShapeToString(y.shape) +
                   " do not broadcast");
  }
  const bool compare = op == BinOp::kEqual || op == BinOp::kLess || op == BinOp::kGreater;
  const DType out_type = compare ? DType::kBool : x.dtype;
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, out_type, out));
  Walk<3> w;
  w.dims = out;
  w.strides[0] = Strides(out);
  w.strides[1] = BroadcastStrides(x.shape, out);
  w.strides[2] = BroadcastStrides(y.shape, out);
  const Ref ra = x.ref, rb = y.ref;
  const DType dt = x.dtype;
  b.AddKernel([=](std::byte* arena) {
    const std::byte* pa = ra.Get(arena);
    const std::byte* pb = rb.Get(arena);
    std::byte* po = o.Get(arena);
    if (dt == DType::kFloat) {
      if (compare) {
        BinaryLoop<float, uint8_t>(w, pa, pb, po,
                                   [op](float p, float q) { return ApplyCompare(op, p, q); });
      } else {
        switch (op) {  // the common ones without a switch per element
          case BinOp::kAdd:
            BinaryLoop<float, float>(w, pa, pb, po, [](float p, float q) { return p + q; });
            break;
          case BinOp::kSub:
            BinaryLoop<float, float>(w, pa, pb, po, [](float p, float q) { return p - q; });
            break;
          case BinOp::kMul:
            BinaryLoop<float, float>(w, pa, pb, po, [](float p, float q) { return p * q; });
            break;
          default:
            BinaryLoop<float, float>(w, pa, pb, po,
                                     [op](float p, float q) { return ApplyArith(op, p, q); });
        }
      }
    } else {
      if (compare) {
        BinaryLoop<int64_t, uint8_t>(w, pa, pb, po,
                                     [op](int64_t p, int64_t q) { return ApplyCompare(op, p, q); });
      } else {
        BinaryLoop<int64_t, int64_t>(w, pa, pb, po,
                                     [op](int64_t p, int64_t q) { return ApplyArith(op, p, q); });
      }
    }
  });
  return Status::Ok();
}

Status OpAdd(NodeBuilder& b) { return Binary(b, BinOp::kAdd); }
Status OpSub(NodeBuilder& b) { return Binary(b, BinOp::kSub); }
Status OpMul(NodeBuilder& b) { return Binary(b, BinOp::kMul); }
Status OpDiv(NodeBuilder& b) { return Binary(b, BinOp::kDiv); }
Status OpEqual(NodeBuilder& b) { return Binary(b, BinOp::kEqual); }
Status OpLess(NodeBuilder& b) { return Binary(b, BinOp::kLess); }
Status OpGreater(NodeBuilder& b) { return Binary(b, BinOp::kGreater); }
Status OpPow(NodeBuilder& b) {
  if (b.in(0).dtype != DType::kFloat) return Binary(b, BinOp::kPow);
  if (b.in(1).dtype != DType::kFloat) {
    // Pow with an int64 exponent (allowed by ONNX): only a constant scalar is supported.
    return b.Error("exponent must be float");
  }
  return Binary(b, BinOp::kPow);
}

Status OpWhere(NodeBuilder& b) {
  const Value& c = b.in(0);
  const Value& x = b.in(1);
  const Value& y = b.in(2);
  if (c.dtype != DType::kBool) return b.Error("condition must be bool");
  if (x.dtype != y.dtype) return b.Error("inputs differ in element type");
  Shape xy, out;
  if (!BroadcastShapes(x.shape, y.shape, xy) || !BroadcastShapes(c.shape, xy, out)) {
    return b.Error("shapes do not broadcast");
  }
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, x.dtype, out));
  Walk<4> w;
  w.dims = out;
  w.strides[0] = Strides(out);
  w.strides[1] = BroadcastStrides(c.shape, out);
  w.strides[2] = BroadcastStrides(x.shape, out);
  w.strides[3] = BroadcastStrides(y.shape, out);
  const Ref rc = c.ref, rx = x.ref, ry = y.ref;
  const int64_t es = static_cast<int64_t>(ElementSize(x.dtype));
  b.AddKernel([=](std::byte* arena) {
    const uint8_t* pc = reinterpret_cast<const uint8_t*>(rc.Get(arena));
    const std::byte* px = rx.Get(arena);
    const std::byte* py = ry.Get(arena);
    std::byte* po = o.Get(arena);
    w.Run([&](const std::array<int64_t, 4>& off, int64_t count, const std::array<int64_t, 4>& in) {
      for (int64_t j = 0; j < count; ++j) {
        const bool take_x = pc[off[1] + j * in[1]] != 0;
        const std::byte* src =
            take_x ? px + (off[2] + j * in[2]) * es : py + (off[3] + j * in[3]) * es;
        std::memcpy(po + (off[0] + j) * es, src, static_cast<size_t>(es));
      }
    });
  });
  return Status::Ok();
}

enum class ReduceKind { kSum, kMean, kMax };

Status Reduce(NodeBuilder& b, ReduceKind kind) {
  const Value& in = b.in(0);
  if (in.dtype != DType::kFloat) return b.Error("input must be float");
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  bool given;
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesFromInputOrAttr(b, 1, given));
  const bool keepdims = b.AttrInt("keepdims", 1) != 0;
  std::vector<bool> red(rank, false);
  if (axes.empty()) {
    if (b.AttrInt("noop_with_empty_axes", 0) != 0) return b.Alias(0, 0, in.shape);
    red.assign(rank, true);
  }
  for (int64_t a : axes) {
    if (!NormalizeAxis(a, rank)) return b.Error("axis out of range");
    red[a] = true;
  }
  Shape kept, out;
  int64_t count = 1;
  for (int64_t i = 0; i < rank; ++i) {
    kept.push_back(red[i] ? 1 : in.shape[i]);
    if (red[i]) count *= in.shape[i];
    if (!red[i]) {
      out.push_back(in.shape[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  if (kind == ReduceKind::kMax && count == 0) return b.Error("max over an empty axis");
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, out));
  Walk<2> w;
  w.dims = in.shape;
  w.strides[0] = Strides(in.shape);
  w.strides[1] = BroadcastStrides(kept, in.shape);
  const Ref src = in.ref;
  const int64_t n_out = NumElements(out);
  b.AddKernel([=](std::byte* arena) {
    const float* s = reinterpret_cast<const float*>(src.Get(arena));
    float* d = reinterpret_cast<float*>(o.Get(arena));
    const float init = kind == ReduceKind::kMax ? -INFINITY : 0.0f;
    std::fill(d, d + n_out, init);
    w.Run([&](const std::array<int64_t, 2>& off, int64_t cnt, const std::array<int64_t, 2>& st) {
      const float* ss = s + off[0];
      float* dd = d + off[1];
      if (kind == ReduceKind::kMax) {
        for (int64_t j = 0; j < cnt; ++j) dd[j * st[1]] = std::max(dd[j * st[1]], ss[j]);
      } else if (st[1] == 0) {
        float acc = 0;
        for (int64_t j = 0; j < cnt; ++j) acc += ss[j];
        *dd += acc;
      } else {
        for (int64_t j = 0; j < cnt; ++j) dd[j * st[1]] += ss[j];
      }
    });
    if (kind == ReduceKind::kMean && count > 0) {
      const float scale = 1.0f / static_cast<float>(count);
      for (int64_t i = 0; i < n_out; ++i) d[i] *= scale;
    }
  });
  return Status::Ok();
}

Status OpReduceSum(NodeBuilder& b) { return Reduce(b, ReduceKind::kSum); }
Status OpReduceMean(NodeBuilder& b) { return Reduce(b, ReduceKind::kMean); }
Status OpReduceMax(NodeBuilder& b) { return Reduce(b, ReduceKind::kMax); }

Status OpSoftmax(NodeBuilder& b) {
  const Value& in = b.in(0);
  if (in.dtype != DType::kFloat) return b.Error("input must be float");
  int64_t axis = b.AttrInt("axis", -1);
  const int64_t rank = static_cast<int64_t>(in.shape.size());
  if (!NormalizeAxis(axis, rank)) return b.Error("axis out of range");
  if (axis != rank - 1) return b.Error("only the last axis is supported");
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, in.shape));
  const int64_t inner = in.shape[axis], outer = NumElements(in.shape) / std::max<int64_t>(inner, 1);
  const Ref src = in.ref;
  b.AddKernel([=](std::byte* arena) {
    for (int64_t r = 0; r < outer; ++r) {
      ArrIn x(reinterpret_cast<const float*>(src.Get(arena)) + r * inner, inner);
      ArrOut y(reinterpret_cast<float*>(o.Get(arena)) + r * inner, inner);
      y = (x - x.maxCoeff()).exp();
      y /= y.sum();
    }
  });
  return Status::Ok();
}

// MatMul: A[..., M, K] x B[K, N], or both with equal leading dimensions.
Status OpMatMul(NodeBuilder& b) {
  const Value& a = b.in(0);
  const Value& w = b.in(1);
  if (a.dtype != DType::kFloat || w.dtype != DType::kFloat) return b.Error("inputs must be float");
  if (a.shape.size() < 2 || w.shape.size() < 2)
    return b.Error("inputs of rank < 2 are not supported");
  const int64_t k = a.shape.back();
  const int64_t n = w.shape.back();
  if (w.shape[w.shape.size() - 2] != k) {
    return b.Error("shapes " + ShapeToString(a.shape) + " and " + ShapeToString(w.shape) +
                   " do not multiply");
  }
  Shape out = a.shape;
  out.back() = n;
  int64_t batches = 1, m = a.shape[a.shape.size() - 2];
  bool batched_b = false;
  if (w.shape.size() == 2) {
    m = NumElements(a.shape) / std::max<int64_t>(k, 1);
  } else {
    if (w.shape.size() != a.shape.size() ||
        !std::equal(a.shape.begin(), a.shape.end() - 2, w.shape.begin())) {
      return b.Error("broadcasting of batch dimensions " + ShapeToString(a.shape) + " x " +
                     ShapeToString(w.shape) + " is not supported");
    }
    batches = NumElements(a.shape) / std::max<int64_t>(m * k, 1);
    batched_b = true;
  }
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, out));
  const Ref ra = a.ref, rw = w.ref;
  const KernelTable* kt = &Kernels();
  b.AddKernel([=](std::byte* arena) {
    for (int64_t i = 0; i < batches; ++i) {
      MatMulCall call;
      call.m = static_cast<int>(m);
      call.k = static_cast<int>(k);
      call.n = static_cast<int>(n);
      call.a = reinterpret_cast<const float*>(ra.Get(arena)) + i * m * k;
      call.b = reinterpret_cast<const float*>(rw.Get(arena)) + (batched_b ? i * k * n : 0);
      call.c = reinterpret_cast<float*>(o.Get(arena)) + i * m * n;
      kt->matmul(call);
    }
  });
  return Status::Ok();
}

Status OpGemm(NodeBuilder& b) {
  const Value& a = b.in(0);
  const Value& w = b.in(1);
  if (a.dtype != DType::kFloat || w.dtype != DType::kFloat) return b.Error("inputs must be float");
  if (a.shape.size() != 2 || w.shape.size() != 2) return b.Error("A and B must be 2-D");
  if (b.AttrInt("transA", 0) != 0) return b.Error("transA=1 is not supported");
  const bool trans_b = b.AttrInt("transB", 0) != 0;
  const float alpha = b.AttrFloat("alpha", 1.0f), beta = b.AttrFloat("beta", 1.0f);
  const int64_t m = a.shape[0], k = a.shape[1];
  const int64_t kb = trans_b ? w.shape[1] : w.shape[0];
  const int64_t n = trans_b ? w.shape[0] : w.shape[1];
  if (kb != k) {
    return b.Error("shapes " + ShapeToString(a.shape) + " and " + ShapeToString(w.shape) +
                   (trans_b ? " (transposed)" : "") + " do not multiply");
  }
  // Bias: [N] or [1, N] goes into the product; other shapes are broadcast-added afterwards.
  const bool has_c = b.has_input(2);
  bool row_bias = false;
  Walk<2> cw;
  Ref rc;
  if (has_c) {
    const Value& c = b.in(2);
    if (c.dtype != DType::kFloat) return b.Error("C must be float");
    Shape bc;
    if (!BroadcastShapes(c.shape, {m, n}, bc) || bc != Shape{m, n}) {
      return b.Error("C " + ShapeToString(c.shape) + " does not broadcast to " +
                     ShapeToString({m, n}));
    }
    row_bias = beta == 1.0f && NumElements(c.shape) == n &&
               (c.shape == Shape{n} || c.shape == Shape{1, n});
    cw.dims = {m, n};
    cw.strides[0] = Strides({m, n});
    cw.strides[1] = BroadcastStrides(c.shape, {m, n});
    rc = c.ref;
  }
  EDGE_ASSIGN_OR_RETURN(Ref o, b.Output(0, DType::kFloat, {m, n}));
  const Ref ra = a.ref, rw = w.ref;
  const KernelTable* kt = &Kernels();
  b.AddKernel([=](std::byte* arena) {
    MatMulCall call;
    call.m = static_cast<int>(m);
    call.k = static_cast<int>(k);
    call.n = static_cast<int>(n);
    call.a = reinterpret_cast<const float*>(ra.Get(arena));
    call.b = reinterpret_cast<const float*>(rw.Get(arena));
    call.b_transposed = trans_b;
    float* out = reinterpret_cast<float*>(o.Get(arena));
    call.c = out;
    if (alpha == 1.0f && row_bias) call.bias = reinterpret_cast<const float*>(rc.Get(arena));
    kt->matmul(call);
    if (alpha == 1.0f && row_bias) return;
    if (alpha != 1.0f) {
      for (int64_t i = 0; i < m * n; ++i) out[i] *= alpha;
    }
    if (has_c) {
      const float* c = reinterpret_cast<const float*>(rc.Get(arena));
      cw.Run([&](const std::array<int64_t, 2>& off, int64_t cnt, const std::array<int64_t, 2>& st) {
        for (int64_t j = 0; j < cnt; ++j) out[off[0] + j] += beta * c[off[1] + j * st[1]];
      });
    }
  });
  return Status::Ok();
}

// ---- GRU / LSTM ----

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

Status Rnn(NodeBuilder& b, bool lstm) {
  const int gates = lstm ? 4 : 3;
  // Attributes the kernels do not implement are load errors.
  if (const OnnxAttribute* a = b.Attr("activation_alpha"); a != nullptr && !a->floats.empty()) {
    return b.Error("attribute activation_alpha is not supported");
  }
  if (const OnnxAttribute* a = b.Attr("activation_beta"); a != nullptr && !a->floats.empty()) {
    return b.Error("attribute activation_beta is not supported");
  }
  if (b.Attr("clip") != nullptr) return b.Error("attribute clip is not supported");
  if (b.AttrInt("layout", 0) != 0) return b.Error("layout=1 (batch-first) is not supported");
  if (lstm && b.AttrInt("input_forget", 0) != 0) {
    return b.Error("input_forget=1 is not supported");
  }
  const std::string direction = b.AttrString("direction", "forward");
  int num_dirs;
  if (direction == "forward" || direction == "reverse") {
    num_dirs = 1;
  } else if (direction == "bidirectional") {
    num_dirs = 2;
  } else {
    return b.Error("direction '" + direction + "' is not supported");
  }
  if (const OnnxAttribute* a = b.Attr("activations"); a != nullptr) {
    std::vector<std::string> expect;
    for (int d = 0; d < num_dirs; ++d) {
      expect.push_back("Sigmoid");
      expect.push_back("Tanh");
      if (lstm) expect.push_back("Tanh");
    }
    if (a->strings != expect) {
      std::string got;
      for (const std::string& s : a->strings) got += (got.empty() ? "" : ",") + s;
      return b.Error("activations [" + got + "] are not supported (only the defaults " +
                     std::string(lstm ? "Sigmoid,Tanh,Tanh" : "Sigmoid,Tanh") + ")");
    }
  }
  const int64_t lbr = lstm ? 0 : b.AttrInt("linear_before_reset", 0);
  if (lbr != 0 && lbr != 1) return b.Error("linear_before_reset must be 0 or 1");

  const Value& x = b.in(0);
  if (x.dtype != DType::kFloat || x.shape.size() != 3) {
    return b.Error("X must be float [seq_length, batch, input_size], is " + ShapeToString(x.shape));
  }
  const int64_t steps = x.shape[0], batch = x.shape[1], input = x.shape[2];
  if (!b.has_input(1) || !b.has_input(2)) return b.Error("W and R are required");
  const Value& w = b.in(1);
  const Value& r = b.in(2);
  if (!w.is_const || !r.is_const) return b.Error("W and R must be initializers");
  if (w.shape.size() != 3 || w.shape[0] != num_dirs || w.shape[2] != input ||
      w.shape[1] % gates != 0) {
    return b.Error("W " + ShapeToString(w.shape) + " does not fit X " + ShapeToString(x.shape) +
                   " and " + std::to_string(num_dirs) + " direction(s)");
  }
  const int64_t hidden = w.shape[1] / gates;
  if (b.Attr("hidden_size") != nullptr && b.AttrInt("hidden_size", 0) != hidden) {
    return b.Error("hidden_size " + std::to_string(b.AttrInt("hidden_size", 0)) +
                   " disagrees with W " + ShapeToString(w.shape));
  }
  if (hidden <= 0) return b.Error("hidden size 0");
  if (r.shape != Shape{num_dirs, gates * hidden, hidden}) {
    return b.Error("R " + ShapeToString(r.shape) + " should be " +
                   ShapeToString({num_dirs, gates * hidden, hidden}));
  }
  const Value* bias = nullptr;
  if (b.has_input(3)) {
    bias = &b.in(3);
    if (!bias->is_const) return b.Error("B must be an initializer");
    if (bias->shape != Shape{num_dirs, 2 * gates * hidden}) {
      return b.Error("B " + ShapeToString(bias->shape) + " should be " +
                     ShapeToString({num_dirs, 2 * gates * hidden}));
    }
  }
  if (b.has_input(4)) {
    const Value& sl = b.in(4);
    bool all_full = sl.is_const && sl.dtype == DType::kInt64 && NumElements(sl.shape) == batch;
    for (int64_t i = 0; all_full && i < batch; ++i) all_full = sl.konst.ints()[i] == steps;
    if (!all_full) return b.Error("sequence_lens other than the full length are not supported");
  }
  const Shape state_shape{num_dirs, batch, hidden};
  const Value* h0 = b.has_input(5) ? &b.in(5) : nullptr;
  if (h0 != nullptr && (h0->shape != state_shape || h0->dtype != DType::kFloat)) {
    return b.Error("initial_h " + ShapeToString(h0->shape) + " should be " +
                   ShapeToString(state_shape));
  }
  const Value* c0 = lstm && b.has_input(6) ? &b.in(6) : nullptr;
  if (c0 != nullptr && (c0->shape != state_shape || c0->dtype != DType::kFloat)) {
    return b.Error("initial_c " + ShapeToString(c0->shape) + " should be " +
                   ShapeToString(state_shape));
  }
  const Value* peep = lstm && b.has_input(7) ? &b.in(7) : nullptr;
  if (peep != nullptr && (!peep->is_const || peep->shape != Shape{num_dirs, 3 * hidden})) {
    return b.Error("P must be an initializer of shape " + ShapeToString({num_dirs, 3 * hidden}));
  }

  // Packed weights, shared by the plans of all batch sizes.
  std::shared_ptr<void>& cached = b.cache();
  if (!cached) {
    auto pack = std::make_shared<RnnPack>();
    const int64_t h = hidden, gh = gates * hidden;
    for (int d = 0; d < num_dirs; ++d) {
      RnnWeights rw;
      rw.input_size = static_cast<int>(input);
      rw.hidden = static_cast<int>(hidden);
      rw.linear_before_reset = lbr == 1;
      const float* wd = w.konst.floats() + d * gh * input;
      const float* rd = r.konst.floats() + d * gh * h;
      float* wt = NewFloats(*pack, input * gh);
      TransposeInto(wd, gh, input, wt, gh, 0);
      rw.wt = wt;
      // R transposed, then packed the way the kernels of this CPU read it.
      const KernelTable& kt = Kernels();
      std::vector<float> rt(static_cast<size_t>(h * gh));
      TransposeInto(rd, gh, h, rt.data(), gh, 0);
      const int hi = static_cast<int>(h);
      if (lstm) {
        float* packed = NewFloats(*pack, kt.packed_floats(hi, static_cast<int>(gh)));
        kt.pack(rt.data(), hi, static_cast<int>(gh), gh, packed);
        rw.rt = packed;
      } else {
        float* zr = NewFloats(*pack, kt.packed_floats(hi, 2 * hi));
        kt.pack(rt.data(), hi, 2 * hi, gh, zr);
        float* hh = NewFloats(*pack, kt.packed_floats(hi, hi));
        kt.pack(rt.data() + 2 * h, hi, hi, gh, hh);
        rw.rt_zr = zr;
        rw.rt_h = hh;
      }
      float* bx = NewFloats(*pack, gh);
      float* brh = NewFloats(*pack, h);
      if (bias != nullptr) {
        const float* wb = bias->konst.floats() + d * 2 * gh;
        const float* rb = wb + gh;
        for (int64_t i = 0; i < gh; ++i) {
          const bool separate = !lstm && lbr == 1 && i >= 2 * h;
          bx[i] = wb[i] + (separate ? 0.0f : rb[i]);
        }
        if (!lstm && lbr == 1) std::copy(rb + 2 * h, rb + 3 * h, brh);
      }
      rw.bias_x = bx;
      rw.bias_rh = brh;
      if (peep != nullptr) {
        float* p = NewFloats(*pack, 3 * h);
        std::copy(peep->konst.floats() + d * 3 * h, peep->konst.floats() + (d + 1) * 3 * h, p);
        rw.peep = p;
      }
      pack->dirs.push_back(rw);
    }
    cached = pack;
  }
  std::shared_ptr<RnnPack> pack = std::static_pointer_cast<RnnPack>(cached);

  Ref ry, ryh, ryc;
  const bool want_y = b.wants_output(0), want_yh = b.wants_output(1),
             want_yc = lstm && b.wants_output(2);
  if (!lstm && b.num_outputs() > 2) return b.Error("GRU has at most 2 outputs");
  if (want_y) {
    EDGE_ASSIGN_OR_RETURN(ry, b.Output(0, DType::kFloat, {steps, num_dirs, batch, hidden}));
  }
  if (want_yh) {
    EDGE_ASSIGN_OR_RETURN(ryh, b.Output(1, DType::kFloat, state_shape));
  }
  if (want_yc) {
    EDGE_ASSIGN_OR_RETURN(ryc, b.Output(2, DType::kFloat, state_shape));
  }
  EDGE_ASSIGN_OR_RETURN(
      Ref scratch, b.Scratch(RnnScratchFloats(gates, static_cast<int>(steps),
                                              static_cast<int>(batch), static_cast<int>(hidden)) *
                             4));
  const Ref rx = x.ref;
  const Ref rh0 = h0 != nullptr ? h0->ref : Ref();
  const Ref rc0 = c0 != nullptr ? c0->ref : Ref();
  const bool has_h0 = h0 != nullptr, has_c0 = c0 != nullptr;
  const bool reverse_only = direction == "reverse";
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

Status OpGru(NodeBuilder& b) { return Rnn(b, false); }
Status OpLstm(NodeBuilder& b) { return Rnn(b, true); }

const std::map<std::string, OpBuilder>& OpTable() {
  static const auto* table = new std::map<std::string, OpBuilder>{
      {"Abs", OpAbs},
      {"Add", OpAdd},
      {"Cast", OpCast},
      {"Concat", OpConcat},
      {"Constant", OpConstant},
      {"ConstantOfShape", OpConstantOfShape},
      {"Div", OpDiv},
      {"Dropout", OpIdentity},
      {"Equal", OpEqual},
      {"Exp", OpExp},
      {"Expand", OpExpand},
      {"Flatten", OpFlatten},
      {"Gather", OpGather},
      {"Gemm", OpGemm},
      {"Greater", OpGreater},
      {"GRU", OpGru},
      {"Identity", OpIdentity},
      {"LeakyRelu", OpLeakyRelu},
      {"Less", OpLess},
      {"Log", OpLog},
      {"LSTM", OpLstm},
      {"MatMul", OpMatMul},
      {"Mul", OpMul},
      {"Neg", OpNeg},
      {"Pow", OpPow},
      {"Reciprocal", OpReciprocal},
      {"ReduceMax", OpReduceMax},
      {"ReduceMean", OpReduceMean},
      {"ReduceSum", OpReduceSum},
      {"Relu", OpRelu},
      {"Reshape", OpReshape},
      {"Shape", OpShape},
      {"Sigmoid", OpSigmoid},
      {"Slice", OpSlice},
      {"Softmax", OpSoftmax},
      {"Sqrt", OpSqrt},
      {"Squeeze", OpSqueeze},
      {"Sub", OpSub},
      {"Tanh", OpTanh},
      {"Tile", OpTile},
      {"Transpose", OpTranspose},
      {"Unsqueeze", OpUnsqueeze},
      {"Where", OpWhere},
  };
  return *table;
}

}  // namespace

const std::vector<std::string>& SupportedOperators() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>();
    for (const auto& [name, op] : OpTable()) v->push_back(name);
    return v;
  }();
  return *names;
}

std::string InferenceLibraryVersions() {
  std::string out = "  Eigen      " + std::to_string(EIGEN_WORLD_VERSION) + "." +
                    std::to_string(EIGEN_MAJOR_VERSION) + "." +
                    std::to_string(EIGEN_MINOR_VERSION) + "\n";
  out += "  ONNX       " + OnnxLibraryVersions() + " (kernels: " + Kernels().name + ")\n";
  return out;
}

Model::Model() = default;
Model::~Model() = default;

const char* Model::kernels() const { return Kernels().name; }

StatusOr<std::unique_ptr<Model>> Model::Load(std::string_view onnx_bytes,
                                             const LoadOptions& options) {
  EDGE_ASSIGN_OR_RETURN(OnnxGraph graph, ParseOnnxGraph(onnx_bytes));
  if (graph.opset < kMinOpset || graph.opset > kMaxOpset) {
    return Status::InvalidArgument("opset " + std::to_string(graph.opset) +
                                   " is not supported (opsets " + std::to_string(kMinOpset) +
                                   " to " + std::to_string(kMaxOpset) + " are)");
  }
  if (graph.inputs.size() != 1) {
    return Status::InvalidArgument("the model has " + std::to_string(graph.inputs.size()) +
                                   " inputs; exactly one [batch, window, features] is expected");
  }
  if (graph.outputs.empty()) return Status::InvalidArgument("the model has no outputs");
  const OnnxValueInfo& in = graph.inputs[0];
  if (in.elem_type != 1) {
    return Status::InvalidArgument("input '" + in.name + "' is not float32");
  }
  if (!in.has_shape || in.dims.size() != 3) {
    return Status::InvalidArgument("input '" + in.name +
                                   "' must have shape [batch, window, features]");
  }
  auto dims_text = [&] {
    std::string s = "[";
    for (size_t i = 0; i < in.dims.size(); ++i) {
      s += (i > 0 ? "," : "") + (in.dims[i] < 0 ? std::string("?") : std::to_string(in.dims[i]));
    }
    return s + "]";
  };
  int window = options.window, features = options.features;
  if (in.dims[1] >= 0) {
    if (window >= 0 && window != in.dims[1]) {
      return Status::InvalidArgument("window " + std::to_string(window) +
                                     " disagrees with the model's input shape " + dims_text() +
                                     " (window " + std::to_string(in.dims[1]) + ")");
    }
    window = static_cast<int>(in.dims[1]);
  }
  if (in.dims[2] >= 0) {
    if (features >= 0 && features != in.dims[2]) {
      return Status::InvalidArgument(
          std::to_string(features) + " features disagree with the model's input shape " +
          dims_text() + " (" + std::to_string(in.dims[2]) + " features)");
    }
    features = static_cast<int>(in.dims[2]);
  }
  if (window <= 0 || features <= 0 || window > 1'000'000 || features > 100'000) {
    return Status::InvalidArgument("input shape " + dims_text() +
                                   " does not give a usable window and feature count");
  }
  if (options.max_batch < 1 || options.max_batch > 1024) {
    return Status::InvalidArgument("max_batch must be 1..1024");
  }
  std::unique_ptr<Model> model(new Model());
  model->window_ = window;
  model->features_ = features;
  model->opset_ = graph.opset;
  model->input_name_ = in.name;
  if (in.dims[0] > 1) {
    return Status::InvalidArgument("input '" + in.name + "' has a fixed batch size of " +
                                   std::to_string(in.dims[0]) +
                                   "; export it with a dynamic batch axis (dynamic_axes)");
  }
  const int first_batch = 1;
  const int last_batch = in.dims[0] > 0 ? first_batch : options.max_batch;
  if (first_batch > options.max_batch) {
    return Status::InvalidArgument("the model's fixed batch size " + std::to_string(first_batch) +
                                   " is above the limit " + std::to_string(options.max_batch));
  }
  model->max_batch_ = last_batch;
  NodeCache cache;
  // A model with a fixed batch dimension gets plans for that size only; smaller batches are
  // refused by Run's REQUIRES (max_batch() is that size and plans_ holds nulls below it).
  model->plans_.resize(static_cast<size_t>(last_batch));
  try {
    for (int b = first_batch; b <= last_batch; ++b) {
      Planner planner(graph, cache, b, window, features);
      EDGE_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, planner.Build());
      if (b == first_batch) {
        // Kernels point into the initializers' storage; the model outlives `graph`.
        for (const auto& [name, t] : graph.initializers) plan->keep_alive.push_back(t.storage);
        for (size_t i = 0; i < graph.outputs.size(); ++i) {
          ModelOutput out;
          out.name = graph.outputs[i].name;
          out.sample_shape.assign(planner.output_shapes()[i].begin() + 1,
                                  planner.output_shapes()[i].end());
          out.sample_size = NumElements(out.sample_shape);
          model->outputs_.push_back(std::move(out));
        }
      } else {
        for (size_t i = 0; i < graph.outputs.size(); ++i) {
          const Shape& s = planner.output_shapes()[i];
          if (Shape(s.begin() + 1, s.end()) != model->outputs_[i].sample_shape) {
            return Status::InvalidArgument("output '" + graph.outputs[i].name +
                                           "' changes its per-window shape with the batch size");
          }
        }
      }
      model->arena_bytes_ = std::max(model->arena_bytes_, plan->arena_bytes);
      model->plans_[static_cast<size_t>(b - 1)] = std::move(plan);
    }
  } catch (const std::bad_alloc&) {
    return Status::InvalidArgument("out of memory while planning the model");
  }
  model->arena_ = AllocateAligned(static_cast<size_t>(model->arena_bytes_));
  return model;
}

void Model::Run(const float* input, int batch) {
  EDGE_CHECK(batch >= 1 && batch <= max_batch_);
  Plan* plan = plans_[static_cast<size_t>(batch - 1)].get();
  EDGE_CHECK(plan != nullptr);
  std::byte* arena = arena_.data.get();
  std::memcpy(plan->input.Get(arena), input,
              static_cast<size_t>(batch) * static_cast<size_t>(window_) *
                  static_cast<size_t>(features_) * sizeof(float));
  for (const Kernel& k : plan->steps) k(arena);
  last_batch_ = batch;
}

const float* Model::output(int i) const {
  EDGE_CHECK(last_batch_ > 0 && i >= 0 && i < static_cast<int>(outputs_.size()));
  const Plan* plan = plans_[static_cast<size_t>(last_batch_ - 1)].get();
  return reinterpret_cast<const float*>(
      plan->outputs[static_cast<size_t>(i)].Get(arena_.data.get()));
}

}  // namespace edge::inference
