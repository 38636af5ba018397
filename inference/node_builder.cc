#include "inference/node_builder.h"

#include "inference/graph_planner.h"

namespace edge::inference {

std::string NodeLabel(const OnnxNode& node) {
  return "node '" + node.name + "' (" + node.op_type + ")";
}

Status NodeBuilder::Error(const std::string& what) const {
  return Status::InvalidArgument(NodeLabel(node_) + ": " + what);
}

StatusOr<Ref> NodeBuilder::Output(size_t i, DType dtype, const Shape& shape) {
  return planner_.NewOutput(*this, i, dtype, shape);
}

Status NodeBuilder::Alias(size_t i, size_t j, const Shape& shape) {
  return planner_.NewAlias(*this, i, in(j), shape);
}

Status NodeBuilder::ConstOutput(size_t i, const ConstTensor& t) {
  return planner_.NewConstOutput(*this, i, t);
}

Status NodeBuilder::CheckShape(const Shape& shape) const {
  return planner_.CheckShape(*this, shape);
}

Status NodeBuilder::Reserve(int64_t bytes, const std::string& what) {
  return planner_.Reserve(*this, bytes, what);
}

StatusOr<Ref> NodeBuilder::Scratch(int64_t bytes) { return planner_.NewScratch(*this, bytes); }

void NodeBuilder::AddKernel(Kernel k) { planner_.AddKernel(std::move(k)); }

std::shared_ptr<void>& NodeBuilder::cache() { return planner_.cache(node_index_); }

const OnnxAttribute* NodeBuilder::Attr(const std::string& name) const {
  auto it = node_.attributes.find(name);
  return it == node_.attributes.end() ? nullptr : &it->second;
}

int64_t NodeBuilder::AttrInt(const std::string& name, int64_t def) const {
  const OnnxAttribute* a = Attr(name);
  return a != nullptr && a->kind == OnnxAttribute::Kind::kInt ? a->i : def;
}

float NodeBuilder::AttrFloat(const std::string& name, float def) const {
  const OnnxAttribute* a = Attr(name);
  return a != nullptr && a->kind == OnnxAttribute::Kind::kFloat ? a->f : def;
}

std::string NodeBuilder::AttrString(const std::string& name, const std::string& def) const {
  const OnnxAttribute* a = Attr(name);
  return a != nullptr && a->kind == OnnxAttribute::Kind::kString ? a->s : def;
}

std::optional<std::vector<int64_t>> NodeBuilder::AttrInts(const std::string& name) const {
  const OnnxAttribute* a = Attr(name);
  if (a == nullptr || a->kind != OnnxAttribute::Kind::kInts) return std::nullopt;
  return a->ints;
}

StatusOr<std::vector<int64_t>> NodeBuilder::ConstInts(size_t i, const std::string& what) const {
  if (!has_input(i)) return Error(what + " input is missing");
  const Value& v = in(i);
  if (!v.is_const) return Error(what + " must be a constant (computed from shapes only)");
  if (v.dtype != DType::kInt64) return Error(what + " must be int64");
  if (v.shape.size() > 1) return Error(what + " must be a scalar or a 1-D tensor");
  const int64_t n = NumElements(v.shape);
  // Shapes, axes, starts and repeats have one element per dimension: a longer list is a hostile
  // file, refused before the builder copies it or sizes anything by it.
  if (n > kMaxConstInts) {
    return Error(what + " has " + std::to_string(n) + " elements (at most " +
                 std::to_string(kMaxConstInts) + ")");
  }
  return std::vector<int64_t>(v.konst.ints(), v.konst.ints() + n);
}

StatusOr<std::vector<int64_t>> NodeBuilder::AxesInputOrAttr(size_t input, bool* given) const {
  *given = false;
  if (has_input(input)) {
    *given = true;
    return ConstInts(input, "axes");
  }
  if (auto a = AttrInts("axes"); a.has_value()) {
    *given = true;
    if (static_cast<int64_t>(a->size()) > kMaxConstInts) {
      return Error("axes has " + std::to_string(a->size()) + " elements (at most " +
                   std::to_string(kMaxConstInts) + ")");
    }
    return *a;
  }
  return std::vector<int64_t>{};
}

}  // namespace edge::inference
