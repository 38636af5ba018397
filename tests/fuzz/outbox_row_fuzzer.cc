// libFuzzer target for the outbox's row decoding (storage/outbox.{h,cc}): what ReadAfter and
// AlarmHistory make of the rows of a real outbox.db after a restart (columns -> OutboxMessage).
//
// SQLite keeps no checksums, so a damaged file can hold any value of any type in any column
// (NULL in a NOT NULL column too). To write such rows, the fuzzer's outbox.db (in a temporary
// directory) gets its message and alarm_history tables redeclared without types or NOT NULL
// (PRAGMA writable_schema) after Outbox::Open created them. Each input then, through a second
// connection, replaces the rows of both tables with fuzzer-chosen ones (seq: NULL, small, any
// 64-bit or <= 0; every other column: NULL, integer, real, text, blob, or a typical value),
// and reads them back through the production Outbox: ReadAfter(after, limit) and
// AlarmHistory(limit). Logging is off (each damaged row is logged once). Every 4096 inputs the
// Outbox is closed and opened again (a restart).
//
// Checks, against an independent reading of the same rows through the raw SQLite API:
//   - reads succeed (the file itself is sound) and never crash, leak or trip a sanitizer;
//   - exactly the rows the contract calls sound come back, in seq order, each field exact:
//     seq >= 1, topic a text that is a non-empty MQTT topic name (well-formed UTF-8 per Unicode
//     table 3-7, no NUL, '+' or '#'), payload text or blob, qos an integer 0..2 (ReadAfter);
//   - ReadAfter's limit counts returned messages (damaged rows never hide the ones behind);
//   - damaged_rows() counts each damaged row the reads passed exactly once.
// A difference aborts.
#include <fuzzer/FuzzedDataProvider.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/logging.h"
#include "storage/chunk_codec.h"
#include "storage/outbox.h"

namespace {

using edge::storage::Outbox;
using edge::storage::OutboxMessage;

void Require(bool ok, const char* what, const char* detail = "") {
  if (!ok) {
    std::fprintf(stderr, "outbox_row_fuzzer: %s %s\n", what, detail);
    std::abort();
  }
}

void Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  Require(rc == SQLITE_OK, sql, err != nullptr ? err : "");
  sqlite3_free(err);
}

sqlite3* OpenRaw(const std::string& path) {
  sqlite3* db = nullptr;
  Require(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK,
          "cannot open", path.c_str());
  sqlite3_busy_timeout(db, 5000);
  return db;
}

struct Fixture {
  std::filesystem::path dir;
  std::string path;
  std::unique_ptr<Outbox> outbox;
  sqlite3* writer = nullptr;
  std::set<std::pair<std::string, int64_t>> damaged;  // what damaged_rows() must count
  uint64_t inputs = 0;

  void OpenOutbox() {
    outbox.reset();
    damaged.clear();
    auto opened = Outbox::Open(path);
    Require(opened.ok(), "Outbox::Open failed:", opened.status().message().c_str());
    outbox = std::move(*opened);
  }
};

Fixture& TheFixture() {
  static Fixture* f = [] {
    // A damaged row is logged once; thousands of inputs would only fill the fuzzer's log.
    edge::LogOptions quiet;
    quiet.level = "off";
    Require(edge::InitLogging(quiet).ok(), "InitLogging failed");
    auto* fx = new Fixture;
    const char* tmp = std::getenv("TMPDIR");
    std::string templ =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/outbox_row_fuzzer.XXXXXX";
    Require(mkdtemp(templ.data()) != nullptr, "mkdtemp failed");
    fx->dir = templ;
    fx->path = (fx->dir / "outbox.db").string();
    fx->OpenOutbox();  // creates the schema
    fx->outbox.reset();
    // Damage can put any type anywhere: drop the declared types and NOT NULL constraints.
    sqlite3* db = OpenRaw(fx->path);
    Exec(db,
         "PRAGMA writable_schema = ON;"
         "UPDATE sqlite_schema SET sql = 'CREATE TABLE message(seq INTEGER PRIMARY KEY, topic, "
         "payload, qos, retained, created_us)' WHERE name = 'message';"
         "UPDATE sqlite_schema SET sql = 'CREATE TABLE alarm_history(seq INTEGER PRIMARY KEY, "
         "topic, payload, created_us)' WHERE name = 'alarm_history';"
         "PRAGMA writable_schema = OFF;");
    sqlite3_close(db);
    fx->OpenOutbox();
    fx->writer = OpenRaw(fx->path);
    Exec(fx->writer, "PRAGMA synchronous = OFF");  // the fuzzer's own writes need no fsync
    std::atexit([] {
      Fixture& g = TheFixture();
      g.outbox.reset();
      sqlite3_close(g.writer);
      std::error_code ec;
      std::filesystem::remove_all(g.dir, ec);
    });
    return fx;
  }();
  return *f;
}

