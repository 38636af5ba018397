#include "storage/sample_reader.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>

#include "storage/chunk_codec.h"
#include "storage/sample_db.h"

namespace edge::storage {

StatusOr<SampleReader> SampleReader::Open(const std::string& db_path) {
  std::error_code ec;
  if (!std::filesystem::exists(db_path, ec)) {
    return Status::NotFound(db_path + ": no stored samples (the file does not exist)");
  }
  SqliteOpenOptions options;
  options.read_only = true;
  EDGE_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::Open(db_path, options));
  EDGE_ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  if (version < kOldestReadableSchemaVersion || version > kSampleSchemaVersion) {
    return Status::FailedPrecondition(db_path + ": schema version " + std::to_string(version) +
                                      ", this build reads versions " +
                                      std::to_string(kOldestReadableSchemaVersion) + " to " +
                                      std::to_string(kSampleSchemaVersion) +
                                      " (start the agent once to migrate it)");
  }
  // Memory-mapped reads: a tag's chunks are spread over many pages (rows of all tags are
  // interleaved in commit order), and mapped pages avoid a read(2) per page.
  EDGE_RETURN_IF_ERROR(db.Exec("PRAGMA mmap_size = 268435456"));
  SampleReader reader(std::move(db));
  EDGE_ASSIGN_OR_RETURN(reader.find_tag_, reader.db_.Prepare("SELECT id FROM tag WHERE name = ?1"));
  EDGE_ASSIGN_OR_RETURN(reader.range_,
                        reader.db_.Prepare("SELECT data, start_us, end_us, n FROM chunk "
                                           "WHERE tag_id = ?1 AND start_us >= ?2 AND "
                                           "start_us <= ?3 AND end_us >= ?4 ORDER BY start_us"));
  return reader;
}

StatusOr<std::vector<std::string>> SampleReader::TagNames() {
  EDGE_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("SELECT name FROM tag ORDER BY name"));
  std::vector<std::string> names;
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    names.emplace_back(stmt.ColumnText(0));
  }
  return names;
}

StatusOr<std::optional<int64_t>> SampleReader::FindTag(std::string_view tag) {
  find_tag_.BindText(1, tag);
  StatusOr<bool> row = find_tag_.Step();
  std::optional<int64_t> id;
  if (row.ok() && *row) id = find_tag_.ColumnInt(0);
  find_tag_.Reset();
  if (!row.ok()) return row.status();
  return id;
}

namespace {

// Keeps the samples of v[begin..] with from_us <= ts <= to_us, in order.
void KeepWithin(std::vector<Sample>& v, size_t begin, int64_t from_us, int64_t to_us) {
  size_t w = begin;
  for (size_t r = begin; r < v.size(); ++r) {
    const int64_t ts = ToMicros(v[r].ts);
    if (ts >= from_us && ts <= to_us) v[w++] = v[r];
  }
  v.resize(w);
}

}  // namespace

Status SampleReader::ForEachChunk(std::string_view tag, int64_t from_us, int64_t to_us,
                                  const std::function<Status(const ChunkRow&)>& on_chunk) {
  EDGE_ASSIGN_OR_RETURN(std::optional<int64_t> id, FindTag(tag));
  if (!id) return Status::Ok();
  // A chunk spans less than kMaxChunkSpan, so one that reaches `from` starts after
  // from - kMaxChunkSpan: that bounds the index scan.
  range_.BindInt(1, *id);
  range_.BindInt(2, from_us - kMaxChunkSpan.count());
  range_.BindInt(3, to_us);
  range_.BindInt(4, from_us);
  Status result;
  for (;;) {
    StatusOr<bool> row = range_.Step();
    if (!row.ok()) {
      result = row.status();
      break;
    }
    if (!*row) break;
    const ChunkRow chunk{range_.ColumnBlob(0), range_.ColumnInt(1), range_.ColumnInt(2),
                         range_.ColumnInt(3)};
    if (Status s = on_chunk(chunk); !s.ok()) {
      result = Status::DataLoss(db_.path() + ": tag " + std::string(tag) + ": " + s.message());
      break;
    }
  }
  range_.Reset();
  return result;
}

Status SampleReader::Scan(std::string_view tag, Timestamp from, Timestamp to, TagId as,
                          const std::function<void(std::span<const Sample>)>& fn) {
  const int64_t from_us = ToMicros(from);
  const int64_t to_us = ToMicros(to);
  return ForEachChunk(tag, from_us, to_us, [&](const ChunkRow& chunk) {
    scratch_.clear();
    EDGE_RETURN_IF_ERROR(DecodeChunk(chunk.data, as, scratch_));
    KeepWithin(scratch_, 0, from_us, to_us);  // chunks at the edges hold samples outside it
    if (!scratch_.empty()) fn(scratch_);
    return Status::Ok();
  });
}

Status SampleReader::ReadRange(std::string_view tag, Timestamp from, Timestamp to, TagId as,
                               std::vector<Sample>& out) {
  // Decodes straight into `out` (window rebuild is latency bound).
  const int64_t from_us = ToMicros(from);
  const int64_t to_us = ToMicros(to);
  const size_t first = out.size();
  bool ordered = true;
  EDGE_RETURN_IF_ERROR(ForEachChunk(tag, from_us, to_us, [&](const ChunkRow& chunk) {
    const size_t before = out.size();
    const size_t need = before + static_cast<size_t>(chunk.n);
    if (need > out.capacity()) out.reserve(std::max(need, 2 * out.capacity()));
    EDGE_RETURN_IF_ERROR(DecodeChunk(chunk.data, as, out));
    if (chunk.start_us < from_us || chunk.end_us > to_us) {  // an edge chunk
      KeepWithin(out, before, from_us, to_us);
    }
    for (size_t r = std::max(before, first + 1); r < out.size(); ++r) {
      if (out[r].ts < out[r - 1].ts) ordered = false;
    }
    return Status::Ok();
  }));
  if (!ordered) {
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                     [](const Sample& a, const Sample& b) { return a.ts < b.ts; });
  }
  return Status::Ok();
}

Status SampleReader::ReadLastSteps(std::span<const std::string> tags, int steps,
                                   std::chrono::microseconds step, Timestamp end,
                                   std::vector<std::vector<Sample>>& out) {
  out.resize(tags.size());
  // (end - steps * step, end]: the +1 us makes the lower bound exclusive.
  const Timestamp from = end - step * steps + std::chrono::microseconds(1);
  EDGE_RETURN_IF_ERROR(db_.Exec("BEGIN"));  // one snapshot for all tags
  Status s;
  for (size_t i = 0; i < tags.size() && s.ok(); ++i) {
    out[i].clear();
    s = ReadRange(tags[i], from, end, static_cast<TagId>(i), out[i]);
  }
  (void)db_.Exec("COMMIT");
  return s;
}

}  // namespace edge::storage
