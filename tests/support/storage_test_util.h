// The storage tests' helpers (timestamps near now and in the golden files' epoch), and the
// database integrity check that the reliability suite runs after each kill as well.
//
// Thread-safety: no shared state but BaseMicros()'s start time, fixed on first use.
#pragma once

#include <chrono>
#include <string>

#include "core/sample.h"
#include "storage/sqlite_db.h"

namespace edge::storage::testing {

// One day before the test started, in whole seconds: recent enough that the default
// retention (7 days) keeps it.
inline int64_t BaseMicros() {
  static const int64_t base = (std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count() -
                               86400) *
                              1000000;
  return base;
}

// BaseMicros() + `us` microseconds.
inline Timestamp At(int64_t us) { return Timestamp(std::chrono::microseconds(BaseMicros() + us)); }

// The golden files' epoch: 2026-01-01T00:00:00Z + `us` microseconds.
inline Timestamp AtGolden(int64_t us) {
  return Timestamp(std::chrono::microseconds(1767225600LL * 1000000 + us));
}

// PRAGMA integrity_check of `path` ("ok" when sound), or the error text.
inline std::string IntegrityCheck(const std::string& path) {
  SqliteOpenOptions options;
  options.create = false;
  StatusOr<SqliteDb> db = SqliteDb::Open(path, options);
  if (!db.ok()) return db.status().ToString();
  StatusOr<std::string> r = db->QueryText("PRAGMA integrity_check");
  return r.ok() ? *r : r.status().ToString();
}

}  // namespace edge::storage::testing
