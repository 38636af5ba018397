#include "storage/sample_writer.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "core/logging.h"
#include "core/time_format.h"
#include "storage/chunk_codec.h"
#include "storage/sample_db.h"
#include "storage/timestamp_bounds.h"

namespace edge::storage {
namespace {

constexpr std::chrono::milliseconds kStopPoll{50};

// Size budget (see the header): the WAL is checkpointed once it holds this much...
int64_t WalCheckpointBytes(uint64_t max_size) {
  return std::min<int64_t>(static_cast<int64_t>(max_size / 16), 16ll << 20);
}
// ...and a commit adds at most this much (11-18 bytes per sample plus B-tree slack).
constexpr int64_t kCommitBytesPerSample = 20;
// A small cap gets smaller transactions, so that one commit cannot overshoot it.
size_t EffectiveMaxBatch(size_t max_batch, uint64_t max_size) {
  return std::min<size_t>(max_batch,
                          std::max<size_t>(1024, max_size / (8 * kCommitBytesPerSample)));
}
int64_t CommitBytes(size_t max_batch) {
  return static_cast<int64_t>(max_batch) * kCommitBytesPerSample;
}

}  // namespace

StatusOr<std::unique_ptr<SampleWriter>> SampleWriter::Create(
    const std::string& db_path, const config::StorageConfig& config, const TagRegistry& tags,
    BoundedQueue<Sample>& queue, WriterOptions options, const Clock& clock) {
  SqliteOpenOptions open_options;
  open_options.create = false;
  EDGE_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::Open(db_path, open_options));
  const int64_t wal_bytes = WalCheckpointBytes(config.max_size_bytes);
  const int64_t commit_bytes =
      CommitBytes(EffectiveMaxBatch(options.max_batch, config.max_size_bytes));
  EDGE_ASSIGN_OR_RETURN(int64_t page_size, db.QueryInt("PRAGMA page_size"));
  EDGE_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = " +
                               std::to_string(wal_bytes + commit_bytes) +
                               "; PRAGMA wal_autocheckpoint = " +
                               std::to_string(std::max<int64_t>(wal_bytes / page_size, 16))));
  if (options.max_page_count > 0) {
    EDGE_RETURN_IF_ERROR(
        db.Exec("PRAGMA max_page_count = " + std::to_string(options.max_page_count)));
  }
  // Names interned from here on (by MQTT sources) are mapped by MapNewTags.
  const size_t known_tags = tags.size();
  std::vector<int64_t> db_tags;
  db_tags.reserve(known_tags);
  EDGE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  for (TagId id = 0; id < known_tags; ++id) {
    StatusOr<int64_t> db_id = InternTag(db, tags.Name(id));
    if (!db_id.ok()) {
      (void)db.Exec("ROLLBACK");
      return db_id.status();
    }
    db_tags.push_back(*db_id);
  }
  EDGE_RETURN_IF_ERROR(db.Exec("COMMIT"));
  std::unique_ptr<SampleWriter> writer(new SampleWriter(std::move(db), config, std::move(db_tags),
                                                        queue, std::move(options), clock, tags));
  writer->page_size_ = page_size;
  EDGE_ASSIGN_OR_RETURN(writer->insert_,
                        writer->db_.Prepare("INSERT INTO chunk(tag_id, start_us, end_us, n, "
                                            "data, ord) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  EDGE_ASSIGN_OR_RETURN(
      writer->update_,
      writer->db_.Prepare("UPDATE chunk SET end_us = ?2, n = ?3, data = ?4 WHERE id = ?1"));
  // Age retention, one tag at a time (storage/sample_retention.cc): the tag's chunks in ordinal
  // order up to, not including, its first chunk whose newest reading is plausible and young
  // (?2 <= end_us <= ?3), at most ?4 of them. Both subqueries walk chunk_by_tag_ord.
  EDGE_ASSIGN_OR_RETURN(
      writer->delete_aged_,
      writer->db_.Prepare("DELETE FROM chunk WHERE id IN (SELECT id FROM chunk WHERE tag_id = ?1 "
                          "AND ord < coalesce((SELECT ord FROM chunk WHERE tag_id = ?1 AND end_us "
                          ">= ?2 AND end_us <= ?3 ORDER BY ord LIMIT 1), 9223372036854775807) "
                          "ORDER BY ord LIMIT ?4) RETURNING tag_id, ord, n, end_us"));
  EDGE_ASSIGN_OR_RETURN(
      writer->tags_after_,
      writer->db_.Prepare("SELECT id FROM tag WHERE id > ?1 ORDER BY id LIMIT ?2"));
  EDGE_ASSIGN_OR_RETURN(
      writer->delete_oldest_,
      writer->db_.Prepare("DELETE FROM chunk WHERE id IN (SELECT id FROM chunk "
                          "ORDER BY id LIMIT ?1) RETURNING tag_id, ord, n, end_us"));
  EDGE_ASSIGN_OR_RETURN(
      writer->mark_removed_,
      writer->db_.Prepare("UPDATE tag SET removed_ord = max(removed_ord, ?2), removed_end_us = "
                          "max(removed_end_us, ?3) WHERE id = ?1"));
  EDGE_ASSIGN_OR_RETURN(writer->tag_extent_, writer->db_.Prepare(kTagExtentSql));
  for (size_t tag = 0; tag < writer->db_tags_.size(); ++tag) {
    EDGE_ASSIGN_OR_RETURN(writer->next_ord_[tag], writer->LoadNextOrdinal(writer->db_tags_[tag]));
  }
  return writer;
}

