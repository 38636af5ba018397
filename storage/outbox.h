// Outbox: alarms (and other messages that must not be lost) wait here until the MQTT broker
// confirms them (DESIGN §3, §8). Store-and-forward with at-least-once delivery:
//
//   seq = outbox.Append(topic, payload, qos, retained)   // committed with synchronous=FULL
//   publish(...)                                          // only after Append returned
//   on PUBACK: outbox.Confirm(seq)                        // deleted only now
//   after a reconnect or restart: ReadAfter(0, n) replays what is unconfirmed, in seq order
//
// The file is <data_dir>/outbox.db, separate from samples.db: a disk filled by sample history
// (or a corrupt samples file) never blocks alarms, and the outbox's fsync-per-message
// (synchronous=FULL) does not slow sample commits. The file stays tiny (rows are deleted on
// confirm) and keeps 256 KiB of free pages plus an already-grown WAL in reserve, so Append keeps
// working when samples have filled the file system to the last byte (tested on a full tmpfs).
//
// Sequence numbers: strictly increasing per gateway and across restarts, also after every
// message was confirmed and deleted: the next number lives in its own table (outbox_seq) and is
// advanced in the same transaction as the insert. Append can put the number into the payload
// (the alarm JSON carries "seq") through the make_payload overload.
//
// Alarm history: AppendAlarm also keeps a copy of the alarm in alarm_history, in the same
// transaction; those rows stay after the broker confirms, up to the newest `history_rows`.
//
// Schema (PRAGMA user_version 2; version 1 had no alarm_history and is migrated at Open):
//   message(seq INTEGER PRIMARY KEY, topic TEXT, payload BLOB, qos INTEGER, retained INTEGER,
//           created_us INTEGER)
//   outbox_seq(id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER)
//   alarm_history(seq INTEGER PRIMARY KEY, topic TEXT, payload TEXT, created_us INTEGER)
//
// Damaged rows: SQLite keeps no checksums, so a flipped bit (or a hand edit) can leave a row
// that no broker would take. A row whose seq is below 1, whose topic is not a non-empty text
// that is a valid MQTT topic name (UTF-8, no NUL, '+' or '#', at most 65535 bytes), whose qos is
// not an integer 0..2 or whose payload is NULL is skipped by every read, logged and counted once
// (damaged_rows()), and left in the file for inspection. It can neither stop the messages behind
// it (ReadAfter's limit counts the messages it returns) nor reach the publisher.
//
// Thread-safety: all methods are safe from any thread (the alarm engine appends while the
// publisher reads and confirms); one mutex (mu_) serialises use of the connection.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/sample.h"
#include "core/status.h"
#include "core/thread_annotations.h"
#include "storage/sqlite_db.h"

namespace edge::storage {

struct OutboxMessage {
  uint64_t seq = 0;
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retained = false;
  Timestamp created{};
};

class Outbox {
 public:
  // Opens (creating, migrating, or moving aside a corrupt file) `path`.
  [[nodiscard]] static StatusOr<std::unique_ptr<Outbox>> Open(const std::string& path,
                                                              size_t history_rows = 10000);

  // Stores a message durably and returns its sequence number. ResourceExhausted when the disk
  // is full (nothing is stored then, and the number is not used).
  [[nodiscard]] StatusOr<uint64_t> Append(std::string_view topic, std::string_view payload, int qos,
                                          bool retained);
  // Same, with the payload built from the sequence number it gets.
  [[nodiscard]] StatusOr<uint64_t> Append(
      std::string_view topic, const std::function<std::string(uint64_t seq)>& make_payload, int qos,
      bool retained);

  // An alarm: QoS 1, not retained, and kept in the alarm history as well.
  [[nodiscard]] StatusOr<uint64_t> AppendAlarm(
      std::string_view topic, const std::function<std::string(uint64_t seq)>& make_payload);

  // The newest `limit` alarms of the history (confirmed or not), in seq order.
  [[nodiscard]] StatusOr<std::vector<OutboxMessage>> AlarmHistory(size_t limit) EXCLUDES(mu_);

  // Up to `limit` unconfirmed messages with seq > after_seq, in seq order.
  [[nodiscard]] StatusOr<std::vector<OutboxMessage>> ReadAfter(uint64_t after_seq, size_t limit)
      EXCLUDES(mu_);

  // Deletes message `seq` (the broker confirmed it). Confirming an unknown or already confirmed
  // seq is OK (PUBACKs can repeat after a reconnect).
  [[nodiscard]] Status Confirm(uint64_t seq) EXCLUDES(mu_);

  [[nodiscard]] StatusOr<uint64_t> Pending() EXCLUDES(mu_);
  // The number the next Append will get.
  [[nodiscard]] StatusOr<uint64_t> NextSeq() EXCLUDES(mu_);

  // Damaged rows the reads have skipped so far, each counted once.
  uint64_t damaged_rows() EXCLUDES(mu_);

  const std::string& path() const { return path_; }
  size_t history_rows() const { return history_rows_; }

 private:
  Outbox(SqliteDb db, size_t history_rows)
      : path_(db.path()), db_(std::move(db)), history_rows_(history_rows) {}
  [[nodiscard]] StatusOr<uint64_t> Insert(
      std::string_view topic, const std::function<std::string(uint64_t seq)>& make_payload, int qos,
      bool retained, bool history) EXCLUDES(mu_);
  // Up to `limit` rows of (seq, topic, payload, qos, retained, created_us, sound), where sound is
  // 1 if the SQLite types are right; damaged rows of `table` are skipped.
  [[nodiscard]] StatusOr<std::vector<OutboxMessage>> ReadMessages(Statement& stmt,
                                                                  std::string_view table,
                                                                  size_t limit) REQUIRES(mu_);

  Mutex mu_;
  const std::string path_;  // db_.path(), readable without the lock
  SqliteDb db_ GUARDED_BY(mu_);
  const size_t history_rows_;
  std::set<std::pair<std::string, int64_t>> damaged_ GUARDED_BY(mu_);  // (table, seq) skipped
};

// Sets pragmas and creates the outbox schema (used by Open; exposed for OpenWithRecovery).
[[nodiscard]] Status PrepareOutboxDb(SqliteDb& db, int* migrated_from);

}  // namespace edge::storage
