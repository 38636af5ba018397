// Per-tag stream filters of the telemetry uplink (DESIGN §10 "Semantics"): what a stream sends of
// one tag's readings, fed one by one in ordinal order (the order storage gave them).
//   raw        every reading; a bad one as bad (null in JSON).
//   deadband   the tag's first reading; then a good reading whose |value − last sent value| is
//              greater than the band (absolute, or percent of |last sent value|); a bad reading
//              when the last sent one was good; the first good reading after a bad one; and any
//              reading at least max_interval (reading time) after the last sent one. A good value
//              that is not finite counts as changed unless it equals the last sent one (NaN
//              equals NaN here), since |NaN − x| > band is never true.
//   aggregate  per period [t, t + period), aligned to the Unix epoch: min, max, mean, last and
//              count of the good finite readings. A period is sent when a reading (good or bad)
//              at or after its end arrives, or by FlushByClock; one with no good finite reading
//              is not sent. A reading for a period that is closed (sent, or skipped because a
//              later reading already arrived) is late: counted, not sent. The mean is
//              sum / count clamped to [min, max] (rounding), NaN if the sum overflowed.
//
// The state of a tag (TagFilterState) is what must survive a restart so that a message cut again
// after a fault carries the same readings: it is saved with the cursor (SaveState/LoadState).
// A state built for another mode starts fresh; an aggregate state built with another period
// closes its open period as it was (sent, if it has a good reading) before the new period
// applies.
//
// Layout of SaveState's bytes (integers and doubles 8 bytes little endian, IEEE-754 doubles):
//   u8 version (1), u8 kind (0 raw, 1 deadband, 2 aggregate), then
//   raw:        nothing
//   deadband:   u8 flags (bit 0 sent, bit 1 last sent bad); if sent: f64 last value, i64 its time
//   aggregate:  i64 period_us, u8 flags (bit 0 a period is open, bit 1 a period was closed);
//               if closed: i64 closed_end_us;  if open: i64 open_start_us, u64 count, and if
//               count > 0: f64 min, max, sum, last
// LoadState accepts exactly this and nothing else (no trailing bytes, no unknown flag bits,
// times and periods within sane bounds), so a damaged row starts the tag fresh instead of
// feeding garbage into a message.
//
// Thread-safety: pure functions over caller-owned values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "uplink/telemetry_message.h"

namespace edge::uplink {

struct ModeSpec {
  enum class Kind : uint8_t { kRaw, kDeadband, kAggregate } kind = Kind::kRaw;
  double band = 0;  // deadband, >= 0: absolute, or percent of |last sent value|
  bool percent = false;
  int64_t max_interval_us = 0;  // deadband; 0: none
  int64_t period_us = 0;        // aggregate; REQUIRES > 0
};

struct DeadbandState {
  bool sent = false;      // a reading of the tag was sent
  bool last_bad = false;  // the last sent reading was bad
  double last_value = 0;  // the last sent reading
  int64_t last_t_us = 0;
};

struct AggregateState {
  int64_t period_us = 0;      // the period this state was built with
  bool closed = false;        // some period was closed: readings before closed_end_us are late
  int64_t closed_end_us = 0;
  bool open = false;          // a reading arrived for [open_start_us, + period_us)
  int64_t open_start_us = 0;  // readings before it are late too
  uint64_t count = 0;         // good finite readings of the open period, and over them:
  double min = 0, max = 0, sum = 0, last = 0;
};

struct TagFilterState {
  ModeSpec::Kind kind = ModeSpec::Kind::kRaw;  // the mode the state was built for
  DeadbandState deadband;
  AggregateState aggregate;
};

struct FilterCounters {
  uint64_t late_readings = 0;  // aggregate: readings for a closed period
  uint64_t suppressed = 0;     // deadband: readings not sent
};

// Feeds one reading in ordinal order; appends to out.readings / out.aggregates what the mode sends
// now. out.tag is the caller's.
void Feed(const ModeSpec& m, TagFilterState& s, const Reading& r, Series& out, FilterCounters& c);

// Aggregate only: closes the open period if now_us >= its end + max(period, 5 s). Returns true if
// it appended (a closed period without a good reading appends nothing).
// REQUIRES: every stored reading of the tag was fed: a period closed while storage still holds
// readings of it would count them late.
bool FlushByClock(const ModeSpec& m, TagFilterState& s, int64_t now_us, Series& out);

// Compact bytes (stored in uplink_cursor.state), layout above.
std::string SaveState(const TagFilterState& s);
// False when the bytes are damaged (the caller starts the tag fresh and logs); *s is then
// unchanged.
bool LoadState(std::string_view bytes, TagFilterState* s);

}  // namespace edge::uplink