SampleWriter::SampleWriter(SqliteDb db, const config::StorageConfig& config,
                           std::vector<int64_t> db_tags, BoundedQueue<Sample>& queue,
                           WriterOptions options, const Clock& clock, const TagRegistry& tags)
    : db_(std::move(db)),
      config_(config),
      db_tags_(std::move(db_tags)),
      tags_(tags),
      queue_(queue),
      options_(std::move(options)),
      clock_(clock),
      max_batch_(EffectiveMaxBatch(options_.max_batch, config.max_size_bytes)),
      // The main file may hold this many live bytes: the cap minus the WAL (checkpoint size
      // plus one commit) minus one more commit that lands before the next size check.
      high_bytes_(static_cast<int64_t>(config.max_size_bytes) -
                  WalCheckpointBytes(config.max_size_bytes) - 2 * CommitBytes(max_batch_)),
      rate_log_(GetLogger("storage"), 3, std::chrono::minutes(1)),
      log_(GetLogger("storage")) {
  // A retention step rewrites up to one page per chunk it deletes, all of which go through
  // the WAL: keep a step well inside the WAL's checkpoint size.
  retention_step_ =
      std::clamp<int>(static_cast<int>(WalCheckpointBytes(config.max_size_bytes) / 4096 / 4), 16,
                      std::max(16, options_.retention_step));
  pending_.reserve(max_batch_);
  sorted_.reserve(max_batch_);
  tag_counts_.assign(db_tags_.size() + 1, 0);
  open_.resize(db_tags_.size());
  next_ord_.resize(db_tags_.size());
  blob_.reserve(kMaxChunkSamples * kMaxEncodedSampleBytes);
}

SampleWriter::~SampleWriter() { Stop(); }

