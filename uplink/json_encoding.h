// The `json` encoding of telemetry messages and the gap message (DESIGN §10):
//   {"gateway":..,"stream":..,"seq":N,["asset":..,"alarm_seq":N,]
//    "series":[{"tag":..,"t":[epoch µs,..],"v":[value|null,..]}, ..]}
// An aggregate series has "t" (period starts) with "min","max","mean","last","count" arrays
// instead of "v". null stands for a bad reading and for a value JSON cannot spell (NaN, ±Inf).
// Numbers are the shortest text that reads back as the same double.
//
// Why not build an nlohmann::json document: a backlog drain sends 200,000+ readings/s, and a
// document costs a heap node per number (bench/uplink_encode_bench.cc measures both). The payload
// is written straight into the caller's string; only strings (gateway, stream, tag, asset) go
// through nlohmann's serializer, so escaping (quotes, backslashes, control characters) is its,
// and invalid UTF-8 in a name is replaced by U+FFFD rather than failing the message.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "uplink/telemetry_message.h"

namespace edge::uplink {

// Payload of one message, written into out (cleared first; its capacity is reused). Series with
// no readings and no aggregates are skipped; a Series with both gives two entries with its tag,
// the readings first.
void EncodeJson(const MessageHeader& h, std::span<const Series> series, std::string& out);

// The gap message: retention removed `readings` readings of the stream, stored between from_us
// and to_us (epoch µs), before they were sent.
std::string EncodeGap(std::string_view gateway, std::string_view stream, int64_t from_us,
                      int64_t to_us, int64_t readings);

// Appends s as a JSON string literal, quotes included (escaped by nlohmann).
void AppendJsonString(std::string& out, std::string_view s);

}  // namespace edge::uplink
