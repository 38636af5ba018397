// The retention half of SampleWriter (storage/sample_writer.h): deleting chunks by size and by
// age, and the retention marks (tag.removed_ord, tag.removed_end_us) raised with them.
//
// Age retention works tag by tag, each tag's chunks in ordinal order: a chunk goes when it and
// every chunk of its tag with a lower ordinal are expired, i.e. their newest reading is older
// than now - storage.retention or dated beyond now + storage.max_clock_skew
// (storage/timestamp_bounds.h). A tag thus loses its oldest ordinals first, as tag.removed_ord
// promises, and the uplink's gap messages count exactly the readings deleted. Looking tag by
// tag, not at the oldest rowids, is what keeps one tag's chunk dated 2100 (which no time order
// can ever age) from blocking the deletion of every other tag's old data behind it.
//
// Thread-safety: the writer thread only, like the rest of SampleWriter's private state.
#include <algorithm>
#include <vector>

#include "storage/chunk_codec.h"
#include "storage/sample_db.h"
#include "storage/sample_writer.h"
#include "storage/timestamp_bounds.h"

namespace edge::storage {

Status SampleWriter::StepDelete(Statement& stmt, Deleted* deleted) {
  Status s;
  for (;;) {
    StatusOr<bool> row = stmt.Step();
    if (!row.ok()) s = row.status();
    if (!s.ok() || !*row) break;
    const int64_t n = stmt.ColumnInt(2);
    const int64_t end_us = stmt.ColumnInt(3);
    ++deleted->chunks;
    deleted->samples += static_cast<uint64_t>(n);
    if (end_us > future_us_) deleted->future_samples += static_cast<uint64_t>(n);
    removed_.push_back(RemovedMark{stmt.ColumnInt(0), stmt.ColumnInt(1) + n, end_us});
  }
  stmt.Reset();
  return s;
}

SampleWriter::Deleted SampleWriter::DeleteInTransaction(const std::function<Status(Deleted*)>& body) {
  Deleted deleted;
  removed_.clear();
  Status s = db_.Exec("BEGIN IMMEDIATE");
  if (s.ok()) s = body(&deleted);
  if (s.ok()) s = RecordRemoved();
  if (s.ok()) s = db_.Exec("COMMIT");
  if (!s.ok()) {
    if (sqlite3_get_autocommit(db_.handle()) == 0) (void)db_.Exec("ROLLBACK");
    rate_log_.Warn("retention", "retention step failed: {}", s.message());
    return Deleted{-1, 0, 0};
  }
  return deleted;
}

Status SampleWriter::RecordRemoved() {
  // One UPDATE per tag, with the largest marks of its deleted chunks.
  std::sort(removed_.begin(), removed_.end(),
            [](const RemovedMark& a, const RemovedMark& b) { return a.tag_id < b.tag_id; });
  for (size_t i = 0; i < removed_.size();) {
    RemovedMark mark = removed_[i];
    for (++i; i < removed_.size() && removed_[i].tag_id == mark.tag_id; ++i) {
      mark.end_ord = std::max(mark.end_ord, removed_[i].end_ord);
      mark.end_us = std::max(mark.end_us, removed_[i].end_us);
    }
    mark_removed_.BindInt(1, mark.tag_id);
    mark_removed_.BindInt(2, mark.end_ord);
    mark_removed_.BindInt(3, mark.end_us);
    Status s = mark_removed_.Run();
    mark_removed_.Reset();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

void SampleWriter::RunSizeRetention() {
  StatusOr<int64_t> live = LiveBytes(db_);
  if (!live.ok()) return;
  {
    MutexLock lock(&stats_mu_);
    stats_.live_bytes = *live;
  }
  // Deleting must keep up with ingest however fast it is: a pass may take the budget plus twice
  // what the last commit took (deleting a chunk costs about what writing it did).
  std::chrono::steady_clock::duration budget = options_.retention_budget;
  {
    MutexLock lock(&stats_mu_);
    budget += 2 * stats_.last_commit_duration;
  }
  const auto deadline = std::chrono::steady_clock::now() + budget;
  const int64_t high = high_bytes_;
  const int64_t low = high_bytes_ / 10 * 9;
  if (*live > high) {
    while (*live > low && std::chrono::steady_clock::now() < deadline) {
      delete_oldest_.BindInt(1, retention_step_);
      const Deleted deleted =
          DeleteInTransaction([this](Deleted* d) { return StepDelete(delete_oldest_, d); });
      if (deleted.chunks <= 0) break;
      {
        MutexLock lock(&stats_mu_);
        stats_.chunks_deleted_size += static_cast<uint64_t>(deleted.chunks);
        stats_.samples_deleted_size += deleted.samples;
      }
      live = LiveBytes(db_);
      if (!live.ok()) return;
    }
    MutexLock lock(&stats_mu_);
    stats_.live_bytes = *live;
  }
  // The file itself over budget (the cap was lowered, or a burst before the cap applied):
  // hand free pages back to the file system, a bounded number per pass.
  StatusOr<int64_t> pages = db_.QueryInt("PRAGMA page_count");
  StatusOr<int64_t> free_pages = db_.QueryInt("PRAGMA freelist_count");
  if (pages.ok() && free_pages.ok() && *free_pages > 0 && *pages * page_size_ > high_bytes_) {
    (void)db_.Exec("PRAGMA incremental_vacuum(2048)");
  }
}

void SampleWriter::RunAgeRetention() {
  const TimestampBounds bounds = BoundsAt(ToMicros(clock_.Now()), config_);
  future_us_ = bounds.newest_us;
  const auto deadline = std::chrono::steady_clock::now() + options_.retention_budget;
  // A pass walks the tags from where the last one stopped to the last tag, in batches of
  // kTagsPerStep tags and at most retention_step_ chunks per transaction.
  constexpr int kTagsPerStep = 256;
  std::vector<int64_t> batch;
  while (std::chrono::steady_clock::now() < deadline) {
    batch.clear();
    tags_after_.BindInt(1, age_tag_cursor_);
    tags_after_.BindInt(2, kTagsPerStep);
    for (;;) {
      StatusOr<bool> row = tags_after_.Step();
      if (!row.ok() || !*row) break;
      batch.push_back(tags_after_.ColumnInt(0));
    }
    tags_after_.Reset();
    if (batch.empty()) {
      age_tag_cursor_ = 0;  // the next pass starts again at the first tag
      return;
    }
    int64_t cursor = age_tag_cursor_;
    const Deleted deleted = DeleteInTransaction([&](Deleted* d) -> Status {
      for (const int64_t tag : batch) {
        const int64_t room = retention_step_ - d->chunks;
        if (room <= 0) break;  // this tag is looked at again by the next step
        delete_aged_.BindInt(1, tag);
        delete_aged_.BindInt(2, bounds.oldest_us);
        delete_aged_.BindInt(3, bounds.newest_us);
        delete_aged_.BindInt(4, room);
        const int64_t before = d->chunks;
        EDGE_RETURN_IF_ERROR(StepDelete(delete_aged_, d));
        if (d->chunks - before == room) break;  // maybe more of this tag: look again
        cursor = tag;
      }
      return Status::Ok();
    });
    if (deleted.chunks < 0) return;
    age_tag_cursor_ = cursor;
    MutexLock lock(&stats_mu_);
    stats_.chunks_deleted_age += static_cast<uint64_t>(deleted.chunks);
    stats_.samples_deleted_age += deleted.samples;
    stats_.samples_deleted_future += deleted.future_samples;
  }
}

}  // namespace edge::storage
