#include "storage/uplink_store.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "storage/chunk_codec.h"
#include "storage/sample_db.h"

namespace edge::storage {
namespace {

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string FromBlob(std::span<const uint8_t> blob) {
  if (blob.empty()) return {};
  return std::string(reinterpret_cast<const char*>(blob.data()), blob.size());
}

// Steps the bound `stmt` to its end, making one Row of each result row; resets it.
template <typename Row, typename Make>
StatusOr<std::vector<Row>> CollectRows(Statement& stmt, Make make) {
  std::vector<Row> rows;
  Status s;
  for (;;) {
    StatusOr<bool> row = stmt.Step();
    if (!row.ok()) s = row.status();
    if (!s.ok() || !*row) break;
    rows.push_back(make(stmt));
  }
  stmt.Reset();
  if (!s.ok()) return s;
  return rows;
}

// Every chunk holding ordinal k starts after k - kMaxChunkSamples: that bounds the index scan on
// (tag_id, ord) from below; chunks that end at or before from_ord are filtered out.
constexpr std::string_view kChunkFromSql =
    "SELECT ord, n, data FROM chunk WHERE tag_id = ?1 AND ord > ?2 - 256 AND ord + n > ?2 "
    "ORDER BY ord";
static_assert(kMaxChunkSamples == 256, "kChunkFromSql bounds its scan by kMaxChunkSamples");

// The first chunk (by ord) whose newest sample is at or after ?2. A chunk spans less than
// kMaxChunkSpan, so such a chunk started after ?2 - kMaxChunkSpan: the start_us index finds the
// few candidates (the recent chunks, for a stream created now) and only they are sorted.
constexpr std::string_view kFirstAtSql =
    "SELECT ord, n, data FROM chunk INDEXED BY chunk_by_tag_start WHERE tag_id = ?1 AND "
    "start_us > ?2 - ?3 AND end_us >= ?2 ORDER BY ord LIMIT 1";

}  // namespace

StatusOr<std::unique_ptr<UplinkStore>> UplinkStore::Open(const std::string& samples_path) {
  SqliteOpenOptions options;
  options.create = false;  // Storage::Open created and migrated it
  EDGE_ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::Open(samples_path, options));
  EDGE_ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  if (version != kSampleSchemaVersion) {
    return Status::FailedPrecondition(samples_path + ": schema version " + std::to_string(version) +
                                      ", the uplink needs version " +
                                      std::to_string(kSampleSchemaVersion));
  }
  // FULL: see the header. mmap: ReadFrom's chunks are spread over many pages (as SampleReader).
  EDGE_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = FULL; PRAGMA mmap_size = 268435456"));
  std::unique_ptr<UplinkStore> store(new UplinkStore(std::move(db)));
  EDGE_RETURN_IF_ERROR(store->Prepare());
  return store;
}

Status UplinkStore::Prepare() {
  struct {
    Statement* stmt;
    std::string_view sql;
  } const statements[] = {
      {&tags_after_, "SELECT id, name FROM tag WHERE id > ?1 ORDER BY id"},
      {&stream_insert_,
       "INSERT INTO uplink_stream(name, next_seq, created_us) VALUES (?1, 1, ?2) "
       "ON CONFLICT(name) DO NOTHING"},
      {&stream_select_, "SELECT next_seq, created_us FROM uplink_stream WHERE name = ?1"},
      {&stream_set_seq_, "UPDATE uplink_stream SET next_seq = ?2 WHERE name = ?1"},
      {&cursors_select_,
       "SELECT tag_id, ord, state FROM uplink_cursor WHERE stream = ?1 ORDER BY tag_id"},
      {&cursor_upsert_,
       "INSERT INTO uplink_cursor(stream, tag_id, ord, state) VALUES (?1, ?2, ?3, ?4) "
       "ON CONFLICT(stream, tag_id) DO UPDATE SET ord = excluded.ord, state = excluded.state"},
      {&inflight_select_, "SELECT seq, plan FROM uplink_inflight WHERE stream = ?1 ORDER BY seq"},
      {&inflight_insert_, "INSERT INTO uplink_inflight(stream, seq, plan) VALUES (?1, ?2, ?3)"},
      {&inflight_delete_, "DELETE FROM uplink_inflight WHERE stream = ?1 AND seq <= ?2"},
      {&chunk_from_, kChunkFromSql},
      {&tag_extent_, kTagExtentSql},
      {&first_at_, kFirstAtSql},
      {&backlog_,
       "SELECT count(*), coalesce(sum(n), 0), coalesce(sum(length(data)), 0), min(start_us) "
       "FROM chunk WHERE tag_id = ?1 AND ord >= ?2"},
  };
  for (const auto& s : statements) {
    EDGE_ASSIGN_OR_RETURN(*s.stmt, db_.Prepare(s.sql));
  }
  return Status::Ok();
}