Status SampleWriter::Start() {
  if (started_) return Status::FailedPrecondition("sample writer already started");
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void SampleWriter::Stop() {
  if (!thread_.joinable()) return;
  stop_.Request();
  thread_.join();
}

WriterStats SampleWriter::stats() const {
  MutexLock lock(&stats_mu_);
  return stats_;
}

void SampleWriter::Run() {
  using std::chrono::steady_clock;
  auto next_commit = steady_clock::now() + options_.commit_interval;
  next_age_retention_ = steady_clock::now();
  bool paused = false;
  for (;;) {
    heartbeat_.Beat();
    const bool stopping = stop_.requested();
    if (!stopping) {
      // Never block longer than kStopPoll in the queue: Stop() does not wake the queue's waiters.
      const auto wait = std::clamp<steady_clock::duration>(
          next_commit - steady_clock::now(), steady_clock::duration::zero(), kStopPoll);
      if (paused) {
        // Keep taking samples so that the queue never backs up; keep only the newest.
        queue_.PopBatch(pending_, max_batch_, wait);
        CapPendingWhilePaused();
      } else if (pending_.size() < max_batch_) {
        queue_.PopBatch(pending_, max_batch_ - pending_.size(), wait);
      }
    } else if (!paused && pending_.size() < max_batch_) {
      queue_.PopBatch(pending_, max_batch_ - pending_.size(), std::chrono::nanoseconds(0));
    }
    const auto now = steady_clock::now();
    const bool due = now >= next_commit || pending_.size() >= max_batch_ || stopping;
    if (!due) continue;
    if (!pending_.empty()) {
      const Status s = Commit();
      if (s.ok()) {
        if (paused) {
          MutexLock lock(&stats_mu_);
          log_->warn(
              "sample ingest resumed after {} ms; {} samples were dropped (oldest first) while "
              "it was paused",
              std::chrono::duration_cast<std::chrono::milliseconds>(now - paused_since_).count(),
              stats_.samples_dropped_disk_full - dropped_at_pause_);
          stats_.paused = false;
        }
        paused = false;
      } else {
        const bool full = s.code() == StatusCode::kResourceExhausted;
        {
          MutexLock lock(&stats_mu_);
          ++stats_.commit_failures;
          if (full) ++stats_.disk_full_events;
          if (!paused) dropped_at_pause_ = stats_.samples_dropped_disk_full;
          stats_.paused = true;
        }
        if (!paused) paused_since_ = now;
        paused = true;
        rate_log_.Error(full ? "disk-full" : "commit",
                        "sample ingest paused: {}; keeping the newest {} samples and retrying "
                        "every {} ms",
                        s.message(), max_batch_, options_.retry_interval.count());
      }
    }
    if (stopping && (paused || queue_.GetStats().depth == 0)) {
      if (paused) {
        log_->error("stopping with {} samples not stored (the database could not be written)",
                    pending_.size());
      }
      break;
    }
    RunSizeRetention();  // also while draining at stop: the cap holds through shutdown
    if (!stopping) {
      if (now >= next_age_retention_) {
        RunAgeRetention();
        next_age_retention_ = now + options_.retention_interval;
      }
    }
    next_commit =
        steady_clock::now() + (paused ? options_.retry_interval : options_.commit_interval);
  }
  rate_log_.Flush();
}

void SampleWriter::CapPendingWhilePaused() {
  if (pending_.size() <= max_batch_) return;
  const size_t excess = pending_.size() - max_batch_;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(excess));
  MutexLock lock(&stats_mu_);
  stats_.samples_dropped_disk_full += excess;
}

StatusOr<int64_t> SampleWriter::LoadNextOrdinal(int64_t db_tag) {
  tag_extent_.BindInt(1, db_tag);
  StatusOr<bool> row = tag_extent_.Step();
  const int64_t next = row.ok() && *row ? tag_extent_.ColumnInt(2) : 0;
  tag_extent_.Reset();
  if (!row.ok()) return row.status();
  return next;
}

void SampleWriter::MapNewTags() {
  const size_t known_tags = tags_.size();
  for (size_t id = db_tags_.size(); id < known_tags; ++id) {
    StatusOr<int64_t> db_id = InternTag(db_, tags_.Name(static_cast<TagId>(id)));
    StatusOr<int64_t> next_ord = db_id.ok() ? LoadNextOrdinal(*db_id) : db_id.status();
    if (!next_ord.ok()) {
      rate_log_.Error("tag", "cannot store tag {}: {}", tags_.Name(static_cast<TagId>(id)),
                      next_ord.status().message());
      break;  // retried with the next commit
    }
    db_tags_.push_back(*db_id);
    next_ord_.push_back(*next_ord);
  }
  tag_counts_.assign(db_tags_.size() + 1, 0);
  open_.resize(db_tags_.size());
}

