// Durations and byte sizes as technicians write them in the configuration file.
//
// Durations: one or more <number><unit> parts, summed, with no spaces: "250ms", "5s", "10m",
// "2h", "7d", "1.5s", "1h30m". Units: ms, s, m (minutes), h, d (24 h). A part may have a
// decimal fraction as long as the total is a whole number of milliseconds ("1.5s" is 1500 ms,
// "0.5ms" is an error). A bare number ("100") is an error: its unit would be a guess. A sign
// is an error (durations are never negative).
//
// Sizes: <number>[unit]. Units: B, KiB, MiB, GiB, TiB (powers of 1024) and kB, MB, GB, TB
// (powers of 1000), case-sensitive; no unit means bytes. A fraction is allowed with a unit
// ("1.5GiB") and is rounded down to a whole byte.
//
// Rates (bytes per second): a size followed by "/s" ("256KiB/s", "1MB/s", "500B/s"), or "0"
// (no limit). The "/s" is required otherwise: "256KiB" could be a size per anything. A rate
// that rounds down to 0 bytes per second ("0.5B/s") is an error, as 0 would mean unlimited.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edge::config {

// InvalidArgument with a message that quotes `text` and says what is wrong, e.g.
// "'100' needs a unit (ms, s, m, h, d), e.g. 100ms".
[[nodiscard]] StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// InvalidArgument with a message that quotes `text` and says what is wrong, e.g.
// "'512KB': unknown unit 'KB'; use kB (1000) or KiB (1024)".
[[nodiscard]] StatusOr<uint64_t> ParseSize(std::string_view text);

// InvalidArgument with a message that quotes `text` and says what is wrong, e.g.
// "'256KiB': a rate needs '/s' (bytes per second), e.g. 256KiB/s". 0 means no limit.
[[nodiscard]] StatusOr<uint64_t> ParseRate(std::string_view text);

// The shortest exact spelling in the largest unit that divides the value: "250ms", "5s",
// "90s", "10m", "2h", "7d", "0s". ParseDuration(FormatDuration(d)) == d.
std::string FormatDuration(std::chrono::milliseconds d);

// The largest binary unit that divides the value exactly: "2GiB", "512MiB", "1000B".
std::string FormatSize(uint64_t bytes);

// FormatSize and "/s" ("256KiB/s"); "0" for no limit. ParseRate(FormatRate(r)) == r.
std::string FormatRate(uint64_t bytes_per_second);

}  // namespace edge::config
