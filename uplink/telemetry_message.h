// What one telemetry message carries (DESIGN §10), independent of how it is encoded: the
// message header (gateway, stream, seq, and for alarm-context messages the asset and alarm seq)
// and, per tag, either its readings (raw and deadband streams) or its closed aggregate periods
// (aggregate streams). The encoders (uplink/json_encoding.h, uplink/influx_encoding.h) turn a
// header and a span of Series into one payload; the stream filters (uplink/stream_filter.h) fill
// the Series.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edge::uplink {

// One stored reading of a tag. A bad reading keeps its stored value, but no encoder writes it:
// JSON writes null, influx the field bad=true.
struct Reading {
  int64_t t_us = 0;  // epoch µs
  double value = 0;
  bool bad = false;
};

// One closed aggregate period [period_start_us, period_start_us + period) of a tag, over its good
// finite readings only; count >= 1 (a period without one is never sent).
struct Aggregate {
  int64_t period_start_us = 0;
  double min = 0, max = 0, mean = 0, last = 0;
  uint64_t count = 0;
};

// A tag's part of one message. A stream uses one of the two vectors; a Series with both empty is
// skipped by the encoders (no empty arrays in a message).
struct Series {
  std::string tag;
  std::vector<Reading> readings{};  // the {} let Series{tag, readings} leave out the rest
  std::vector<Aggregate> aggregates{};
};

// Views into the caller's strings: valid for the duration of one Encode call.
struct MessageHeader {
  std::string_view gateway;
  std::string_view stream;
  uint64_t seq = 0;
  std::string_view asset;             // alarm-context messages only ("" otherwise)
  std::optional<uint64_t> alarm_seq;  // alarm-context messages only
};

enum class Encoding { kJson, kInflux, kSparkplugB };  // sparkplug_b: issue #19, not built here

}  // namespace edge::uplink
