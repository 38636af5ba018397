// The operator builders, one function per ONNX operator, by the file that implements them. Each
// checks a node (inference/node_builder.h) and adds the kernels that compute it; the registry
// (inference/op_registry.cc) is the one place that maps operator names to them.
//
// Thread-safety: reentrant; each call builds one node of one plan.
#pragma once

#include "core/status.h"
#include "inference/node_builder.h"

namespace edge::inference {

// inference/ops_shape.cc: constants, shapes and data movement (views where the memory allows).
Status OpConstant(NodeBuilder& b);
Status OpShape(NodeBuilder& b);
Status OpConstantOfShape(NodeBuilder& b);
Status OpIdentity(NodeBuilder& b);  // also Dropout (inference only)
Status OpReshape(NodeBuilder& b);
Status OpFlatten(NodeBuilder& b);
Status OpSqueeze(NodeBuilder& b);
Status OpUnsqueeze(NodeBuilder& b);
Status OpTranspose(NodeBuilder& b);
Status OpGather(NodeBuilder& b);
Status OpConcat(NodeBuilder& b);
Status OpSlice(NodeBuilder& b);
Status OpExpand(NodeBuilder& b);
Status OpTile(NodeBuilder& b);

// inference/ops_elementwise.cc: casts, unary float functions, broadcast binary arithmetic and
// comparisons, Where.
Status OpCast(NodeBuilder& b);
Status OpSigmoid(NodeBuilder& b);
Status OpTanh(NodeBuilder& b);
Status OpRelu(NodeBuilder& b);
Status OpLeakyRelu(NodeBuilder& b);
Status OpAbs(NodeBuilder& b);
Status OpNeg(NodeBuilder& b);
Status OpExp(NodeBuilder& b);
Status OpLog(NodeBuilder& b);
Status OpSqrt(NodeBuilder& b);
Status OpReciprocal(NodeBuilder& b);
Status OpAdd(NodeBuilder& b);
Status OpSub(NodeBuilder& b);
Status OpMul(NodeBuilder& b);
Status OpDiv(NodeBuilder& b);
Status OpPow(NodeBuilder& b);
Status OpEqual(NodeBuilder& b);
Status OpLess(NodeBuilder& b);
Status OpGreater(NodeBuilder& b);
Status OpWhere(NodeBuilder& b);

// inference/ops_reduce.cc: reductions over axes, Softmax.
Status OpReduceSum(NodeBuilder& b);
Status OpReduceMean(NodeBuilder& b);
Status OpReduceMax(NodeBuilder& b);
Status OpSoftmax(NodeBuilder& b);

// inference/ops_matmul.cc: matrix products (inference/rnn_kernels.h's matmul).
Status OpMatMul(NodeBuilder& b);
Status OpGemm(NodeBuilder& b);

// inference/ops_rnn.cc: GRU and LSTM layers (inference/rnn_kernels.h).
Status OpGru(NodeBuilder& b);
Status OpLstm(NodeBuilder& b);

}  // namespace edge::inference