enum Column { kTopic, kPayload, kQos, kRetained, kCreated };

// Binds a fuzzer-chosen value of any SQLite type (or the column's typical value) to `index`.
void BindAny(sqlite3_stmt* stmt, int index, Column column, FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 7)) {
    case 0:
      sqlite3_bind_null(stmt, index);
      return;
    case 1:
      sqlite3_bind_int64(stmt, index, in.ConsumeIntegralInRange<int64_t>(-3, 4));
      return;
    case 2:
      sqlite3_bind_int64(stmt, index, in.ConsumeIntegral<int64_t>());
      return;
    case 3: {
      const uint64_t bits = in.ConsumeIntegral<uint64_t>();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      sqlite3_bind_double(stmt, index, d);
      return;
    }
    case 4: {
      const std::string s = in.ConsumeRandomLengthString(48);
      sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      return;
    }
    case 5: {
      const std::string s = in.ConsumeRandomLengthString(48);
      sqlite3_bind_blob(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      return;
    }
    default:
      break;
  }
  switch (column) {
    case kTopic:
      sqlite3_bind_text(stmt, index, "plant/line3-pc1/alarms/pump-7", -1, SQLITE_STATIC);
      return;
    case kPayload:
      sqlite3_bind_blob(stmt, index, R"({"seq":1,"state":"raised"})", 26, SQLITE_STATIC);
      return;
    case kQos:
    case kRetained:
      sqlite3_bind_int64(stmt, index, column == kQos ? 1 : 0);
      return;
    case kCreated:
      sqlite3_bind_int64(stmt, index, 1700000000000000);
      return;
  }
}

void WriteRows(Fixture& f, FuzzedDataProvider& in) {
  Exec(f.writer, "BEGIN; DELETE FROM message; DELETE FROM alarm_history;");
  const int rows = in.ConsumeIntegralInRange(0, 12);
  for (int r = 0; r < rows; ++r) {
    const bool history = in.ConsumeBool();
    sqlite3_stmt* stmt = nullptr;
    const char* sql =
        history ? "INSERT OR REPLACE INTO alarm_history(seq, topic, payload, created_us) "
                  "VALUES (?1, ?2, ?3, ?4)"
                : "INSERT OR REPLACE INTO message(seq, topic, payload, qos, retained, created_us) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    Require(sqlite3_prepare_v2(f.writer, sql, -1, &stmt, nullptr) == SQLITE_OK, "prepare", sql);
    switch (in.ConsumeIntegralInRange(0, 3)) {
      case 0:
        sqlite3_bind_null(stmt, 1);  // the next rowid
        break;
      case 1:
        sqlite3_bind_int64(stmt, 1, in.ConsumeIntegralInRange<int64_t>(1, 20));
        break;
      case 2:
        sqlite3_bind_int64(stmt, 1, in.ConsumeIntegral<int64_t>());
        break;
      default:
        sqlite3_bind_int64(stmt, 1, in.ConsumeIntegralInRange<int64_t>(-3, 0));
        break;
    }
    BindAny(stmt, 2, kTopic, in);
    BindAny(stmt, 3, kPayload, in);
    if (history) {
      BindAny(stmt, 4, kCreated, in);
    } else {
      BindAny(stmt, 4, kQos, in);
      BindAny(stmt, 5, kRetained, in);
      BindAny(stmt, 6, kCreated, in);
    }
    // A NULL seq on a table whose largest rowid is 2^63-1 has no next rowid: SQLITE_FULL.
    const int rc = sqlite3_step(stmt);
    Require(rc == SQLITE_DONE || rc == SQLITE_FULL, "insert failed:", sqlite3_errmsg(f.writer));
    sqlite3_finalize(stmt);
  }
  Exec(f.writer, "COMMIT");
}

// Well-formed UTF-8 by the byte ranges of Unicode table 3-7, without NUL, '+' or '#'.
bool TopicOk(const unsigned char* s, size_t n) {
  if (n == 0 || n > 65535) return false;
  size_t i = 0;
  const auto in = [&](size_t k, unsigned lo, unsigned hi) {
    return i + k < n && s[i + k] >= lo && s[i + k] <= hi;
  };
  while (i < n) {
    const unsigned c = s[i];
    size_t len = 0;
    if (c == 0 || c == '+' || c == '#') return false;
    if (c <= 0x7F) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = in(1, 0x80, 0xBF) ? 2 : 0;
    } else if (c == 0xE0) {
      len = in(1, 0xA0, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) ? 3 : 0;
    } else if (c == 0xED) {
      len = in(1, 0x80, 0x9F) && in(2, 0x80, 0xBF) ? 3 : 0;
    } else if (c == 0xF0) {
      len = in(1, 0x90, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = in(1, 0x80, 0xBF) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    } else if (c == 0xF4) {
      len = in(1, 0x80, 0x8F) && in(2, 0x80, 0xBF) && in(3, 0x80, 0xBF) ? 4 : 0;
    }
    if (len == 0) return false;
    i += len;
  }
  return true;
}

