#include "storage/sqlite_db.h"

#include <thread>
#include <utility>

namespace edge::storage {
namespace {

constexpr int kExecBusyAttempts = 5;
constexpr auto kExecBusyPause = std::chrono::milliseconds(50);

// The first 120 characters of a statement, one line, for error messages.
std::string ShortSql(std::string_view sql) {
  std::string s(sql.substr(0, 120));
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  if (sql.size() > 120) s += "...";
  return s;
}

}  // namespace

StatusCode StatusCodeForSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return StatusCode::kOk;
    case SQLITE_FULL:
      return StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StatusCode::kDataLoss;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StatusCode::kUnavailable;
    case SQLITE_CANTOPEN:
      return StatusCode::kNotFound;
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return StatusCode::kFailedPrecondition;
    case SQLITE_IOERR:
      return StatusCode::kIoError;
    default:
      return StatusCode::kInternal;
  }
}

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Status(StatusCodeForSqlite(rc),
                std::string(file && *file ? file : "sqlite") + ": " + ShortSql(what) + ": " + msg);
}

Statement::Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

StatusOr<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = SqliteError(sqlite3_db_handle(stmt_), rc, sqlite3_sql(stmt_));
  sqlite3_reset(stmt_);  // leaves the statement reusable after an error
  return s;
}

Status Statement::Run() {
  for (;;) {
    StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::string_view Statement::ColumnText(int col) const {
  const auto* p = sqlite3_column_text(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(n)};
}

std::span<const uint8_t> Statement::ColumnBlob(int col) const {
  const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
  const int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr) return {};
  return {p, static_cast<size_t>(n)};
}

StatusOr<SqliteDb> SqliteDb::Open(const std::string& path, const SqliteOpenOptions& options) {
  int flags = SQLITE_OPEN_NOMUTEX;
  if (options.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (options.create) flags |= SQLITE_OPEN_CREATE;
  }
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = path + ": cannot open: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return Status(StatusCodeForSqlite(rc), std::move(msg));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
  return SqliteDb(db, path);
}

SqliteDb::SqliteDb(SqliteDb&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

SqliteDb& SqliteDb::operator=(SqliteDb&& other) noexcept {
  if (this != &other) {
    Close();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

SqliteDb::~SqliteDb() { Close(); }

void SqliteDb::Close() {
  if (db_ != nullptr) {
    // sqlite3_close_v2 defers the close until every statement is finalized, so the order in
    // which owners destroy statements and the connection does not matter.
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
}

Status SqliteDb::ErrorFromCode(int rc, std::string_view what) const {
  const char* msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return Status(StatusCodeForSqlite(rc), path_ + ": " + ShortSql(what) + ": " + msg);
}

Status SqliteDb::LastError(std::string_view what) const {
  return ErrorFromCode(sqlite3_extended_errcode(db_), what);
}

Status SqliteDb::Exec(std::string_view sql) {
  const std::string text(sql);
  for (int attempt = 1;; ++attempt) {
    const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
    if (rc == SQLITE_OK) return Status::Ok();
    if ((rc & 0xff) == SQLITE_BUSY && attempt < kExecBusyAttempts) {
      std::this_thread::sleep_for(kExecBusyPause * attempt);
      continue;
    }
    return ErrorFromCode(rc, sql);
  }
}

StatusOr<Statement> SqliteDb::Prepare(std::string_view sql) const {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return ErrorFromCode(rc, sql);
  return Statement(stmt);
}

StatusOr<int64_t> SqliteDb::QueryInt(std::string_view sql) const {
  EDGE_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  EDGE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::NotFound(path_ + ": " + ShortSql(sql) + ": no row");
  return stmt.ColumnInt(0);
}

StatusOr<std::string> SqliteDb::QueryText(std::string_view sql) const {
  EDGE_ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  EDGE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return Status::NotFound(path_ + ": " + ShortSql(sql) + ": no row");
  return std::string(stmt.ColumnText(0));
}

}  // namespace edge::storage
