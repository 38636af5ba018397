// SampleWriter: the storage writer thread. Takes samples from its queue (core/bounded_queue.h)
// and commits what gathers in one commit interval in one SQLite transaction into the per-tag
// chunk layout of storage/sample_db.h; runs retention (age and size) between commits.
//
// In the daemon (agent/pipeline.cc) the sources do not feed this queue directly: they push to
// the ingest queue, the scoring thread pops it, routes each batch to the models and forwards it
// to the storage queue that this writer drains. A slow disk therefore fills the storage queue
// (counted drops there) and never stalls scoring.
//
// DESIGN: threads. Start() launches one thread, the only user of the writer's own read-write
// connection to samples.db and of all state below that is not marked otherwise. It loops:
// pop samples (waiting at most kStopPoll = 50 ms, less when the next commit is due sooner),
// commit when `commit_interval` has passed since the last commit or `max_batch` samples are
// pending, then run one small retention step. Stop() raises a stop flag; the thread then takes
// what is left in the queue without waiting, commits it, and ends; Stop() joins it. The daemon
// first stops the sources, closes the ingest queue, joins the scoring thread and closes the
// storage queue, so nothing arrives after the drain.
//
// Faults, none of which stops the thread:
//  - SQLITE_BUSY: the connection's busy timeout and Exec's retries absorb it; a commit that still
//    fails is retried with the same samples.
//  - Disk full (SQLITE_FULL) or another write error: the transaction is rolled back and ingest
//    pauses: the writer keeps taking samples from the queue (so the queue never backs up into
//    its producer) but holds only the newest `max_batch` of them, dropping the OLDEST first
//    (counted in samples_dropped_disk_full), and retries every `retry_interval`. When a commit
//    succeeds again it logs how long ingest was paused and how much was dropped. Retention keeps
//    running, so pages it frees are reused. Rate-limited logs report the state.
//
// Implausible times (storage/timestamp_bounds.h): before each commit the writer drops the
// pending samples dated later than now + storage.max_clock_skew, counts them
// (samples_refused_future, the last one in last_refused) and logs them rate-limited. They get
// no ordinal.
//
// Ordinals (storage/sample_db.h): the writer keeps each tag's next ordinal in memory (loaded when
// the tag is mapped as max(max(ord + n), tag.removed_ord); a tag new to the file starts at 0),
// writes it as chunk.ord of every chunk it inserts, leaves ord alone when it grows an open chunk
// in place, and advances it only once the commit succeeded (a rolled-back commit gives the same
// ordinals again).
//
// Retention, oldest first, in small steps (each its own short transaction, which also raises
// tag.removed_ord and tag.removed_end_us of every tag it deleted chunks of):
//  - age: every `retention_interval`, walk the tags (storage/sample_retention.cc) and delete
//    each tag's chunks, in ordinal order, up to its first chunk whose newest sample is neither
//    older than now - storage.retention nor later than now + storage.max_clock_skew (so each tag
//    loses its oldest ordinals first, even when a source sent times out of order, and a chunk
//    dated in the future blocks nothing), at most `retention_step` chunks per transaction, while
//    the pass has used less than `retention_budget` (the next pass goes on where it stopped);
//  - size: the cap covers samples.db plus its WAL. The WAL is checkpointed at W = max_size/16
//    (at most 16 MiB) and truncated back to W + C by journal_size_limit, where C bounds one
//    commit (20 bytes per sample of max_batch, which is lowered for small caps). After every
//    commit, if the live bytes of samples.db exceed H = max_size - W - 2C, the oldest chunks
//    are deleted in steps until they are below 0.9 H (a pass takes at most retention_budget
//    plus twice the last commit's duration, so deletion keeps pace with any ingest rate). Freed
//    pages go to SQLite's free list and are reused by the next commits, so the file stops growing;
//    if the file itself is over H (the cap was lowered) PRAGMA incremental_vacuum gives pages back
//    to the file system.
//
// Thread-safety: Start/Stop from one owner thread; stats() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/heartbeat.h"
#include "core/mutex.h"
#include "core/rate_limited_log.h"
#include "core/sample.h"
#include "core/stop_signal.h"
#include "core/tag_registry.h"
#include "core/thread_annotations.h"
#include "storage/sqlite_db.h"

