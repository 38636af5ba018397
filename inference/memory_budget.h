// The memory a model may hold, counted while it is loaded and refused before it is allocated.
//
// A model file says how much memory its loading takes: the initializers it carries, but also the
// constants folded at load (a ConstantOfShape of [100000, 1000] is a 16-byte node and 400 MB of
// floats), the packed RNN weights and the arena its plans share. Everything of that goes through
// one MemoryBudget before the allocator is called: the sizes are computed from the shapes with
// overflow-checked arithmetic (TensorBytes), reserved, and a reservation that would take the model
// above its limit is a load error naming what asked for it and the sizes. The limit is
// LoadOptions::memory_budget (`models.memory_budget` in config/REFERENCE.md).
//
// What is counted: each initializer and tensor attribute as the engine stores it (float32, int64,
// a byte per bool), each folded constant of each batch size's plan, scratch of folded kernels,
// packed RNN weights, and the arena (one buffer shared by all plans, so its largest size); each
// tensor with kTensorOverhead for its bookkeeping, so that a million empty tensors count too. Not
// counted: the file's bytes and their protobuf parse, held only while Load runs (the artifact is
// bounded by kMaxArtifactBytes and, in a package, by the budget itself).
//
// Thread-safety: none; one loader uses one budget.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "inference/tensor.h"

namespace edge::inference {

// A line PC runs a few models next to the agent's buffers: 256 MiB each by default, ten times the
// largest model the bench exports (a 3-layer bidirectional LSTM of hidden 128 holds 5 MiB).
inline constexpr int64_t kDefaultModelMemoryBudget = int64_t{256} << 20;
// Bookkeeping per tensor (the map entry, the shared storage, the alignment padding), counted with
// its elements.
inline constexpr int64_t kTensorOverhead = 256;

// Elements of `shape`; nullopt when a dimension is negative or the product overflows int64.
std::optional<int64_t> CheckedNumElements(const Shape& shape);
// Bytes of a tensor of `shape` and `dtype`, without kTensorOverhead; nullopt as above.
std::optional<int64_t> TensorBytes(DType dtype, const Shape& shape);
// "812 bytes", "3.5 KiB", "1.5 GiB".
std::string BytesText(int64_t bytes);
// "float [100000,1000] (381.5 MiB)": a tensor as load errors name it.
std::string TensorText(DType dtype, const Shape& shape);

class MemoryBudget {
 public:
  explicit MemoryBudget(int64_t limit) : limit_(limit < 0 ? 0 : limit) {}

  // Counts `bytes` the model will hold, or refuses them with kInvalidArgument: "<what> needs
  // 381.5 MiB; the model would hold 1.1 GiB, above its memory budget of 256.0 MiB". Refused
  // bytes are not counted.
  [[nodiscard]] Status Reserve(int64_t bytes, const std::string& what);
  // The arena is one buffer shared by the plans of every batch size: it counts as the largest
  // size any plan asks for.
  [[nodiscard]] Status ReserveArena(int64_t bytes, const std::string& what);

  int64_t limit() const { return limit_; }
  // Everything reserved so far, arena included.
  int64_t held() const { return held_ + arena_; }

 private:
  [[nodiscard]] Status Refuse(int64_t bytes, int64_t total, const std::string& what) const;

  const int64_t limit_;
  int64_t held_ = 0;
  int64_t arena_ = 0;
};

}  // namespace edge::inference
