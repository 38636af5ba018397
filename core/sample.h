// Sample: one reading of one tag, the unit that flows from the drivers through the ingest queue
// to storage and the window assembler.
//
// Kept small and trivially copyable (no strings, no pointers) so queues and batches of samples
// are plain preallocated arrays and nothing allocates per sample. The tag is a dense TagId
// interned at config load (core/tag_registry.h); the name is looked up only at the edges
// (export, logs, metrics).
//
// Layout (x86-64): tag 4 + pad 4, ts 8, value 8, quality 1 + pad 7 = 32 bytes. The member order
// is part of the API (aggregate initialisation `Sample{tag, ts, value, quality}`).
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace edge {

// Wall-clock time in UTC with microsecond resolution; the time a reading refers to.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

enum class Quality : uint8_t { kGood, kBad };

// Dense index into the TagRegistry: 0, 1, 2, ... in registration order.
using TagId = uint32_t;

struct Sample {
  TagId tag = 0;
  Timestamp ts{};
  double value = 0.0;
  Quality quality = Quality::kGood;
};

static_assert(std::is_trivially_copyable_v<Sample>);
static_assert(sizeof(Sample) <= 32);

// "good" / "bad": the spelling of the export CSV (DESIGN §4).
constexpr std::string_view QualityName(Quality q) { return q == Quality::kGood ? "good" : "bad"; }

}  // namespace edge
