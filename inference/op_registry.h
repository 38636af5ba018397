// The operators the engine runs: one table, one row per ONNX operator (default domain), holding
// every fact the planner needs about it, as libmodbus keeps a backend in one modbus_backend_t.
// Adding an operator is one builder (inference/ops.h) and one row here; nothing else is keyed by
// operator name.
//
// Thread-safety: the table is a constant; lookups are reentrant.
#pragma once

#include <span>
#include <string_view>

#include "core/status.h"
#include "inference/node_builder.h"

namespace edge::inference {

using OpBuilder = Status (*)(NodeBuilder&);

// What the outputs of a node depend on, and so when the planner folds the node into constants.
enum class OpReads {
  kValues,      // the inputs' elements: folded when every input is a constant
  kShapesOnly,  // only the inputs' shapes, which are known at load (Shape): always folded
};

struct OpSpec {
  std::string_view name;  // the node's op_type
  OpBuilder build;
  // Inputs the builder cannot do without (it indexes them unchecked): a node with fewer, or with
  // one of them left empty, is a load error before the builder runs. Later inputs are optional.
  int min_inputs;
  OpReads reads;
};

// Every row, sorted by name (byte order), names unique (both checked at compile time).
std::span<const OpSpec> OpTable();

// The row of `op_type`, or null when the engine does not implement it.
const OpSpec* FindOp(std::string_view op_type);

}  // namespace edge::inference
