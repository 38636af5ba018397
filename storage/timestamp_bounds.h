// Which reading times the samples database accepts, judged against the agent's own clock
// (issue #23 item 5).
//
// A reading dated later than now + storage.max_clock_skew comes from a wrong clock (a sensor
// dated 2100). Stored, it would sit at the head of its tag until 2100: age retention deletes
// each tag's readings oldest ordinal first, so nothing stored after it could ever go by age.
// SampleWriter refuses such readings (counted, never stored, no ordinal) and age retention
// deletes stored chunks whose newest reading lies beyond the bound (written before this check
// existed, or before the agent's own clock was stepped back by more than the skew).
//
// A reading older than now - storage.retention is accepted: the next age retention pass (within
// WriterOptions::retention_interval) deletes it, and it has an ordinal, so the telemetry uplink
// reports it in a gap message like any other reading retention removed before it was sent.
//
// The agent's clock is the reference, so it must itself be plausible: while it reads before
// kClockFloorUs (a gateway without RTC before NTP answered, typically 1970 or 2000) nothing is
// judged to be in the future, or every reading ever stored would be.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

#include "config/config.h"

namespace edge::storage {

// 2025-01-01T00:00:00Z: no clock that reads earlier is trusted to judge the future.
inline constexpr int64_t kClockFloorUs = 1735689600LL * 1000000;

struct TimestampBounds {
  int64_t oldest_us = std::numeric_limits<int64_t>::min();  // older: deleted by age retention
  int64_t newest_us = std::numeric_limits<int64_t>::max();  // later: refused, and deleted

  bool InFuture(int64_t ts_us) const { return ts_us > newest_us; }
  // True when a time beyond newest_us counts as implausible (the agent's clock is sane).
  bool JudgesFuture() const { return newest_us != std::numeric_limits<int64_t>::max(); }
};

inline TimestampBounds BoundsAt(int64_t now_us, const config::StorageConfig& config) {
  using std::chrono::duration_cast;
  using std::chrono::microseconds;
  TimestampBounds b;
  b.oldest_us = now_us - duration_cast<microseconds>(config.retention).count();
  if (now_us >= kClockFloorUs) {
    b.newest_us = now_us + duration_cast<microseconds>(config.max_clock_skew).count();
  }
  return b;
}

}  // namespace edge::storage
