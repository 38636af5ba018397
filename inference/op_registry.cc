#include "inference/op_registry.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "inference/model.h"
#include "inference/ops.h"

namespace edge::inference {
namespace {

// Sorted by name in byte order (upper case before lower case: "GRU" before "Gather"), which
// FindOp's binary search and SupportedOperators() rely on.
// clang-format off
constexpr OpSpec kOps[] = {
    // name             builder            min_inputs  reads
    {"Abs",             OpAbs,             1, OpReads::kValues},
    {"Add",             OpAdd,             2, OpReads::kValues},
    {"Cast",            OpCast,            1, OpReads::kValues},
    {"Concat",          OpConcat,          1, OpReads::kValues},
    {"Constant",        OpConstant,        0, OpReads::kValues},
    {"ConstantOfShape", OpConstantOfShape, 1, OpReads::kValues},
    {"Div",             OpDiv,             2, OpReads::kValues},
    {"Dropout",         OpIdentity,        1, OpReads::kValues},
    {"Equal",           OpEqual,           2, OpReads::kValues},
    {"Exp",             OpExp,             1, OpReads::kValues},
    {"Expand",          OpExpand,          2, OpReads::kValues},
    {"Flatten",         OpFlatten,         1, OpReads::kValues},
    {"GRU",             OpGru,             3, OpReads::kValues},
    {"Gather",          OpGather,          2, OpReads::kValues},
    {"Gemm",            OpGemm,            2, OpReads::kValues},
    {"Greater",         OpGreater,         2, OpReads::kValues},
    {"Identity",        OpIdentity,        1, OpReads::kValues},
    {"LSTM",            OpLstm,            3, OpReads::kValues},
    {"LeakyRelu",       OpLeakyRelu,       1, OpReads::kValues},
    {"Less",            OpLess,            2, OpReads::kValues},
    {"Log",             OpLog,             1, OpReads::kValues},
    {"MatMul",          OpMatMul,          2, OpReads::kValues},
    {"Mul",             OpMul,             2, OpReads::kValues},
    {"Neg",             OpNeg,             1, OpReads::kValues},
    {"Pow",             OpPow,             2, OpReads::kValues},
    {"Reciprocal",      OpReciprocal,      1, OpReads::kValues},
    {"ReduceMax",       OpReduceMax,       1, OpReads::kValues},
    {"ReduceMean",      OpReduceMean,      1, OpReads::kValues},
    {"ReduceSum",       OpReduceSum,       1, OpReads::kValues},
    {"Relu",            OpRelu,            1, OpReads::kValues},
    {"Reshape",         OpReshape,         2, OpReads::kValues},
    {"Shape",           OpShape,           1, OpReads::kShapesOnly},
    {"Sigmoid",         OpSigmoid,         1, OpReads::kValues},
    {"Slice",           OpSlice,           3, OpReads::kValues},
    {"Softmax",         OpSoftmax,         1, OpReads::kValues},
    {"Sqrt",            OpSqrt,            1, OpReads::kValues},
    {"Squeeze",         OpSqueeze,         1, OpReads::kValues},
    {"Sub",             OpSub,             2, OpReads::kValues},
    {"Tanh",            OpTanh,            1, OpReads::kValues},
    {"Tile",            OpTile,            2, OpReads::kValues},
    {"Transpose",       OpTranspose,       1, OpReads::kValues},
    {"Unsqueeze",       OpUnsqueeze,       1, OpReads::kValues},
    {"Where",           OpWhere,           3, OpReads::kValues},
};
// clang-format on

constexpr bool SortedAndUnique() {
  for (size_t i = 1; i < std::size(kOps); ++i) {
    if (!(kOps[i - 1].name < kOps[i].name)) return false;
  }
  return true;
}
static_assert(SortedAndUnique(), "kOps must be sorted by name, each name once");

}  // namespace

std::span<const OpSpec> OpTable() { return kOps; }

const OpSpec* FindOp(std::string_view op_type) {
  const auto it =
      std::lower_bound(std::begin(kOps), std::end(kOps), op_type,
                       [](const OpSpec& row, std::string_view name) { return row.name < name; });
  return it != std::end(kOps) && it->name == op_type ? &*it : nullptr;
}

const std::vector<std::string>& SupportedOperators() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>();
    for (const OpSpec& row : kOps) v->emplace_back(row.name);
    return v;
  }();
  return *names;
}

}  // namespace edge::inference