namespace edge::storage {

// Handed to WriterOptions::on_commit after each successful commit, on the writer thread.
struct CommitInfo {
  uint64_t commit_number = 0;  // 1, 2, ... in this writer's life
  size_t samples = 0;          // in this commit
  uint64_t total_samples = 0;  // committed by this writer so far
};

struct WriterOptions {
  std::chrono::milliseconds commit_interval{200};
  size_t max_batch = 1 << 16;  // samples per transaction at most
  std::chrono::milliseconds retry_interval{500};
  std::chrono::milliseconds retention_interval{1000};
  int retention_step = 1000;                       // chunks per retention statement
  std::chrono::milliseconds retention_budget{50};  // per retention pass
  // A hard limit on the file in pages (PRAGMA max_page_count); 0: none. Beyond it SQLite reports
  // SQLITE_FULL exactly as on a full disk, which is how tests simulate one without a mount.
  int64_t max_page_count = 0;
  // Called after each commit (tests and the crash-safety child use it to report progress).
  std::function<void(const CommitInfo&)> on_commit;
};

struct WriterStats {
  uint64_t commits = 0;
  uint64_t samples_committed = 0;
  uint64_t commit_failures = 0;            // transactions rolled back (any cause)
  uint64_t disk_full_events = 0;           // of which SQLITE_FULL
  uint64_t samples_dropped_disk_full = 0;  // oldest pending samples dropped while paused
  uint64_t chunks_deleted_age = 0;
  uint64_t samples_deleted_age = 0;
  uint64_t chunks_deleted_size = 0;
  uint64_t samples_deleted_size = 0;
  uint64_t samples_deleted_future = 0;  // of samples_deleted_age: in chunks dated in the future
  uint64_t samples_refused_future = 0;  // dated beyond now + storage.max_clock_skew
  std::string last_refused;             // the last refused reading: tag "name" at time
  bool paused = false;     // ingest paused by a failing commit right now
  int64_t live_bytes = 0;  // of samples.db after the last size check
  std::chrono::microseconds last_commit_duration{0};
};

class SampleWriter {
 public:
  // Opens a connection to `db_path` (already created by Storage::Open) and maps every tag of
  // `tags` to its persistent id. `tags`, `queue` and `clock` must outlive the writer.
  // Tags added to `tags` after Create (MQTT tag names built from topic levels, by other threads)
  // are mapped when their first sample arrives.
  [[nodiscard]] static StatusOr<std::unique_ptr<SampleWriter>> Create(
      const std::string& db_path, const config::StorageConfig& config, const TagRegistry& tags,
      BoundedQueue<Sample>& queue, WriterOptions options,
      const Clock& clock = SystemClockInstance());

  SampleWriter(const SampleWriter&) = delete;
  SampleWriter& operator=(const SampleWriter&) = delete;
  ~SampleWriter();  // Stop()s

  [[nodiscard]] Status Start();
  // Drains the queue (what is already in it), commits, and joins the thread. Idempotent.
  void Stop();

  WriterStats stats() const EXCLUDES(stats_mu_);
  // When the writer thread last went round its loop (at least every 50 ms while it is not
  // stuck in a commit): the daemon's watchdog checks it.
  const Heartbeat& heartbeat() const { return heartbeat_; }

 private:
  // One tag's newest chunk, kept so that small commits can grow it in place.
  struct OpenChunk {
    int64_t rowid = 0;  // 0: none
    int64_t start_us = 0;
    int64_t end_us = 0;
    int n = 0;
    int64_t last_ts_us = 0;
    std::vector<uint8_t> bytes;
  };

