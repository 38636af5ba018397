// TelemetryStream: one configured `uplink.telemetry` stream (DESIGN §10): which tags it carries,
// where its cursor stands in each of them, and how its messages are cut.
//
// Cursors: for each matched tag the ordinal of the next reading to send (storage/sample_db.h
// gives every stored reading of a tag a dense ordinal) and the tag's filter state there
// (uplink/stream_filter.h). Two positions are kept per tag:
//  - committed: in uplink_cursor, moved only when every message up to that point has its PUBACK;
//  - cut: how far the messages in the window reach (ahead of committed by the window).
// A restart resumes from the committed cursors and sends the written-ahead plans of the window
// again (uplink/message_plan.h), so a message keeps its seq and readings across a SIGKILL.
//
// Cutting a message visits the tags round robin, starting after the tag the last message ended
// on, and takes each tag's readings in ordinal order until the message holds `max_batch`
// readings (raw and deadband) or aggregate rows: one busy tag cannot hold back the others.
// Readings that retention removed before they were sent show up as a jump in the ordinals: the
// stream then sends a gap message first (DESIGN §10) whose plan moves the cursor over them.
//
// Where a tag starts when the stream first matches it: `start: oldest`, at its oldest stored
// reading; `start: now`, at its first reading at or after the stream's creation time (so a
// stream that exists already picks up a new tag from its first reading, and a widened glob does
// not send history from before the stream existed).
//
// Thread-safety: none; owned by the uplink thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/sample.h"
#include "core/status.h"
#include "storage/uplink_store.h"
#include "uplink/message_window.h"
#include "uplink/stream_filter.h"
#include "uplink/telemetry_message.h"

namespace edge::uplink {

// What /metrics and the status log show for one stream.
struct StreamStats {
  std::string name;
  size_t tags = 0;                // matched tags
  uint64_t messages = 0;          // confirmed by the broker since start
  uint64_t readings = 0;          // readings (or aggregate rows) in them
  uint64_t bytes = 0;             // payload bytes in them
  uint64_t gaps = 0;              // gap messages confirmed
  uint64_t gap_readings = 0;      // readings retention removed before they were sent
  uint64_t late_readings = 0;     // aggregate: readings for a period already sent
  uint64_t resent = 0;            // messages sent again (refused, or unconfirmed too long)
  int64_t backlog_readings = 0;   // stored, matched, not yet confirmed
  int64_t backlog_bytes = 0;      // their stored size (estimated from the chunk encoding)
  double backlog_growth_bytes_per_s = 0;  // between the last two backlog computations
  double lag_seconds = 0;         // age of the oldest reading not yet confirmed (0: none)
  int64_t oldest_unsent_us = 0;   // its time (0: none)
  size_t in_flight = 0;           // messages cut and not yet confirmed
};

class TelemetryStream {
 public:
  // `topic`: <prefix>/<gateway>/telemetry/<name>.
  TelemetryStream(config::TelemetryStream config, std::string gateway, std::string topic);

  const std::string& name() const { return config_.name; }
  const config::TelemetryStream& config() const { return config_; }
  MessageWindow& window() { return window_; }

  // Loads (or creates) the stream's row, its committed cursors and its written-ahead plans,
  // rebuilding those messages to be sent again.
  [[nodiscard]] Status Open(storage::UplinkStore& store, int64_t now_us);
  // Matches the tags samples.db gained since the last call.
  [[nodiscard]] Status DiscoverTags(storage::UplinkStore& store);
  // Cuts messages while the window has room and there is something to send.
  [[nodiscard]] Status Fill(storage::UplinkStore& store, int64_t now_us);
  // Moving the committed cursors over the confirmed messages at the front of the window, in
  // three steps so that the write can share the round's transaction
  // (UplinkStore::InOneTransaction) with the next messages' write-ahead:
  //  - TakeConfirmed: takes them out of the window (which makes room for the next cut);
  //  - WriteConfirmed: upserts the cursors past them and deletes their written-ahead plans;
  //  - Committed: once that write is durable (its transaction committed), moves the in-memory
  //    committed cursors and counts the messages. After a failed transaction the taken
  //    messages stay pending and the next round writes them again.
  // Returns true if taken messages wait for WriteConfirmed.
  bool TakeConfirmed();
  [[nodiscard]] Status WriteConfirmed(storage::UplinkStore& store);
  void Committed();
  // Recomputes the backlog figures (a query per tag: every few seconds, not per message).
  [[nodiscard]] Status RefreshBacklog(storage::UplinkStore& store, int64_t now_us);

  StreamStats stats() const;

 private:
  struct TagRun {
    int64_t tag_id = 0;
    std::string name;
    int64_t cut_ord = 0;         // next ordinal to cut
    TagFilterState cut_state;    // filter state at cut_ord
    int64_t committed_ord = 0;
    int64_t last_t_us = 0;       // time of the last reading cut (0: unknown)
    int64_t removed_ord = 0;     // retention removed the ordinals below (last RefreshBacklog)
    int64_t removed_end_us = 0;  // and readings up to this time
  };
  struct CutResult {
    MessagePlan plan;
    std::vector<TagRange> gaps;  // ranges retention removed: they go in a gap message
    std::vector<Series> series;
    uint64_t outputs = 0;
    uint64_t gap_readings = 0;
    int64_t gap_from_us = 0;
    int64_t gap_to_us = 0;
  };

  // Cuts one message (and a gap message before it when retention removed readings). False in
  // *made when nothing moved.
  [[nodiscard]] Status CutOne(storage::UplinkStore& store, int64_t now_us, bool* made);
  // Takes readings of `run` into `cut` (at most `room` outputs); appends its range.
  [[nodiscard]] Status CutTag(storage::UplinkStore& store, TagRun& run, int64_t now_us,
                              uint64_t room, CutResult& cut);
  // Rebuilds the payload of a data plan from its ranges (after a restart).
  [[nodiscard]] Status Rebuild(storage::UplinkStore& store, const MessagePlan& plan, uint64_t seq,
                               std::string* payload, uint64_t* outputs);
  // Feeds `samples` from `state` into a series; returns how many were taken (all, or up to the
  // point where the series holds `room` outputs).
  size_t Feed(std::span<const Sample> samples, TagFilterState& state, uint64_t room,
              Series& series);
  void Encode(uint64_t seq, const std::vector<Series>& series, std::string* payload) const;
  [[nodiscard]] Status StartPosition(storage::UplinkStore& store, int64_t tag_id,
                                     int64_t* ord) const;
  TagRun* FindRun(int64_t tag_id);

  const config::TelemetryStream config_;
  const ModeSpec mode_;
  const std::string gateway_;
  const std::string topic_;
  const std::string gap_topic_;

  int64_t created_us_ = 0;
  int64_t last_tag_id_ = 0;  // tags with ids up to here were looked at
  std::vector<TagRun> runs_;
  std::unordered_map<int64_t, size_t> run_index_;  // tag id -> runs_ index
  // Committed cursors of tags not (or not yet) matched, kept so that they are not lost.
  std::unordered_map<int64_t, storage::UplinkCursor> saved_;
  size_t next_run_ = 0;  // round robin: the tag the next cut starts at
  MessageWindow window_;
  std::vector<WindowEntry> confirmed_;  // taken from the window, not yet committed
  std::vector<storage::UplinkCursor> confirmed_cursors_;  // what WriteConfirmed wrote
  FilterCounters filter_counters_;
  std::vector<Sample> scratch_;
  std::string encode_buffer_;

  StreamStats stats_;
  int64_t backlog_at_us_ = 0;  // when the backlog was last computed
};

}  // namespace edge::uplink
