// SqliteDb and Statement: a thin RAII wrapper over the SQLite C API, the only place in
// edge-agent that calls sqlite3_* directly besides the layout-specific code in storage/.
//
// Errors become Statuses that name the database file and the failing statement:
//   "/var/lib/edge-agent/samples.db: INSERT INTO chunk ...: database or disk is full"
// SQLITE_FULL maps to ResourceExhausted, SQLITE_CORRUPT / SQLITE_NOTADB to DataLoss and
// SQLITE_BUSY / SQLITE_LOCKED to Unavailable, so callers can tell disk full, corruption and
// contention apart without looking at SQLite codes.
//
// SQLITE_BUSY: every connection gets a busy timeout (sqlite3_busy_timeout), so SQLite itself
// retries with backoff for that long before a statement reports BUSY; Exec additionally retries
// a whole statement a few times (WAL can report BUSY at BEGIN without invoking the handler).
//
// Thread-safety: a SqliteDb and its Statements belong to one thread at a time (SQLite is built
// serialized on Debian, but one owner keeps transactions unambiguous).
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edge::storage {

class SqliteDb;

// A prepared statement. Bind indexes are 1-based, column indexes 0-based (as in SQLite).
class Statement {
 public:
  Statement() = default;
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  void BindInt(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void BindDouble(int index, double value) { sqlite3_bind_double(stmt_, index, value); }
  void BindText(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  // The bytes must stay valid until the statement is stepped and reset.
  void BindBlobStatic(int index, std::span<const uint8_t> bytes) {
    sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
  }

  // True: a row is ready; false: done. Errors as Status (see the header comment).
  [[nodiscard]] StatusOr<bool> Step();
  // Steps to completion, ignoring rows.
  [[nodiscard]] Status Run();
  // Resets and clears bindings so the statement can be reused.
  void Reset();

  int64_t ColumnInt(int col) const { return sqlite3_column_int64(stmt_, col); }
  double ColumnDouble(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string_view ColumnText(int col) const;
  std::span<const uint8_t> ColumnBlob(int col) const;

  bool valid() const { return stmt_ != nullptr; }

 private:
  friend class SqliteDb;
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}

  sqlite3_stmt* stmt_ = nullptr;
};

struct SqliteOpenOptions {
  bool read_only = false;
  bool create = true;  // ignored when read_only
  std::chrono::milliseconds busy_timeout{5000};
};

class SqliteDb {
 public:
  [[nodiscard]] static StatusOr<SqliteDb> Open(const std::string& path,
                                               const SqliteOpenOptions& options);

  SqliteDb() = default;
  SqliteDb(SqliteDb&& other) noexcept;
  SqliteDb& operator=(SqliteDb&& other) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // Runs one or more statements without results; retries the whole text on SQLITE_BUSY a few
  // times after the busy handler gave up.
  [[nodiscard]] Status Exec(std::string_view sql);
  [[nodiscard]] StatusOr<Statement> Prepare(std::string_view sql) const;
  // The first column of the first row of `sql` as an integer (PRAGMA page_count etc.).
  [[nodiscard]] StatusOr<int64_t> QueryInt(std::string_view sql) const;
  // The first column of the first row as text ("ok" for PRAGMA quick_check).
  [[nodiscard]] StatusOr<std::string> QueryText(std::string_view sql) const;

  // A Status for the connection's last error, naming the file and `what`.
  Status LastError(std::string_view what) const;
  Status ErrorFromCode(int rc, std::string_view what) const;

  void Close();
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_ = nullptr;
  std::string path_;
};

// A Status for result code `rc` of connection `db`, naming its main file and `what`.
Status SqliteError(sqlite3* db, int rc, std::string_view what);

// Maps an SQLite result code to our StatusCode (see the header comment).
StatusCode StatusCodeForSqlite(int rc);

}  // namespace edge::storage
