#include "storage/sample_db.h"

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "core/logging.h"
#include "core/time_format.h"
#include "storage/chunk_codec.h"

namespace edge::storage {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSchemaV2 = R"sql(
CREATE TABLE IF NOT EXISTS tag(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS chunk(
  id INTEGER PRIMARY KEY,
  tag_id INTEGER NOT NULL,
  start_us INTEGER NOT NULL,
  end_us INTEGER NOT NULL,
  n INTEGER NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunk_by_tag_start ON chunk(tag_id, start_us);
)sql";

// Version 2 -> 3, also applied to a fresh file after kSchemaV2 so that both have the same
// schema (ADD COLUMN appends: ord is chunk's last column either way). The uplink tables live in
// samples.db so that cursors and the data they point into live and die together: a file moved
// aside as corrupt starts fresh cursors too.
constexpr std::string_view kSchemaV3Delta = R"sql(
ALTER TABLE tag ADD COLUMN removed_ord INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tag ADD COLUMN removed_end_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunk ADD COLUMN ord INTEGER NOT NULL DEFAULT 0;
UPDATE chunk SET ord = r.ord
  FROM (SELECT id, sum(n) OVER (PARTITION BY tag_id ORDER BY id) - n AS ord FROM chunk) AS r
  WHERE chunk.id = r.id;
CREATE INDEX chunk_by_tag_ord ON chunk(tag_id, ord);
CREATE TABLE uplink_stream(
  name TEXT PRIMARY KEY,
  next_seq INTEGER NOT NULL,
  created_us INTEGER NOT NULL);
CREATE TABLE uplink_cursor(
  stream TEXT NOT NULL,
  tag_id INTEGER NOT NULL,
  ord INTEGER NOT NULL,
  state BLOB NOT NULL,
  PRIMARY KEY(stream, tag_id)) WITHOUT ROWID;
CREATE TABLE uplink_inflight(
  stream TEXT NOT NULL,
  seq INTEGER NOT NULL,
  plan BLOB NOT NULL,
  PRIMARY KEY(stream, seq)) WITHOUT ROWID;
PRAGMA user_version = 3;
)sql";

// "20261123T101500Z": a file-name-safe UTC time for moved-aside files.
std::string FileTimeNow() {
  std::string t = FormatRfc3339Millis(
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
  std::string out;
  for (char c : t) {
    if (c == '-' || c == ':') continue;
    if (c == '.') break;
    out += c;
  }
  return out + "Z";
}

// Runs quick_check on an opened connection: OK, or DataLoss describing the damage.
Status CheckIntegrity(SqliteDb& db) {
  StatusOr<std::string> result = db.QueryText("PRAGMA quick_check");
  if (!result.ok()) {
    if (result.status().code() == StatusCode::kDataLoss) return result.status();
    return result.status();
  }
  if (*result != "ok") {
    // The report lists every damaged page; the first line says enough for the log.
    std::string first = result->substr(0, result->find('\n'));
    if (first.rfind("***", 0) == 0 && first.size() < result->size()) {
      const size_t next = first.size() + 1;
      first = result->substr(next, result->find('\n', next) - next);
    }
    return Status::DataLoss(db.path() + ": quick_check: " + first);
  }
  return Status::Ok();
}

Status MoveAside(const std::string& path, OpenReport* report) {
  const std::string target = path + ".corrupt-" + FileTimeNow();
  std::error_code ec;
  fs::rename(path, target, ec);
  if (ec) return Status::IoError(path + ": cannot move corrupt database aside: " + ec.message());
  for (const char* suffix : {"-wal", "-shm"}) {
    if (fs::exists(path + suffix, ec)) fs::rename(path + suffix, target + suffix, ec);
  }
  report->moved_aside = true;
  report->moved_to = target;
  return Status::Ok();
}

// Version 1 -> 2: pack the one-row-per-sample table into chunks, tag by tag, in time order.
Status MigrateV1ToV2(SqliteDb& db) {
  EDGE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto fail = [&db](Status s) {
    (void)db.Exec("ROLLBACK");
    return s;
  };
  if (Status s = db.Exec(kSchemaV2); !s.ok()) return fail(s);
  StatusOr<Statement> select =
      db.Prepare("SELECT tag_id, ts_us, value, quality FROM sample ORDER BY tag_id, ts_us");
  if (!select.ok()) return fail(select.status());
  StatusOr<Statement> insert = db.Prepare(
      "INSERT INTO chunk(tag_id, start_us, end_us, n, data) VALUES (?1, ?2, ?3, ?4, ?5)");
  if (!insert.ok()) return fail(insert.status());

  std::vector<uint8_t> blob;
  int64_t tag = -1, start = 0, end = 0, n = 0;
  ChunkEncoder encoder;
  auto flush = [&]() -> Status {
    if (n == 0) return Status::Ok();
    insert->BindInt(1, tag);
    insert->BindInt(2, start);
    insert->BindInt(3, end);
    insert->BindInt(4, n);
    insert->BindBlobStatic(5, blob);
    Status s = insert->Run();
    insert->Reset();
    blob.clear();
    encoder = ChunkEncoder();
    n = 0;
    return s;
  };
  for (;;) {
    StatusOr<bool> row = select->Step();
    if (!row.ok()) return fail(row.status());
    if (!*row) break;
    const int64_t row_tag = select->ColumnInt(0);
    const int64_t ts = select->ColumnInt(1);
    if (row_tag != tag || n >= kMaxChunkSamples || ts - start >= kMaxChunkSpan.count()) {
      if (Status s = flush(); !s.ok()) return fail(s);
      tag = row_tag;
      start = ts;
    }
    Sample sample;
    sample.ts = FromMicros(ts);
    sample.value = select->ColumnDouble(2);
    sample.quality = select->ColumnInt(3) == 0 ? Quality::kGood : Quality::kBad;
    encoder.Append(sample, blob);
    end = ts;
    ++n;
  }
  if (Status s = flush(); !s.ok()) return fail(s);
  select = Statement();
  insert = Statement();
  if (Status s = db.Exec("DROP TABLE sample; PRAGMA user_version = 2; COMMIT"); !s.ok()) {
    return fail(s);
  }
  // Version 1 files were created without auto_vacuum; it only takes effect after a VACUUM.
  return db.Exec("PRAGMA auto_vacuum = INCREMENTAL; VACUUM");
}

// Version 2 -> 3: ordinals as the running sum of n per tag in rowid order (rowid order is the
// order the writer stored a tag's chunks in), retention marks 0, empty uplink tables.
Status MigrateV2ToV3(SqliteDb& db) {
  EDGE_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  if (Status s = db.Exec(std::string(kSchemaV3Delta) + "COMMIT"); !s.ok()) {
    if (sqlite3_get_autocommit(db.handle()) == 0) (void)db.Exec("ROLLBACK");
    return s;
  }
  return Status::Ok();
}

}  // namespace

StatusOr<SqliteDb> OpenWithRecovery(const std::string& path, PrepareFn prepare,
                                    OpenReport* report) {
  auto log = GetLogger("storage");
  std::error_code ec;
  report->created = !fs::exists(path, ec);
  for (int attempt = 0; attempt < 2; ++attempt) {
    SqliteOpenOptions options;
    StatusOr<SqliteDb> db = SqliteDb::Open(path, options);
    Status problem = db.ok() ? CheckIntegrity(*db) : db.status();
    if (problem.ok()) {
      int migrated_from = 0;
      problem = prepare(*db, &migrated_from);
      report->migrated_from = migrated_from;
      if (problem.ok()) return db;
    }
    if (problem.code() != StatusCode::kDataLoss || attempt > 0) return problem;
    if (db.ok()) db->Close();
    report->corruption = problem.message();
    EDGE_RETURN_IF_ERROR(MoveAside(path, report));
    log->error(
        "database {} is corrupt ({}); moved it aside to {} and started a fresh database; the "
        "data in the old file is not used",
        path, problem.message(), report->moved_to);
  }
  return Status::Internal(path + ": unreachable");
}

Status PrepareSampleDb(SqliteDb& db, int* migrated_from) {
  *migrated_from = 0;
  EDGE_ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  EDGE_ASSIGN_OR_RETURN(int64_t tables,
                        db.QueryInt("SELECT count(*) FROM sqlite_schema WHERE type = 'table'"));
  if (version > kSampleSchemaVersion) {
    return Status::FailedPrecondition(db.path() + ": schema version " + std::to_string(version) +
                                      " is newer than this agent understands (" +
                                      std::to_string(kSampleSchemaVersion) + ")");
  }
  if (tables == 0) {
    // auto_vacuum must be chosen before the first table exists.
    EDGE_RETURN_IF_ERROR(db.Exec("PRAGMA auto_vacuum = INCREMENTAL"));
  }
  EDGE_ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return Status::FailedPrecondition(db.path() + ": cannot switch to WAL (journal_mode " + mode +
                                      ")");
  }
  EDGE_RETURN_IF_ERROR(
      db.Exec("PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864"));
  if (tables == 0) {
    return db.Exec(std::string("BEGIN IMMEDIATE;") + std::string(kSchemaV2) +
                   std::string(kSchemaV3Delta) + "COMMIT");
  }
  auto log = GetLogger("storage");
  if (version == 1) {
    *migrated_from = 1;
    EDGE_RETURN_IF_ERROR(MigrateV1ToV2(db));
    log->info("{}: migrated the schema from version 1 to 2", db.path());
    version = 2;
  }
  if (version == 2) {
    if (*migrated_from == 0) *migrated_from = 2;
    EDGE_RETURN_IF_ERROR(MigrateV2ToV3(db));
    log->info("{}: migrated the schema from version 2 to 3 (per-tag ordinals)", db.path());
    return Status::Ok();
  }
  if (version != kSampleSchemaVersion) {
    return Status::DataLoss(db.path() + ": has tables but schema version " +
                            std::to_string(version) + "; not an edge-agent samples database");
  }
  return Status::Ok();
}

StatusOr<int64_t> InternTag(SqliteDb& db, std::string_view name) {
  EDGE_ASSIGN_OR_RETURN(Statement find, db.Prepare("SELECT id FROM tag WHERE name = ?1"));
  find.BindText(1, name);
  EDGE_ASSIGN_OR_RETURN(bool found, find.Step());
  if (found) return find.ColumnInt(0);
  EDGE_ASSIGN_OR_RETURN(Statement insert, db.Prepare("INSERT INTO tag(name) VALUES (?1)"));
  insert.BindText(1, name);
  EDGE_RETURN_IF_ERROR(insert.Run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db.handle()));
}

StatusOr<int64_t> LiveBytes(SqliteDb& db) {
  EDGE_ASSIGN_OR_RETURN(int64_t pages, db.QueryInt("PRAGMA page_count"));
  EDGE_ASSIGN_OR_RETURN(int64_t free_pages, db.QueryInt("PRAGMA freelist_count"));
  EDGE_ASSIGN_OR_RETURN(int64_t page_size, db.QueryInt("PRAGMA page_size"));
  return (pages - free_pages) * page_size;
}

}  // namespace edge::storage
