#include "inference/model.h"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "inference/graph_planner.h"
#include "inference/onnx_graph.h"
#include "inference/rnn_kernels.h"

namespace edge::inference {
namespace {

constexpr int64_t kMinOpset = 13;
constexpr int64_t kMaxOpset = 17;

// What the graph must declare to be a model of this engine: a supported opset, exactly one float
// input of rank 3, at least one output.
Status CheckGraphInterface(const OnnxGraph& graph) {
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
  return Status::Ok();
}

// "[?,64,8]".
std::string DimsText(const OnnxValueInfo& in) {
  std::string s = "[";
  for (size_t i = 0; i < in.dims.size(); ++i) {
    s += (i > 0 ? "," : "") + (in.dims[i] < 0 ? std::string("?") : std::to_string(in.dims[i]));
  }
  return s + "]";
}

struct InputSize {
  int window = 0;
  int features = 0;
};

// The window and feature count: the input's fixed dimensions, which the options may repeat but
// not contradict, or the options where the model leaves them open.
StatusOr<InputSize> ResolveInputSize(const OnnxValueInfo& in, const LoadOptions& options) {
  InputSize size{options.window, options.features};
  if (in.dims[1] >= 0) {
    if (size.window >= 0 && size.window != in.dims[1]) {
      return Status::InvalidArgument("window " + std::to_string(size.window) +
                                     " disagrees with the model's input shape " + DimsText(in) +
                                     " (window " + std::to_string(in.dims[1]) + ")");
    }
    size.window = static_cast<int>(in.dims[1]);
  }
  if (in.dims[2] >= 0) {
    if (size.features >= 0 && size.features != in.dims[2]) {
      return Status::InvalidArgument(
          std::to_string(size.features) + " features disagree with the model's input shape " +
          DimsText(in) + " (" + std::to_string(in.dims[2]) + " features)");
    }
    size.features = static_cast<int>(in.dims[2]);
  }
  if (size.window <= 0 || size.features <= 0 || size.window > 1'000'000 ||
      size.features > 100'000) {
    return Status::InvalidArgument("input shape " + DimsText(in) +
                                   " does not give a usable window and feature count");
  }
  if (options.max_batch < 1 || options.max_batch > 1024) {
    return Status::InvalidArgument("max_batch must be 1..1024");
  }
  return size;
}

// The plans for batch sizes 1..last_batch, and what they agree on.
struct PlannedBatches {
  std::vector<std::unique_ptr<Model::Plan>> plans;  // plans[b - 1] for batch b
  std::vector<ModelOutput> outputs;
  int64_t arena_bytes = 0;
};

// ModelOutputs from the shapes the first plan gives, or an error when a later plan's per-window
// shapes differ from them.
Status RecordOutputShapes(const OnnxGraph& graph, const std::vector<Shape>& shapes,
                          std::vector<ModelOutput>& outputs) {
  if (outputs.empty()) {
    for (size_t i = 0; i < graph.outputs.size(); ++i) {
      ModelOutput out;
      out.name = graph.outputs[i].name;
      out.sample_shape.assign(shapes[i].begin() + 1, shapes[i].end());
      out.sample_size = NumElements(out.sample_shape);
      outputs.push_back(std::move(out));
    }
    return Status::Ok();
  }
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    if (Shape(shapes[i].begin() + 1, shapes[i].end()) != outputs[i].sample_shape) {
      return Status::InvalidArgument("output '" + graph.outputs[i].name +
                                     "' changes its per-window shape with the batch size");
    }
  }
  return Status::Ok();
}

StatusOr<PlannedBatches> PlanBatches(const OnnxGraph& graph, int last_batch, InputSize size,
                                     MemoryBudget& budget) {
  PlannedBatches planned;
  NodeCache cache;
  planned.plans.resize(static_cast<size_t>(last_batch));
  for (int b = 1; b <= last_batch; ++b) {
    Planner planner(graph, cache, budget, b, size.window, size.features);
    EDGE_ASSIGN_OR_RETURN(std::unique_ptr<Model::Plan> plan, planner.Build());
    if (b == 1) {
      // Kernels point into the initializers' storage; the model outlives `graph`.
      for (const auto& [name, t] : graph.initializers) plan->keep_alive.push_back(t.storage);
    }
    EDGE_RETURN_IF_ERROR(RecordOutputShapes(graph, planner.output_shapes(), planned.outputs));
    planned.arena_bytes = std::max(planned.arena_bytes, plan->arena_bytes);
    planned.plans[static_cast<size_t>(b - 1)] = std::move(plan);
  }
  return planned;
}

}  // namespace

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
  if (options.memory_budget <= 0) return Status::InvalidArgument("memory budget must be positive");
  MemoryBudget budget(options.memory_budget);
  OnnxGraph graph;
  try {
    EDGE_ASSIGN_OR_RETURN(graph, ParseOnnxGraph(onnx_bytes, budget));
  } catch (const std::bad_alloc&) {
    return Status::InvalidArgument("out of memory while reading the model");
  }
  EDGE_RETURN_IF_ERROR(CheckGraphInterface(graph));
  const OnnxValueInfo& in = graph.inputs[0];
  EDGE_ASSIGN_OR_RETURN(InputSize size, ResolveInputSize(in, options));
  if (in.dims[0] > 1) {
    return Status::InvalidArgument("input '" + in.name + "' has a fixed batch size of " +
                                   std::to_string(in.dims[0]) +
                                   "; export it with a dynamic batch axis (dynamic_axes)");
  }
  // A model with a fixed batch dimension (of 1) gets the plan for that size only.
  const int last_batch = in.dims[0] > 0 ? 1 : options.max_batch;
  PlannedBatches planned;
  try {
    EDGE_ASSIGN_OR_RETURN(planned, PlanBatches(graph, last_batch, size, budget));
  } catch (const std::bad_alloc&) {
    return Status::InvalidArgument("out of memory while planning the model");
  }
  std::unique_ptr<Model> model(new Model());
  model->window_ = size.window;
  model->features_ = size.features;
  model->max_batch_ = last_batch;
  model->opset_ = graph.opset;
  model->input_name_ = in.name;
  model->outputs_ = std::move(planned.outputs);
  model->plans_ = std::move(planned.plans);
  model->arena_bytes_ = planned.arena_bytes;
  model->memory_bytes_ = budget.held();
  model->memory_budget_ = budget.limit();
  // Within the budget (the planner reserved it node by node); a machine that cannot give even
  // that is a load error, not an abort.
  try {
    model->arena_ = AllocateAligned(static_cast<size_t>(model->arena_bytes_));
  } catch (const std::bad_alloc&) {
    return Status::InvalidArgument("out of memory allocating the model's " +
                                   BytesText(model->arena_bytes_) + " of working memory");
  }
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