void SampleWriter::RefuseImplausible() {
  const TimestampBounds bounds = BoundsAt(ToMicros(clock_.Now()), config_);
  uint64_t future = 0;
  Sample ex;
  auto refused = [&](const Sample& s) {
    if (!bounds.InFuture(ToMicros(s.ts))) return false;
    ++future;
    ex = s;
    return true;
  };
  const auto kept = std::remove_if(pending_.begin(), pending_.end(), refused);
  if (future == 0) return;
  pending_.erase(kept, pending_.end());
  const std::string name(ex.tag < tags_.size() ? tags_.Name(ex.tag) : std::string_view("?"));
  const std::string what =
      fmt::format("tag {:?} at {}", name.substr(0, 200), FormatRfc3339Millis(ex.ts));
  rate_log_.Warn("implausible-time",
                 "refused {} readings dated more than storage.max_clock_skew ({} s) ahead of "
                 "the agent's clock; the last: {}",
                 future, config_.max_clock_skew.count() / 1000, what);
  MutexLock lock(&stats_mu_);
  stats_.samples_refused_future += future;
  stats_.last_refused = what;
}

Status SampleWriter::Commit() {
  const auto started = std::chrono::steady_clock::now();
  RefuseImplausible();
  if (pending_.empty()) return Status::Ok();
  for (const Sample& s : pending_) {
    if (s.tag >= db_tags_.size()) {
      MapNewTags();
      break;
    }
  }
  // Counting sort by tag (stable, O(n)): each tag's samples become one contiguous run.
  std::fill(tag_counts_.begin(), tag_counts_.end(), 0);
  size_t unknown = 0;
  for (const Sample& s : pending_) {
    if (s.tag < db_tags_.size()) {
      ++tag_counts_[s.tag + 1];
    } else {
      ++unknown;
    }
  }
  for (size_t i = 1; i < tag_counts_.size(); ++i) tag_counts_[i] += tag_counts_[i - 1];
  sorted_.resize(pending_.size() - unknown);
  {
    std::vector<uint32_t> cursor(tag_counts_.begin(), tag_counts_.end() - 1);
    for (const Sample& s : pending_) {
      if (s.tag < db_tags_.size()) sorted_[cursor[s.tag]++] = s;
    }
  }
  if (unknown > 0) {
    rate_log_.Error("unknown-tag", "dropped {} samples with a tag id outside the registry",
                    unknown);
  }

  Status s = db_.Exec("BEGIN IMMEDIATE");
  if (s.ok()) {
    for (size_t tag = 0; tag < db_tags_.size() && s.ok(); ++tag) {
      const uint32_t begin = tag_counts_[tag];
      const uint32_t end = tag_counts_[tag + 1];
      if (end > begin) s = WriteTag(tag, sorted_.data() + begin, end - begin, next_ord_[tag]);
    }
    if (s.ok()) s = db_.Exec("COMMIT");
    if (!s.ok() && sqlite3_get_autocommit(db_.handle()) == 0) (void)db_.Exec("ROLLBACK");
  }
  if (!s.ok()) {
    // The rows of the open chunks may not hold what open_ says: forget them, the next commit
    // starts new chunks.
    for (OpenChunk& oc : open_) {
      oc.rowid = 0;
      oc.bytes.clear();
    }
    return s;
  }
  // Only now are the ordinals taken: a rolled-back commit hands out the same ones again.
  for (size_t tag = 0; tag < db_tags_.size(); ++tag) {
    next_ord_[tag] += tag_counts_[tag + 1] - tag_counts_[tag];
  }
  const size_t n = pending_.size() - unknown;
  pending_.clear();
  ++commit_number_;
  total_samples_ += n;
  {
    MutexLock lock(&stats_mu_);
    ++stats_.commits;
    stats_.samples_committed += n;
    stats_.last_commit_duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
  }
  if (options_.on_commit) options_.on_commit(CommitInfo{commit_number_, n, total_samples_});
  return Status::Ok();
}

