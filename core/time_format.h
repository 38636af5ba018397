// RFC 3339 timestamps: the one text form of time in edge-agent (export CSV, MQTT messages,
// manifests, MQTT source payloads).
//
// Output is always UTC with exactly three fraction digits ("2026-11-23T10:00:00.123Z"), the form
// DESIGN §4 and §8 give. Input accepts any RFC 3339 date-time: 'T' (or 't' or a space) between
// date and time, an optional fraction of 1 to 9 digits (digits past microseconds are truncated),
// and 'Z' or a numeric offset ±hh:mm.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/sample.h"
#include "core/status.h"

namespace edge {

// Rounds toward the past to whole milliseconds: 10:00:00.123999 -> "10:00:00.123Z".
// REQUIRES: ts lies in years 0000..9999.
std::string FormatRfc3339Millis(Timestamp ts);

// Same text appended to `out`: no allocation once `out` has room (CSV export of many rows).
void AppendRfc3339Millis(Timestamp ts, std::string& out);

// InvalidArgument naming the text and the fault for anything that is not an RFC 3339 date-time.
// A leap second (":60") is accepted and read as the last microsecond of its minute, which keeps
// the order of samples.
[[nodiscard]] StatusOr<Timestamp> ParseRfc3339(std::string_view text);

}  // namespace edge
