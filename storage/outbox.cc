#include "storage/outbox.h"

#include "core/logging.h"
#include "storage/chunk_codec.h"
#include "storage/sample_db.h"

namespace edge::storage {

Status PrepareOutboxDb(SqliteDb& db, int* migrated_from) {
  *migrated_from = 0;
  EDGE_ASSIGN_OR_RETURN(int64_t version, db.QueryInt("PRAGMA user_version"));
  if (version > 2) {
    return Status::FailedPrecondition(db.path() + ": outbox schema version " +
                                      std::to_string(version) + " is newer than this agent's (2)");
  }
  EDGE_ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode = WAL"));
  if (mode != "wal") {
    return Status::FailedPrecondition(db.path() + ": cannot switch to WAL (journal_mode " + mode +
                                      ")");
  }
  // FULL: a message Append returned for is on disk before anyone publishes it.
  EDGE_RETURN_IF_ERROR(db.Exec("PRAGMA synchronous = FULL"));
  if (version == 0) {
    EDGE_RETURN_IF_ERROR(db.Exec(R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS message(
  seq INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retained INTEGER NOT NULL,
  created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_seq(id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
INSERT OR IGNORE INTO outbox_seq(id, next) VALUES (1, 1);
PRAGMA user_version = 1;
COMMIT;
)sql"));
  }
  if (version <= 1) {
    if (version == 1) *migrated_from = 1;
    EDGE_RETURN_IF_ERROR(db.Exec(R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS alarm_history(
  seq INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_us INTEGER NOT NULL);
PRAGMA user_version = 2;
COMMIT;
)sql"));
  }
  // Reserve space so that alarms can still be stored when samples have filled the disk: 256 KiB
  // of free pages in the file, and a WAL that already has room for the frames written between
  // two checkpoints (the WAL is reused from its start after each checkpoint, never truncated).
  EDGE_RETURN_IF_ERROR(db.Exec("PRAGMA wal_autocheckpoint = 16; PRAGMA journal_size_limit = -1"));
  EDGE_ASSIGN_OR_RETURN(int64_t free_pages, db.QueryInt("PRAGMA freelist_count"));
  if (free_pages < 32) {
    EDGE_RETURN_IF_ERROR(
        db.Exec("BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS reserve(x BLOB);"
                "INSERT INTO reserve VALUES (zeroblob(262144)); DELETE FROM reserve; COMMIT;"
                "PRAGMA wal_checkpoint(PASSIVE)"));
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<Outbox>> Outbox::Open(const std::string& path, size_t history_rows) {
  OpenReport report;
  EDGE_ASSIGN_OR_RETURN(SqliteDb db, OpenWithRecovery(path, &PrepareOutboxDb, &report));
  return std::unique_ptr<Outbox>(new Outbox(std::move(db), history_rows));
}

StatusOr<uint64_t> Outbox::Append(std::string_view topic, std::string_view payload, int qos,
                                  bool retained) {
  return Append(
      topic, [payload](uint64_t) { return std::string(payload); }, qos, retained);
}

StatusOr<uint64_t> Outbox::Append(std::string_view topic,
                                  const std::function<std::string(uint64_t seq)>& make_payload,
                                  int qos, bool retained) {
  return Insert(topic, make_payload, qos, retained, /*history=*/false);
}

StatusOr<uint64_t> Outbox::AppendAlarm(
    std::string_view topic, const std::function<std::string(uint64_t seq)>& make_payload) {
  return Insert(topic, make_payload, 1, false, /*history=*/true);
}

StatusOr<uint64_t> Outbox::Insert(std::string_view topic,
                                  const std::function<std::string(uint64_t seq)>& make_payload,
                                  int qos, bool retained, bool history) {
  MutexLock lock(&mu_);
  EDGE_RETURN_IF_ERROR(db_.Exec("BEGIN IMMEDIATE"));
  auto fail = [this](Status s) {
    mu_.AssertHeld();  // called below, under the lock
    if (sqlite3_get_autocommit(db_.handle()) == 0) (void)db_.Exec("ROLLBACK");
    return s;
  };
  StatusOr<int64_t> seq = db_.QueryInt("SELECT next FROM outbox_seq WHERE id = 1");
  if (!seq.ok()) return fail(seq.status());
  const std::string payload = make_payload(static_cast<uint64_t>(*seq));
  StatusOr<Statement> insert = db_.Prepare(
      "INSERT INTO message(seq, topic, payload, qos, retained, created_us) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!insert.ok()) return fail(insert.status());
  insert->BindInt(1, *seq);
  insert->BindText(2, topic);
  insert->BindBlobStatic(
      3, std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  insert->BindInt(4, qos);
  insert->BindInt(5, retained ? 1 : 0);
  insert->BindInt(6, ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now())));
  if (Status s = insert->Run(); !s.ok()) return fail(s);
  *insert = Statement();
  if (history) {
    // The alarm history outlives delivery (rows are not deleted on confirm); the oldest rows
    // beyond history_rows_ go in the same transaction.
    StatusOr<Statement> keep = db_.Prepare(
        "INSERT INTO alarm_history(seq, topic, payload, created_us) "
        "SELECT seq, topic, CAST(payload AS TEXT), created_us FROM message WHERE seq = ?1");
    if (!keep.ok()) return fail(keep.status());
    keep->BindInt(1, *seq);
    if (Status s = keep->Run(); !s.ok()) return fail(s);
    *keep = Statement();
    StatusOr<Statement> trim = db_.Prepare("DELETE FROM alarm_history WHERE seq <= ?1");
    if (!trim.ok()) return fail(trim.status());
    trim->BindInt(1, *seq - static_cast<int64_t>(history_rows_));
    if (Status s = trim->Run(); !s.ok()) return fail(s);
  }
  if (Status s = db_.Exec("UPDATE outbox_seq SET next = next + 1 WHERE id = 1; COMMIT"); !s.ok()) {
    return fail(s);
  }
  return static_cast<uint64_t>(*seq);
}

StatusOr<std::vector<OutboxMessage>> Outbox::AlarmHistory(size_t limit) {
  MutexLock lock(&mu_);
  EDGE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT seq, topic, payload, 1, 0, created_us, typeof(topic) = 'text' AND "
                  "typeof(payload) IN ('text', 'blob') FROM ("
                  "SELECT * FROM alarm_history ORDER BY seq DESC LIMIT ?1) ORDER BY seq"));
  stmt.BindInt(1, static_cast<int64_t>(limit));
  return ReadMessages(stmt, "alarm_history", limit);
}

StatusOr<std::vector<OutboxMessage>> Outbox::ReadAfter(uint64_t after_seq, size_t limit) {
  MutexLock lock(&mu_);
  // No LIMIT in SQL: damaged rows are skipped, and `limit` counts the messages returned.
  EDGE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_.Prepare("SELECT seq, topic, payload, qos, retained, created_us, typeof(topic) = 'text' "
                  "AND typeof(payload) IN ('text', 'blob') AND typeof(qos) = 'integer' "
                  "FROM message WHERE seq > ?1 ORDER BY seq"));
  stmt.BindInt(1, static_cast<int64_t>(after_seq));
  return ReadMessages(stmt, "message", limit);
}

namespace {

// A topic a broker takes for PUBLISH: non-empty UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF) without NUL or wildcards, at most 65535 bytes (MQTT 3.1.1, 1.5.3, 4.7).
bool IsPublishableTopic(std::string_view topic) {
  if (topic.empty() || topic.size() > 65535) return false;
  size_t i = 0;
  while (i < topic.size()) {
    const auto c = static_cast<unsigned char>(topic[i]);
    if (c == 0 || c == '+' || c == '#') return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    const size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || c > 0xF4 || i + n > topic.size()) return false;
    uint32_t cp = c & (0x7Fu >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(topic[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    const uint32_t min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

}  // namespace

StatusOr<std::vector<OutboxMessage>> Outbox::ReadMessages(Statement& stmt, std::string_view table,
                                                          size_t limit) {
  std::vector<OutboxMessage> out;
  while (out.size() < limit) {
    EDGE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    const int64_t seq = stmt.ColumnInt(0);
    const int64_t qos = stmt.ColumnInt(3);
    if (seq < 1 || stmt.ColumnInt(6) == 0 || qos < 0 || qos > 2 ||
        !IsPublishableTopic(stmt.ColumnText(1))) {
      if (damaged_.emplace(std::string(table), seq).second) {
        GetLogger("storage")->error(
            "{}: {} row with seq {} is damaged (topic, qos or payload unreadable); skipped, and "
            "left in the file",
            path_, table, seq);
      }
      continue;
    }
    OutboxMessage m;
    m.seq = static_cast<uint64_t>(stmt.ColumnInt(0));
    m.topic = std::string(stmt.ColumnText(1));
    const std::span<const uint8_t> p = stmt.ColumnBlob(2);
    m.payload.assign(reinterpret_cast<const char*>(p.data()), p.size());
    m.qos = static_cast<int>(stmt.ColumnInt(3));
    m.retained = stmt.ColumnInt(4) != 0;
    m.created = FromMicros(stmt.ColumnInt(5));
    out.push_back(std::move(m));
  }
  return out;
}

uint64_t Outbox::damaged_rows() {
  MutexLock lock(&mu_);
  return damaged_.size();
}

Status Outbox::Confirm(uint64_t seq) {
  MutexLock lock(&mu_);
  EDGE_ASSIGN_OR_RETURN(Statement stmt, db_.Prepare("DELETE FROM message WHERE seq = ?1"));
  stmt.BindInt(1, static_cast<int64_t>(seq));
  return stmt.Run();
}

StatusOr<uint64_t> Outbox::Pending() {
  MutexLock lock(&mu_);
  EDGE_ASSIGN_OR_RETURN(int64_t n, db_.QueryInt("SELECT count(*) FROM message"));
  return static_cast<uint64_t>(n);
}

StatusOr<uint64_t> Outbox::NextSeq() {
  MutexLock lock(&mu_);
  EDGE_ASSIGN_OR_RETURN(int64_t n, db_.QueryInt("SELECT next FROM outbox_seq WHERE id = 1"));
  return static_cast<uint64_t>(n);
}

}  // namespace edge::storage