Status SampleWriter::WriteTag(size_t tag, const Sample* first, size_t count, int64_t ord) {
  OpenChunk& oc = open_[tag];
  size_t i = 0;
  if (oc.rowid != 0 && oc.n < kOpenChunkSamples) {
    // Grow the open chunk in place while the samples are in order and within its span.
    ChunkEncoder encoder(oc.last_ts_us);
    size_t k = 0;
    int64_t end = oc.end_us;
    while (k < count && oc.n + static_cast<int>(k) < kMaxChunkSamples) {
      const int64_t ts = ToMicros(first[k].ts);
      if (ts < oc.start_us || ts - oc.start_us >= kMaxChunkSpan.count()) break;
      encoder.Append(first[k], oc.bytes);
      end = std::max(end, ts);
      ++k;
    }
    if (k > 0) {
      update_.BindInt(1, oc.rowid);
      update_.BindInt(2, end);
      update_.BindInt(3, oc.n + static_cast<int64_t>(k));
      update_.BindBlobStatic(4, oc.bytes);
      Status s = update_.Run();
      update_.Reset();
      if (!s.ok()) return s;
      if (sqlite3_changes(db_.handle()) == 1) {
        oc.n += static_cast<int>(k);
        oc.end_us = end;
        oc.last_ts_us = encoder.last_ts_us();
        i = k;
      }
      // else: retention deleted the row; the samples go into a new chunk below.
    }
    if (i == 0 || oc.n >= kOpenChunkSamples) {
      if (i == 0) oc.rowid = 0;
      oc.bytes.clear();
      if (oc.n >= kOpenChunkSamples) oc.rowid = 0;
    }
  }
  while (i < count) {
    size_t taken = 0;
    EDGE_RETURN_IF_ERROR(
        InsertChunk(tag, first + i, count - i, ord + static_cast<int64_t>(i), &taken));
    i += taken;
  }
  return Status::Ok();
}

Status SampleWriter::InsertChunk(size_t tag, const Sample* first, size_t count, int64_t ord,
                                 size_t* taken) {
  blob_.clear();
  ChunkEncoder encoder;
  const int64_t start = ToMicros(first[0].ts);
  int64_t end = start;
  size_t k = 0;
  while (k < count && k < static_cast<size_t>(kMaxChunkSamples)) {
    const int64_t ts = ToMicros(first[k].ts);
    if (k > 0 && (ts < start || ts - start >= kMaxChunkSpan.count())) break;
    encoder.Append(first[k], blob_);
    end = std::max(end, ts);
    ++k;
  }
  insert_.BindInt(1, db_tags_[tag]);
  insert_.BindInt(2, start);
  insert_.BindInt(3, end);
  insert_.BindInt(4, static_cast<int64_t>(k));
  insert_.BindBlobStatic(5, blob_);
  insert_.BindInt(6, ord);
  Status s = insert_.Run();
  insert_.Reset();
  if (!s.ok()) return s;
  OpenChunk& oc = open_[tag];
  if (static_cast<int>(k) < kOpenChunkSamples) {
    oc.rowid = sqlite3_last_insert_rowid(db_.handle());
    oc.start_us = start;
    oc.end_us = end;
    oc.n = static_cast<int>(k);
    oc.last_ts_us = encoder.last_ts_us();
    oc.bytes.assign(blob_.begin(), blob_.end());
  } else {
    oc.rowid = 0;
    oc.bytes.clear();
  }
  *taken = k;
  return Status::Ok();
}

}  // namespace edge::storage
