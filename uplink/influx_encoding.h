// The `influx` encoding of telemetry messages (DESIGN §10): InfluxDB line protocol, one line per
// reading or aggregate period, each ending in '\n':
//   edge,gateway=<id>,tag=<tag> value=<float> <epoch ns>
//   edge,gateway=<id>,tag=<tag> bad=true <epoch ns>                       (bad quality)
//   edge,gateway=<id>,tag=<tag> raw="NaN" <epoch ns>                      (also "+Inf", "-Inf")
//   edge,gateway=<id>,tag=<tag> min=..,max=..,mean=..,last=..,count=<n>i <period start ns>
// Telegraf's mqtt_consumer with data_format = "influx" feeds it into InfluxDB; a point sent again
// after a fault lands on the same series and time, so it is idempotent. The header's stream, seq,
// asset and alarm_seq are not written: line protocol has no message envelope.
//
// Escaping of the tag values (gateway id, tag name), as line protocol requires: comma, equals
// sign, space and backslash get a backslash before them (InfluxDB reads "\\" as one backslash;
// without it a name ending in a backslash would escape the separator after it). A newline cannot
// appear in a tag value at all, so LF and CR are written as an escaped space: the point keeps its
// line and its other characters; the JSON encoding keeps the exact name.
// Float fields are the shortest text that reads back as the same double. An aggregate field
// that is not finite (a mean whose sum overflowed) is left out of its line; count always stays.
// Timestamps are µs × 1000 (valid until the year 2262, like any int64 ns time).
//
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "uplink/telemetry_message.h"

namespace edge::uplink {

// Payload of one message, written into out (cleared first; its capacity is reused). Series with
// no readings and no aggregates give no lines.
// REQUIRES: h.gateway and every Series::tag non-empty (line protocol has no empty tag value).
void EncodeInflux(const MessageHeader& h, std::span<const Series> series, std::string& out);

// Appends s escaped as a line protocol tag value (see above).
void AppendInfluxTagValue(std::string& out, std::string_view s);

}  // namespace edge::uplink
