#include "inference/onnx_graph.h"

#include <onnx/common/version.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <set>

namespace edge::inference {
namespace {

Status Invalid(const std::string& what) { return Status::InvalidArgument(what); }

// The tensor's dimensions, within the engine's limits.
StatusOr<Shape> TensorShape(const onnx::TensorProto& proto, const std::string& where) {
  if (proto.dims_size() > 8) return Invalid(where + ": tensor rank above 8 is not supported");
  Shape shape;
  int64_t count = 1;
  for (int64_t d : proto.dims()) {
    if (d < 0) return Invalid(where + ": tensor has a negative dimension");
    if (d > kMaxTensorElements || (d > 0 && count > kMaxTensorElements / d)) {
      return Invalid(where + ": tensor is larger than the limit of " +
                     std::to_string(kMaxTensorElements) + " elements");
    }
    count *= d;
    shape.push_back(d);
  }
  return shape;
}

struct ElementType {
  DType dtype;
  size_t file_size;  // bytes per element in raw_data
};

// The engine's type for the file's element type (double becomes float, int32 int64).
StatusOr<ElementType> TensorElementType(const onnx::TensorProto& proto, const std::string& where) {
  switch (proto.data_type()) {
    case onnx::TensorProto::FLOAT:
      return ElementType{DType::kFloat, 4};
    case onnx::TensorProto::DOUBLE:
      return ElementType{DType::kFloat, 8};
    case onnx::TensorProto::INT64:
      return ElementType{DType::kInt64, 8};
    case onnx::TensorProto::INT32:
      return ElementType{DType::kInt64, 4};
    case onnx::TensorProto::BOOL:
      return ElementType{DType::kBool, 1};
    default:
      return Invalid(where + ": tensor element type " + std::to_string(proto.data_type()) +
                     " is not supported (float, double, int32, int64, bool are)");
  }
}

// Converts n elements of From, packed little-endian at src (the host's order: x86-64 and arm64),
// into To at dst.
template <typename From, typename To>
void ConvertPacked(const char* src, size_t n, std::byte* dst) {
  for (size_t i = 0; i < n; ++i) {
    From v;
    std::memcpy(&v, src + i * sizeof(From), sizeof(From));
    reinterpret_cast<To*>(dst)[i] = static_cast<To>(v);
  }
}

// Converts the n elements of raw_data into t.
// REQUIRES: raw_data holds n elements of proto.data_type(), one TensorElementType accepts.
void CopyRawData(const onnx::TensorProto& proto, size_t n, ConstTensor& t) {
  const char* src = proto.raw_data().data();
  std::byte* dst = t.mutable_bytes();
  switch (proto.data_type()) {
    case onnx::TensorProto::FLOAT:
      ConvertPacked<float, float>(src, n, dst);
      break;
    case onnx::TensorProto::DOUBLE:
      ConvertPacked<double, float>(src, n, dst);
      break;
    case onnx::TensorProto::INT64:
      ConvertPacked<int64_t, int64_t>(src, n, dst);
      break;
    case onnx::TensorProto::INT32:
      ConvertPacked<int32_t, int64_t>(src, n, dst);
      break;
    default:  // BOOL: any non-zero byte is true, stored as 1
      for (size_t i = 0; i < n; ++i) reinterpret_cast<uint8_t*>(dst)[i] = src[i] != 0 ? 1 : 0;
      break;
  }
}

// Elements in the typed field that holds this element type (INT32 and BOOL are in int32_data).
size_t TypedDataSize(const onnx::TensorProto& proto) {
  switch (proto.data_type()) {
    case onnx::TensorProto::FLOAT:
      return static_cast<size_t>(proto.float_data_size());
    case onnx::TensorProto::DOUBLE:
      return static_cast<size_t>(proto.double_data_size());
    case onnx::TensorProto::INT64:
      return static_cast<size_t>(proto.int64_data_size());
    default:
      return static_cast<size_t>(proto.int32_data_size());
  }
}

// Converts the n elements of the typed field into t. REQUIRES: TypedDataSize(proto) == n.
void CopyTypedData(const onnx::TensorProto& proto, size_t n, ConstTensor& t) {
  for (size_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(i);
    switch (proto.data_type()) {
      case onnx::TensorProto::FLOAT:
        reinterpret_cast<float*>(t.mutable_bytes())[i] = proto.float_data(k);
        break;
      case onnx::TensorProto::DOUBLE:
        reinterpret_cast<float*>(t.mutable_bytes())[i] = static_cast<float>(proto.double_data(k));
        break;
      case onnx::TensorProto::INT64:
        reinterpret_cast<int64_t*>(t.mutable_bytes())[i] = proto.int64_data(k);
        break;
      case onnx::TensorProto::BOOL:
        reinterpret_cast<uint8_t*>(t.mutable_bytes())[i] = proto.int32_data(k) != 0 ? 1 : 0;
        break;
      default:  // INT32
        reinterpret_cast<int64_t*>(t.mutable_bytes())[i] = proto.int32_data(k);
        break;
    }
  }
}

// The tensor's elements, converted once the file is known to hold exactly as many as its dims
// say and the budget has room for them: nothing is allocated for a tensor that is refused.
StatusOr<ConstTensor> ConvertTensor(const onnx::TensorProto& proto, const std::string& where,
                                    MemoryBudget& budget) {
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    return Invalid(where + ": tensor data stored in an external file is not supported");
  }
  EDGE_ASSIGN_OR_RETURN(Shape shape, TensorShape(proto, where));
  EDGE_ASSIGN_OR_RETURN(ElementType type, TensorElementType(proto, where));
  const size_t n = static_cast<size_t>(NumElements(shape));  // TensorShape bounds it
  auto size_error = [&](const std::string& have) {
    return Invalid(where + ": tensor " + ShapeToString(shape) + " needs " + std::to_string(n) +
                   " elements, the file has " + have);
  };
  if (proto.has_raw_data()) {
    const size_t bytes = proto.raw_data().size();
    if (bytes != n * type.file_size) {
      return size_error(std::to_string(bytes) + " bytes of raw_data for " +
                        std::to_string(n * type.file_size));
    }
  } else if (const size_t have = TypedDataSize(proto); have != n) {
    return size_error(std::to_string(have));
  }
  EDGE_RETURN_IF_ERROR(
      budget.Reserve(*TensorBytes(type.dtype, shape) + kTensorOverhead,
                     where + ": " + DTypeName(type.dtype) + " " + ShapeToString(shape)));
  ConstTensor t = MakeConstTensor(type.dtype, shape);
  if (proto.has_raw_data()) {
    CopyRawData(proto, n, t);
  } else {
    CopyTypedData(proto, n, t);
  }
  return t;
}

StatusOr<OnnxAttribute> ConvertAttribute(const onnx::AttributeProto& proto,
                                         const std::string& where, MemoryBudget& budget) {
  OnnxAttribute a;
  switch (proto.type()) {
    case onnx::AttributeProto::FLOAT:
      a.kind = OnnxAttribute::Kind::kFloat;
      a.f = proto.f();
      break;
    case onnx::AttributeProto::INT:
      a.kind = OnnxAttribute::Kind::kInt;
      a.i = proto.i();
      break;
    case onnx::AttributeProto::STRING:
      a.kind = OnnxAttribute::Kind::kString;
      a.s = proto.s();
      break;
    case onnx::AttributeProto::TENSOR: {
      a.kind = OnnxAttribute::Kind::kTensor;
      EDGE_ASSIGN_OR_RETURN(
          ConstTensor t,
          ConvertTensor(proto.t(), where + " attribute '" + proto.name() + "'", budget));
      a.t = std::move(t);
      break;
    }
    case onnx::AttributeProto::FLOATS:
      a.kind = OnnxAttribute::Kind::kFloats;
      a.floats.assign(proto.floats().begin(), proto.floats().end());
      break;
    case onnx::AttributeProto::INTS:
      a.kind = OnnxAttribute::Kind::kInts;
      a.ints.assign(proto.ints().begin(), proto.ints().end());
      break;
    case onnx::AttributeProto::STRINGS:
      a.kind = OnnxAttribute::Kind::kStrings;
      a.strings.assign(proto.strings().begin(), proto.strings().end());
      break;
    default:
      a.kind = OnnxAttribute::Kind::kOther;
      break;
  }
  return a;
}

OnnxValueInfo ConvertValueInfo(const onnx::ValueInfoProto& proto) {
  OnnxValueInfo v;
  v.name = proto.name();
  if (proto.type().has_tensor_type()) {
    const auto& tt = proto.type().tensor_type();
    v.elem_type = tt.elem_type();
    if (tt.has_shape()) {
      v.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        v.dims.push_back(d.has_dim_value() && d.dim_value() >= 0 ? d.dim_value() : -1);
      }
    }
  }
  return v;
}

}  // namespace

