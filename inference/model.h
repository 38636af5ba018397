// A loaded ONNX model, ready to score windows: the graph planned once per batch size, with every
// buffer allocated at load and nothing allocated per call.
//
// Load() parses the file (inference/onnx_graph.h), then for each batch size 1..max_batch walks the
// nodes in order with the shapes those sizes give, folding everything that depends only on
// constants and shapes (the Shape/Gather/Unsqueeze/Concat/ConstantOfShape/Expand/Slice chains that
// torch emits around RNNs) into constants, and turning the rest into a list of kernel calls over
// one arena. Arena regions are reused once a value's last reader has run. An operator the engine
// does not know, an attribute value its kernels do not implement, or inconsistent shapes are load
// errors naming the node.
//
// Supported operators (default domain, opsets 13-17): the rows of inference/op_registry.cc and the
// README ("Supported ONNX operators"). The units behind Load: inference/graph_planner.h (the
// planner), inference/arena_allocator.h, inference/node_builder.h (what an operator sees),
// inference/ops_*.cc (the operators by family).
//
// Thread-safety: Load is reentrant. A Model is used by one thread at a time (Run writes the arena);
// several threads need several Models.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "inference/memory_budget.h"
#include "inference/tensor.h"

namespace edge::inference {

struct LoadOptions {
  int window = -1;    // time steps per window; -1: from the model's input shape (must be fixed)
  int features = -1;  // -1: from the model's input shape (must be fixed)
  int max_batch = 32;
  // Everything the loaded model may hold (inference/memory_budget.h); a file that needs more is
  // refused before the allocation that would pass it.
  int64_t memory_budget = kDefaultModelMemoryBudget;
};

struct ModelOutput {
  std::string name;
  Shape sample_shape;       // the output's shape without the leading batch dimension
  int64_t sample_size = 1;  // product of sample_shape
};

class Model {
 public:
  // Errors are kInvalidArgument, messages without the file name (the caller adds it).
  static StatusOr<std::unique_ptr<Model>> Load(std::string_view onnx_bytes,
                                               const LoadOptions& options);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  int window() const { return window_; }
  int features() const { return features_; }
  int max_batch() const { return max_batch_; }
  int64_t opset() const { return opset_; }
  const std::string& input_name() const { return input_name_; }
  const std::vector<ModelOutput>& outputs() const { return outputs_; }
  // "avx2+fma" or "baseline".
  const char* kernels() const;
  // Bytes of the arena shared by all batch sizes.
  int64_t arena_bytes() const { return arena_bytes_; }
  // Bytes the model holds as its budget counts them (arena included), and that budget.
  int64_t memory_bytes() const { return memory_bytes_; }
  int64_t memory_budget() const { return memory_budget_; }

  // Scores `batch` windows. `input` is [batch, window, features] float32, row-major, already
  // normalised. REQUIRES: 1 <= batch <= max_batch().
  void Run(const float* input, int batch);

  // Output i of the last Run: [batch, outputs()[i].sample_size], valid until the next Run.
  const float* output(int i) const;

  struct Plan;

 private:
  Model();

  int window_ = 0;
  int features_ = 0;
  int max_batch_ = 0;
  int64_t opset_ = 0;
  std::string input_name_;
  std::vector<ModelOutput> outputs_;
  std::vector<std::unique_ptr<Plan>> plans_;  // plans_[b - 1] for batch b
  AlignedBytes arena_;
  int64_t arena_bytes_ = 0;
  int64_t memory_bytes_ = 0;
  int64_t memory_budget_ = 0;
  int last_batch_ = 0;
};

// The operators Load() accepts, sorted (for the README and error messages).
const std::vector<std::string>& SupportedOperators();

// Versions of the libraries the engine is built on, one "  name  version" line each (Eigen,
// protobuf, ONNX protobuf classes) and the kernels this CPU runs, for `edge-agent version`.
std::string InferenceLibraryVersions();

}  // namespace edge::inference