  SampleWriter(SqliteDb db, const config::StorageConfig& config, std::vector<int64_t> db_tags,
               BoundedQueue<Sample>& queue, WriterOptions options, const Clock& clock,
               const TagRegistry& tags);
  // Maps registry ids added since the last call to persistent ids (outside a transaction).
  void MapNewTags();

  void Run();
  Heartbeat heartbeat_;
  Status Commit();
  // Writes `count` samples of registry tag `tag`, the first with ordinal `ord`.
  Status WriteTag(size_t tag, const Sample* first, size_t count, int64_t ord);
  Status InsertChunk(size_t tag, const Sample* first, size_t count, int64_t ord, size_t* taken);
  // The next ordinal of persistent tag `db_tag`, as committed.
  StatusOr<int64_t> LoadNextOrdinal(int64_t db_tag);
  void RunSizeRetention();
  void RunAgeRetention();
  // Drops the pending samples whose time is implausible (storage/timestamp_bounds.h).
  void RefuseImplausible();
  // What a retention transaction deleted: chunks (-1 on error), samples in them, of which in
  // chunks dated beyond the future bound.
  struct Deleted {
    int64_t chunks = 0;
    uint64_t samples = 0;
    uint64_t future_samples = 0;
  };
  // Steps a bound DELETE ... RETURNING tag_id, ord, n, end_us to its end, adding to *deleted
  // and removed_.
  Status StepDelete(Statement& stmt, Deleted* deleted);
  // Runs `body` (StepDelete calls) and raises the retention marks of the tags it deleted from,
  // in one transaction.
  Deleted DeleteInTransaction(const std::function<Status(Deleted*)>& body);
  // What one retention step deleted of one tag (several rows per tag, merged before the UPDATE).
  struct RemovedMark {
    int64_t tag_id = 0;
    int64_t end_ord = 0;  // ord + n of a deleted chunk
    int64_t end_us = 0;
  };
  Status RecordRemoved();
  void CapPendingWhilePaused();

  SqliteDb db_;
  const config::StorageConfig config_;
  std::vector<int64_t> db_tags_;  // registry TagId -> tag.id
  std::vector<int64_t> next_ord_;  // registry TagId -> its next ordinal, as committed
  const TagRegistry& tags_;       // thread-safe; grows while the writer runs
  BoundedQueue<Sample>& queue_;
  const WriterOptions options_;
  const Clock& clock_;
  const size_t max_batch_;    // options_.max_batch, smaller for a small storage.max_size
  const int64_t high_bytes_;  // live bytes of samples.db above which the size retention runs
  int64_t page_size_ = 4096;
  int retention_step_ = 1000;  // chunks per retention statement
  RateLimitedLog rate_log_;
  std::shared_ptr<spdlog::logger> log_;

  Statement insert_;
  Statement update_;
  Statement delete_aged_;
  Statement tags_after_;
  int64_t age_tag_cursor_ = 0;  // the age pass goes on after this tag.id
  int64_t future_us_ = std::numeric_limits<int64_t>::max();  // of the running age pass
  Statement delete_oldest_;
  Statement tag_extent_;
  Statement mark_removed_;
  std::vector<RemovedMark> removed_;  // of the retention step running

  std::vector<Sample> pending_;
  std::vector<Sample> sorted_;
  std::vector<uint32_t> tag_counts_;
  std::vector<OpenChunk> open_;
  std::vector<uint8_t> blob_;
  uint64_t commit_number_ = 0;
  uint64_t total_samples_ = 0;
  std::chrono::steady_clock::time_point paused_since_{};
  uint64_t dropped_at_pause_ = 0;
  std::chrono::steady_clock::time_point next_age_retention_{};

  StopSignal stop_;
  std::thread thread_;
  bool started_ = false;

  mutable Mutex stats_mu_;
  WriterStats stats_ GUARDED_BY(stats_mu_);
};

}  // namespace edge::storage
