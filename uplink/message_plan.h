// MessagePlan: what one uplink message holds, written to samples.db (uplink_inflight) BEFORE
// the message is published, so that a message sent again after a restart keeps its seq and its
// readings (DESIGN §10: "messages are cut from the cursor deterministically").
//
// A data message is not stored as its payload (that would be a second copy of the readings on
// disk, for every message in flight): it is stored as the ordinal range it took from each tag,
// with the tag's filter state before and after (uplink/stream_filter.h), and the wall-clock time
// an aggregate stream flushed periods at. Readings at given ordinals never change, so re-running
// the filter over the same ranges from the same state gives the same message. Gap and
// alarm-context messages are small or derived, and are stored with their payload.
//
// The plan is kept as CBOR (nlohmann::json::to_cbor): compact, versioned by its keys, and
// parsed by a library rather than by hand.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace edge::uplink {

struct TagRange {
  int64_t tag_id = 0;     // persistent id (samples.db tag.id)
  int64_t from_ord = 0;   // first ordinal taken
  int64_t to_ord = 0;     // one past the last ordinal taken
  std::string start_state;  // filter state before the range (SaveState bytes)
  std::string end_state;    // filter state after it
  bool clock_flush = false;  // aggregate: FlushByClock(flush_us) ran after the range (the tag
                             // had no more stored readings then)

  bool operator==(const TagRange&) const = default;
};

struct MessagePlan {
  enum class Kind : int { kData = 1, kGap = 2, kPayload = 3 };
  Kind kind = Kind::kData;
  // The ordinals the message moves each tag's cursor over (kData: the readings it carries; kGap:
  // the readings retention removed), and the wall-clock time (epoch µs) aggregate periods were
  // flushed at (kData; 0: no clock flush). Empty for kPayload.
  std::vector<TagRange> ranges;
  int64_t flush_us = 0;
  // kGap and kPayload: the topic and payload as published (empty for kData).
  std::string topic;
  std::string payload;

  bool operator==(const MessagePlan&) const = default;
};

std::string SavePlan(const MessagePlan& plan);
// DataLoss describing the fault if `bytes` is not a plan this build wrote.
[[nodiscard]] StatusOr<MessagePlan> LoadPlan(std::string_view bytes);

}  // namespace edge::uplink