template <typename Body>
Status UplinkStore::InTransaction(Body&& body) {
  if (in_one_transaction_) return body();
  EDGE_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  Status s = body();
  if (s.ok()) s = db_.Exec("COMMIT");
  if (!s.ok() && sqlite3_get_autocommit(db_.handle()) == 0) (void)db_.Exec("ROLLBACK");
  return s;
}

Status UplinkStore::InOneTransaction(const std::function<Status()>& body) {
  EDGE_CHECK(!in_one_transaction_);
  Status s = InTransaction([&]() -> Status {
    in_one_transaction_ = true;
    Status b = body();
    in_one_transaction_ = false;
    return b;
  });
  in_one_transaction_ = false;
  return s;
}

StatusOr<std::vector<StoredTag>> UplinkStore::TagsAfter(int64_t after_id) {
  tags_after_.BindInt(1, after_id);
  return CollectRows<StoredTag>(tags_after_, [](const Statement& q) {
    return StoredTag{q.ColumnInt(0), std::string(q.ColumnText(1))};
  });
}

StatusOr<UplinkStreamRow> UplinkStore::LoadOrCreateStream(std::string_view name, int64_t now_us) {
  UplinkStreamRow row;
  row.name = std::string(name);
  stream_insert_.BindText(1, name);
  stream_insert_.BindInt(2, now_us);
  Status s = stream_insert_.Run();
  row.created = s.ok() && sqlite3_changes(db_.handle()) == 1;
  stream_insert_.Reset();
  EDGE_RETURN_IF_ERROR(s);
  stream_select_.BindText(1, name);
  StatusOr<bool> found = stream_select_.Step();
  if (found.ok() && *found) {
    row.next_seq = static_cast<uint64_t>(stream_select_.ColumnInt(0));
    row.created_us = stream_select_.ColumnInt(1);
  }
  stream_select_.Reset();
  if (!found.ok()) return found.status();
  if (!*found) return Status::Internal(db_.path() + ": uplink stream " + row.name + " vanished");
  return row;
}

StatusOr<std::vector<UplinkCursor>> UplinkStore::LoadCursors(std::string_view stream) {
  cursors_select_.BindText(1, stream);
  return CollectRows<UplinkCursor>(cursors_select_, [](const Statement& q) {
    return UplinkCursor{q.ColumnInt(0), q.ColumnInt(1), FromBlob(q.ColumnBlob(2))};
  });
}

StatusOr<std::vector<UplinkInflight>> UplinkStore::LoadInflight(std::string_view stream) {
  inflight_select_.BindText(1, stream);
  return CollectRows<UplinkInflight>(inflight_select_, [](const Statement& q) {
    return UplinkInflight{static_cast<uint64_t>(q.ColumnInt(0)), FromBlob(q.ColumnBlob(1))};
  });
}

