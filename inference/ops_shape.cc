// Constants, shapes and data movement: the operators torch.onnx.export emits around RNN layers
// (Shape -> Gather -> Unsqueeze -> Concat -> ConstantOfShape chains, Transpose, Slice of the last
// step). Most of them fold at load, their inputs being constants or shapes; Reshape, Squeeze,
// Unsqueeze, Flatten, Identity and transposes that only move size-1 dimensions are views of their
// input (NodeBuilder::Alias), not copies.
#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "inference/node_builder.h"
#include "inference/ops.h"
#include "inference/tensor_walk.h"

namespace edge::inference {

Status OpConstant(NodeBuilder& b) {
  // The value tensor was reserved in the budget when the file was parsed: every plan shares it.
  if (const OnnxAttribute* a = b.Attr("value"); a != nullptr && a->t.has_value()) {
    return b.ConstOutput(0, *a->t);
  }
  // The list forms are copied from the attribute, which outlives the folding kernel.
  if (const OnnxAttribute* vf = b.Attr("value_float"); vf != nullptr) {
    EDGE_ASSIGN_OR_RETURN(Ref out, b.Output(0, DType::kFloat, {}));
    b.AddKernel([out, vf](std::byte* arena) { *reinterpret_cast<float*>(out.Get(arena)) = vf->f; });
  } else if (const OnnxAttribute* vi = b.Attr("value_int"); vi != nullptr) {
    EDGE_ASSIGN_OR_RETURN(Ref out, b.Output(0, DType::kInt64, {}));
    b.AddKernel(
        [out, vi](std::byte* arena) { *reinterpret_cast<int64_t*>(out.Get(arena)) = vi->i; });
  } else if (const OnnxAttribute* vfs = b.Attr("value_floats"); vfs != nullptr) {
    EDGE_ASSIGN_OR_RETURN(Ref out,
                          b.Output(0, DType::kFloat, {static_cast<int64_t>(vfs->floats.size())}));
    b.AddKernel([out, vfs](std::byte* arena) {
      std::copy(vfs->floats.begin(), vfs->floats.end(), reinterpret_cast<float*>(out.Get(arena)));
    });
  } else if (const OnnxAttribute* vis = b.Attr("value_ints"); vis != nullptr) {
    EDGE_ASSIGN_OR_RETURN(Ref out,
                          b.Output(0, DType::kInt64, {static_cast<int64_t>(vis->ints.size())}));
    b.AddKernel([out, vis](std::byte* arena) {
      std::copy(vis->ints.begin(), vis->ints.end(), reinterpret_cast<int64_t*>(out.Get(arena)));
    });
  } else {
    return b.Error("no supported value attribute (value, value_float(s), value_int(s))");
  }
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

Status OpSqueeze(NodeBuilder& b) {
  bool given;
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, b.AxesInputOrAttr(1, &given));
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
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> axes, b.AxesInputOrAttr(1, &given));
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
  // The target comes from the file: checked before its element count is computed.
  EDGE_RETURN_IF_ERROR(b.CheckShape(out));
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

}  // namespace edge::inference
