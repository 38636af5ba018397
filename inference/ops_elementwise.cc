// Elementwise operators: Cast, the unary float functions (Eigen array expressions, vectorised),
// binary arithmetic and comparisons with numpy broadcasting, and Where.
#include <Eigen/Core>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "inference/node_builder.h"
#include "inference/ops.h"
#include "inference/tensor_walk.h"

namespace edge::inference {
namespace {

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

}  // namespace

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

}  // namespace edge::inference