Status UplinkStore::PutInflight(std::string_view stream, std::span<const UplinkInflight> rows,
                                uint64_t next_seq) {
  return InTransaction([&]() -> Status {
    for (const UplinkInflight& r : rows) {
      inflight_insert_.BindText(1, stream);
      inflight_insert_.BindInt(2, static_cast<int64_t>(r.seq));
      inflight_insert_.BindBlobStatic(3, Bytes(r.plan));
      Status s = inflight_insert_.Run();
      inflight_insert_.Reset();
      EDGE_RETURN_IF_ERROR(s);
    }
    stream_set_seq_.BindText(1, stream);
    stream_set_seq_.BindInt(2, static_cast<int64_t>(next_seq));
    Status s = stream_set_seq_.Run();
    const bool updated = s.ok() && sqlite3_changes(db_.handle()) == 1;
    stream_set_seq_.Reset();
    EDGE_RETURN_IF_ERROR(s);
    if (!updated) {
      return Status::NotFound(db_.path() + ": uplink stream " + std::string(stream) +
                              " does not exist (LoadOrCreateStream first)");
    }
    return Status::Ok();
  });
}

Status UplinkStore::Commit(std::string_view stream, uint64_t through_seq,
                           std::span<const UplinkCursor> cursors) {
  return InTransaction([&]() -> Status {
    if (through_seq > 0) {
      inflight_delete_.BindText(1, stream);
      inflight_delete_.BindInt(2, static_cast<int64_t>(through_seq));
      Status s = inflight_delete_.Run();
      inflight_delete_.Reset();
      EDGE_RETURN_IF_ERROR(s);
    }
    for (const UplinkCursor& c : cursors) {
      cursor_upsert_.BindText(1, stream);
      cursor_upsert_.BindInt(2, c.tag_id);
      cursor_upsert_.BindInt(3, c.ord);
      cursor_upsert_.BindBlobStatic(4, Bytes(c.state));
      Status s = cursor_upsert_.Run();
      cursor_upsert_.Reset();
      EDGE_RETURN_IF_ERROR(s);
    }
    return Status::Ok();
  });
}

StatusOr<bool> UplinkStore::SeekChunk(int64_t tag_id, int64_t from_ord) {
  chunk_from_.BindInt(1, tag_id);
  chunk_from_.BindInt(2, from_ord);
  return chunk_from_.Step();
}

Status UplinkStore::ReadFrom(int64_t tag_id, int64_t from_ord, size_t max, TagId as,
                             std::vector<Sample>& out, OrdinalRead* read) {
  const size_t original = out.size();
  int64_t next = from_ord;  // the ordinal the next appended sample has
  size_t appended = 0;
  Status result;
  for (StatusOr<bool> row = SeekChunk(tag_id, from_ord); appended < max; row = chunk_from_.Step()) {
    if (!row.ok()) result = row.status();
    if (!result.ok() || !*row) break;
    const int64_t ord = chunk_from_.ColumnInt(0);
    const int64_t n = chunk_from_.ColumnInt(1);
    if (ord + n <= next) continue;  // overlaps what was read (only a damaged file has that)
    if (ord > next) {
      // Ordinals [next, ord) are gone. Before the first sample that is the gap the caller
      // counts; after it, the read stops so that what it returns stays consecutive.
      if (appended > 0) break;
      next = ord;
    }
    const size_t before = out.size();
    Status s = DecodeChunk(chunk_from_.ColumnBlob(2), as, out);
    if (s.ok() && out.size() - before != static_cast<size_t>(n)) {
      s = Status::DataLoss("chunk: holds " + std::to_string(out.size() - before) +
                           " samples, its row says " + std::to_string(n));
    }
    if (!s.ok()) {
      result = Status::DataLoss(db_.path() + ": tag id " + std::to_string(tag_id) + ", ordinals " +
                                std::to_string(ord) + ".." + std::to_string(ord + n - 1) + ": " +
                                s.message());
      break;
    }
    // Ordinal `next` is sample next - ord of this chunk (0 unless it is the first one read).
    const auto skip = static_cast<size_t>(next - ord);
    const size_t take = std::min(static_cast<size_t>(n) - skip, max - appended);
    const auto begin = out.begin() + static_cast<std::ptrdiff_t>(before);
    if (skip > 0) out.erase(begin, begin + static_cast<std::ptrdiff_t>(skip));
    out.resize(before + take);
    appended += take;
    next += static_cast<int64_t>(take);
  }
  chunk_from_.Reset();
  if (!result.ok()) {
    out.resize(original);
    return result;
  }
  if (appended == 0) {
    // Nothing stored from from_ord on: a cursor below removed_ord still learns its gap.
    EDGE_ASSIGN_OR_RETURN(TagExtent extent, Extent(tag_id));
    next = std::max(from_ord, extent.removed_ord);
  }
  read->first_ord = next - static_cast<int64_t>(appended);
  read->end_ord = next;
  return Status::Ok();
}

