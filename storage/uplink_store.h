// UplinkStore: what the telemetry uplink (DESIGN §10) keeps in samples.db, and its reads of the
// stored readings by ordinal (storage/sample_db.h explains ordinals and the retention marks).
//
// Tables (schema version 3):
//   uplink_stream(name, next_seq, created_us)      one row per configured stream
//   uplink_cursor(stream, tag_id, ord, state)      per stream and tag: the next unsent ordinal
//                                                  and the stream filter's state (opaque bytes)
//   uplink_inflight(stream, seq, plan)             messages written ahead of their publish, until
//                                                  their PUBACK commits the cursors (opaque bytes)
// They live in samples.db, next to the readings they point into: both survive restarts together,
// and a samples.db moved aside as corrupt starts fresh cursors with its fresh data.
//
// Connection: its own read-write one (never the SampleWriter's), with a busy timeout so that a
// write waits for the writer's commit instead of failing. Each write method is one short
// BEGIN IMMEDIATE transaction. synchronous=FULL on this connection (the writer's is NORMAL): a
// written-ahead message or a committed cursor must survive a power cut, or a sequence number
// could be handed out twice for different readings (a few fsyncs per second, the uplink's rate).
// The reads see the last committed state of the writer; an open chunk that grows between two
// ReadFrom calls is picked up where the first stopped (its ord does not change).
//
// Thread-safety: one UplinkStore per thread (the uplink calls it from its one thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/sample.h"
#include "core/status.h"
#include "storage/sqlite_db.h"

namespace edge::storage {

struct StoredTag {
  int64_t id = 0;
  std::string name;
};

struct UplinkStreamRow {
  std::string name;
  uint64_t next_seq = 0;
  int64_t created_us = 0;
  bool created = false;  // this call created it
};

// Next unsent ordinal of a tag, and the stream filter's state (opaque to storage).
struct UplinkCursor {
  int64_t tag_id = 0;
  int64_t ord = 0;
  std::string state;
};

// A message written ahead of its publish; plan is opaque to storage.
struct UplinkInflight {
  uint64_t seq = 0;
  std::string plan;
};

struct TagExtent {
  int64_t removed_ord = 0;     // ordinals below were deleted by retention
  int64_t removed_end_us = 0;  // newest timestamp deleted by retention (0: none)
  int64_t end_ord = 0;         // next ordinal the writer will give (as committed)
};

// Result of ReadFrom.
struct OrdinalRead {
  // Ordinal of the first sample appended; > from_ord if retention removed [from_ord, first_ord).
  int64_t first_ord = 0;
  int64_t end_ord = 0;  // ordinal after the last appended sample
};

class UplinkStore {
 public:
  // Opens its own read-write connection to samples.db (already created by Storage::Open).
  // FailedPrecondition if the file is not at schema version 3.
  [[nodiscard]] static StatusOr<std::unique_ptr<UplinkStore>> Open(const std::string& samples_path);

  UplinkStore(const UplinkStore&) = delete;
  UplinkStore& operator=(const UplinkStore&) = delete;

  // Tags with id > after_id, by id.
  [[nodiscard]] StatusOr<std::vector<StoredTag>> TagsAfter(int64_t after_id);
  // The stream's row; a new one gets next_seq 1 and created_us = now_us.
  [[nodiscard]] StatusOr<UplinkStreamRow> LoadOrCreateStream(std::string_view name, int64_t now_us);
  // The stream's cursors, by tag_id.
  [[nodiscard]] StatusOr<std::vector<UplinkCursor>> LoadCursors(std::string_view stream);
  // The stream's written-ahead messages, in seq order.
  [[nodiscard]] StatusOr<std::vector<UplinkInflight>> LoadInflight(std::string_view stream);
  // One transaction: inserts the rows and sets uplink_stream.next_seq. NotFound if the stream
  // was never created; an error (and nothing written) if a seq is already in flight.
  [[nodiscard]] Status PutInflight(std::string_view stream, std::span<const UplinkInflight> rows,
                                   uint64_t next_seq);
  // One transaction: deletes the inflight rows with seq <= through_seq (0: none) and upserts
  // the cursors.
  [[nodiscard]] Status Commit(std::string_view stream, uint64_t through_seq,
                              std::span<const UplinkCursor> cursors);

  // Runs `body` in one transaction that the PutInflight and Commit calls it makes join instead
  // of opening their own: the uplink's round (cursors moved over the PUBACKed messages, the next
  // messages written ahead) then costs one fsync, not one per call (synchronous=FULL makes the
  // fsync most of a round's time). Everything rolls back if `body` or the COMMIT fails, so what
  // the body's calls wrote is durable only once this returns OK. Not nested.
  [[nodiscard]] Status InOneTransaction(const std::function<Status()>& body);

  // Samples of tag_id with ordinal >= from_ord, in ordinal order, at most max, appended to out
  // with Sample::tag = as. Sets *read. The samples appended are consecutive ordinals
  // [first_ord, end_ord); first_ord > from_ord means retention removed [from_ord, first_ord)
  // before they were read. When nothing is appended, first_ord = end_ord = max(from_ord,
  // removed_ord), so a cursor behind retention learns its gap from an empty read too.
  // DataLoss naming the tag and ordinal if a chunk does not decode to its n samples.
  [[nodiscard]] Status ReadFrom(int64_t tag_id, int64_t from_ord, size_t max, TagId as,
                                std::vector<Sample>& out, OrdinalRead* read);
  // NotFound for a tag id that is not in the file.
  [[nodiscard]] StatusOr<TagExtent> Extent(int64_t tag_id);
  // First ordinal of tag_id whose sample time is >= ts_us (end_ord if none): where a tag first
  // matched by a `start: now` stream begins (the stream's created_us).
  [[nodiscard]] StatusOr<int64_t> FirstOrdAtOrAfter(int64_t tag_id, int64_t ts_us);

  // Unsent backlog of a tag from from_ord: stored readings with ordinal >= from_ord, their
  // stored bytes (chunk blob bytes, pro rata for a partly sent chunk), and the time of the
  // oldest of them (0: none).
  struct Backlog {
    int64_t readings = 0;
    int64_t bytes = 0;
    int64_t oldest_us = 0;
  };
  [[nodiscard]] StatusOr<Backlog> BacklogOf(int64_t tag_id, int64_t from_ord);

 private:
  explicit UplinkStore(SqliteDb db) : db_(std::move(db)) {}
  [[nodiscard]] Status Prepare();
  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back if it or the COMMIT fails.
  template <typename Body>
  [[nodiscard]] Status InTransaction(Body&& body);
  // The first chunk of tag_id, in ordinal order, that may hold ordinal from_ord or a later one;
  // steps chunk_from_ (columns ord, n, data). Callers Reset() it.
  [[nodiscard]] StatusOr<bool> SeekChunk(int64_t tag_id, int64_t from_ord);

  SqliteDb db_;
  bool in_one_transaction_ = false;  // InOneTransaction's body runs: calls join its transaction
  Statement tags_after_;
  Statement stream_insert_;
  Statement stream_select_;
  Statement stream_set_seq_;
  Statement cursors_select_;
  Statement cursor_upsert_;
  Statement inflight_select_;
  Statement inflight_insert_;
  Statement inflight_delete_;
  Statement chunk_from_;
  Statement tag_extent_;
  Statement first_at_;
  Statement backlog_;
};

}  // namespace edge::storage