// The rows of `sql` (seq, topic, payload, qos, retained, created_us) as the contract decodes
// them, up to `limit` sound ones; damaged rows passed on the way are added to f.damaged.
std::vector<OutboxMessage> ReadIndependently(Fixture& f, const char* sql, int64_t param,
                                             const char* table, bool check_qos, size_t limit) {
  sqlite3_stmt* stmt = nullptr;
  Require(sqlite3_prepare_v2(f.writer, sql, -1, &stmt, nullptr) == SQLITE_OK, "prepare", sql);
  sqlite3_bind_int64(stmt, 1, param);
  std::vector<OutboxMessage> out;
  while (out.size() < limit) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) break;
    Require(rc == SQLITE_ROW, "independent read failed:", sqlite3_errmsg(f.writer));
    OutboxMessage m;
    const int64_t seq = sqlite3_column_int64(stmt, 0);
    bool sound = seq >= 1 && sqlite3_column_type(stmt, 1) == SQLITE_TEXT;
    const int payload_type = sqlite3_column_type(stmt, 2);
    sound = sound && (payload_type == SQLITE_TEXT || payload_type == SQLITE_BLOB);
    if (check_qos) {
      const int64_t qos = sqlite3_column_int64(stmt, 3);
      sound = sound && sqlite3_column_type(stmt, 3) == SQLITE_INTEGER && qos >= 0 && qos <= 2;
    }
    if (sound) {
      const auto* t = sqlite3_column_text(stmt, 1);
      const size_t tn = static_cast<size_t>(sqlite3_column_bytes(stmt, 1));
      sound = t != nullptr && TopicOk(t, tn);
      if (sound) m.topic.assign(reinterpret_cast<const char*>(t), tn);
    }
    if (!sound) {
      f.damaged.emplace(table, seq);
      continue;
    }
    m.seq = static_cast<uint64_t>(seq);
    const void* p = sqlite3_column_blob(stmt, 2);
    const int pn = sqlite3_column_bytes(stmt, 2);
    if (p != nullptr) m.payload.assign(static_cast<const char*>(p), static_cast<size_t>(pn));
    m.qos = check_qos ? static_cast<int>(sqlite3_column_int64(stmt, 3)) : 1;
    m.retained = check_qos && sqlite3_column_int64(stmt, 4) != 0;
    m.created = edge::storage::FromMicros(sqlite3_column_int64(stmt, 5));
    out.push_back(std::move(m));
  }
  sqlite3_finalize(stmt);
  return out;
}

void RequireSame(const std::vector<OutboxMessage>& got, const std::vector<OutboxMessage>& want,
                 const char* what) {
  Require(got.size() == want.size(), what, "returned another number of messages");
  for (size_t i = 0; i < got.size(); ++i) {
    const OutboxMessage& a = got[i];
    const OutboxMessage& b = want[i];
    Require(a.seq == b.seq && a.topic == b.topic && a.payload == b.payload && a.qos == b.qos &&
                a.retained == b.retained && a.created == b.created,
            what, "returned a message that differs from its row");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = TheFixture();
  if (++f.inputs % 4096 == 0) f.OpenOutbox();  // a restart; damaged_rows() starts again
  FuzzedDataProvider in(data, size);
  WriteRows(f, in);
  const auto after = in.ConsumeIntegralInRange<uint64_t>(0, 24);
  const auto limit = in.ConsumeIntegralInRange<size_t>(1, 16);
  const auto history_limit = in.ConsumeIntegralInRange<size_t>(1, 16);

  auto got = f.outbox->ReadAfter(after, limit);
  Require(got.ok(), "ReadAfter failed on a sound file:", got.status().message().c_str());
  RequireSame(*got,
              ReadIndependently(f,
                                "SELECT seq, topic, payload, qos, retained, created_us FROM "
                                "message WHERE seq > ?1 ORDER BY seq",
                                static_cast<int64_t>(after), "message", true, limit),
              "ReadAfter");

  auto history = f.outbox->AlarmHistory(history_limit);
  Require(history.ok(), "AlarmHistory failed on a sound file:", history.status().message().c_str());
  RequireSame(
      *history,
      ReadIndependently(f,
                        "SELECT seq, topic, payload, 1, 0, created_us FROM (SELECT * FROM "
                        "alarm_history ORDER BY seq DESC LIMIT ?1) ORDER BY seq",
                        static_cast<int64_t>(history_limit), "alarm_history", false, history_limit),
      "AlarmHistory");

  Require(f.outbox->damaged_rows() == f.damaged.size(), "damaged_rows() miscounts");
  return 0;
}