StatusOr<TagExtent> UplinkStore::Extent(int64_t tag_id) {
  tag_extent_.BindInt(1, tag_id);
  StatusOr<bool> row = tag_extent_.Step();
  TagExtent extent;
  if (row.ok() && *row) {
    extent.removed_ord = tag_extent_.ColumnInt(0);
    extent.removed_end_us = tag_extent_.ColumnInt(1);
    extent.end_ord = tag_extent_.ColumnInt(2);
  }
  tag_extent_.Reset();
  if (!row.ok()) return row.status();
  if (!*row) {
    return Status::NotFound(db_.path() + ": no tag with id " + std::to_string(tag_id));
  }
  return extent;
}

StatusOr<int64_t> UplinkStore::FirstOrdAtOrAfter(int64_t tag_id, int64_t ts_us) {
  first_at_.BindInt(1, tag_id);
  first_at_.BindInt(2, ts_us);
  first_at_.BindInt(3, kMaxChunkSpan.count());
  StatusOr<bool> row = first_at_.Step();
  std::optional<int64_t> found;
  Status s = row.status();
  if (s.ok() && *row) {
    const int64_t ord = first_at_.ColumnInt(0);
    std::vector<Sample> samples;
    s = DecodeChunk(first_at_.ColumnBlob(2), 0, samples);
    const Timestamp at = FromMicros(ts_us);
    const auto it =
        std::find_if(samples.begin(), samples.end(), [at](const Sample& x) { return x.ts >= at; });
    found = ord + (it - samples.begin());
  }
  first_at_.Reset();
  if (!s.ok()) {
    return Status::DataLoss(db_.path() + ": tag id " + std::to_string(tag_id) + ": " + s.message());
  }
  if (found) return *found;
  EDGE_ASSIGN_OR_RETURN(TagExtent extent, Extent(tag_id));
  return extent.end_ord;
}

StatusOr<UplinkStore::Backlog> UplinkStore::BacklogOf(int64_t tag_id, int64_t from_ord) {
  Backlog backlog;
  // The chunks that start at or after from_ord count whole...
  backlog_.BindInt(1, tag_id);
  backlog_.BindInt(2, from_ord);
  StatusOr<bool> row = backlog_.Step();
  if (row.ok() && *row && backlog_.ColumnInt(0) > 0) {
    backlog.readings = backlog_.ColumnInt(1);
    backlog.bytes = backlog_.ColumnInt(2);
    backlog.oldest_us = backlog_.ColumnInt(3);  // a chunk's first sample is its oldest
  }
  backlog_.Reset();
  if (!row.ok()) return row.status();
  // ...and the one that holds from_ord, partly sent, counts its unsent part.
  row = SeekChunk(tag_id, from_ord);
  Status s = row.status();
  if (s.ok() && *row && chunk_from_.ColumnInt(0) < from_ord) {
    const int64_t ord = chunk_from_.ColumnInt(0);
    const int64_t n = chunk_from_.ColumnInt(1);
    const std::span<const uint8_t> data = chunk_from_.ColumnBlob(2);
    std::vector<Sample> samples;
    s = DecodeChunk(data, 0, samples);
    if (s.ok() && samples.size() == static_cast<size_t>(n)) {
      const int64_t unsent = ord + n - from_ord;
      backlog.readings += unsent;
      backlog.bytes += static_cast<int64_t>(data.size()) * unsent / n;
      for (size_t i = static_cast<size_t>(from_ord - ord); i < samples.size(); ++i) {
        const int64_t ts = ToMicros(samples[i].ts);
        if (backlog.oldest_us == 0 || ts < backlog.oldest_us) backlog.oldest_us = ts;
      }
    }
  }
  chunk_from_.Reset();
  if (!s.ok()) return s;
  return backlog;
}

}  // namespace edge::storage