std::string OnnxLibraryVersions() {
  return std::string("protobuf ") + EDGE_PROTOBUF_VERSION + ", onnx " + onnx::LAST_RELEASE_VERSION;
}

StatusOr<OnnxGraph> ParseOnnxGraph(std::string_view bytes, MemoryBudget& budget) {
  if (bytes.empty()) return Invalid("empty file, not an ONNX model");
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) return Invalid("file larger than 2 GiB");
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Invalid("not a valid ONNX model (protobuf parse failed: truncated or corrupt)");
  }
  if (!model.has_graph()) return Invalid("not a valid ONNX model (no graph)");
  OnnxGraph g;
  g.producer = model.producer_name() + " " + model.producer_version();
  bool has_default_opset = false;
  for (const auto& op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") {
      g.opset = op.version();
      has_default_opset = true;
    }
  }
  if (!has_default_opset) return Invalid("not a valid ONNX model (no ai.onnx opset import)");

  const onnx::GraphProto& graph = model.graph();
  std::set<std::string> defined;
  for (const auto& init : graph.initializer()) {
    if (init.name().empty()) return Invalid("initializer without a name");
    EDGE_ASSIGN_OR_RETURN(ConstTensor t,
                          ConvertTensor(init, "initializer '" + init.name() + "'", budget));
    if (!g.initializers.emplace(init.name(), std::move(t)).second) {
      return Invalid("initializer '" + init.name() + "' is defined twice");
    }
    defined.insert(init.name());
  }
  for (const auto& in : graph.input()) {
    if (g.initializers.count(in.name()) != 0) continue;  // older exporters list weights as inputs
    if (in.name().empty()) return Invalid("graph input without a name");
    if (!defined.insert(in.name()).second) {
      return Invalid("graph input '" + in.name() + "' is defined twice");
    }
    g.inputs.push_back(ConvertValueInfo(in));
  }
  for (const auto& out : graph.output()) g.outputs.push_back(ConvertValueInfo(out));

  int index = 0;
  for (const auto& np : graph.node()) {
    OnnxNode n;
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.name = np.name().empty() ? n.op_type + " #" + std::to_string(index) : np.name();
    const std::string where = "node '" + n.name + "' (" + n.op_type + ")";
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const std::string& out : n.outputs) {
      if (out.empty()) continue;
      if (!defined.insert(out).second) {
        return Invalid(where + ": output '" + out + "' is defined twice");
      }
    }
    for (const auto& ap : np.attribute()) {
      EDGE_ASSIGN_OR_RETURN(OnnxAttribute a, ConvertAttribute(ap, where, budget));
      n.attributes[ap.name()] = std::move(a);
    }
    g.nodes.push_back(std::move(n));
    ++index;
  }
  return g;
}

}  // namespace edge::inference
