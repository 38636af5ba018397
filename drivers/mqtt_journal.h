// MqttJournal: what one MQTT source has received and acknowledged, kept on disk until the
// pipeline has surely committed it to samples.db, so that a crash costs no reading (issue #23
// item 14; the replay skips what was committed, drivers/mqtt_source.h).
//
// Why a journal and not a late PUBACK: paho C (1.3.12, MQTTProtocol_handlePublishes in
// MQTTProtocolClient.c) writes the PUBACK of a QoS 1 message to the socket *before* it hands the
// message to the application, and has no manual acknowledgement; returning false from the
// callback only makes paho call it again. The broker therefore forgets a message about a
// commit interval (200 ms) before samples.db holds it. The journal closes that gap: the message
// callback appends the message here (one writev(2), no fsync: the same guarantee against a
// process crash that samples.db's synchronous=NORMAL gives) before it pushes the samples, and
// the next start replays every message still journaled through the ordinary decode path.
// What remains at risk is the few microseconds between paho's PUBACK and this append, on the
// same thread (docs/RELIABILITY.md, "What a crash can lose, per source").
//
// Files: <dir>/source-<source>.<generation>.journal, generations numbered upwards. Appends go to the
// newest. When it has been open for `keep` (or holds max_file_bytes), a new generation starts
// and every older one is deleted; so each message stays on disk at least `keep` after it was
// written (longer than any commit takes, unless a full disk pauses the writer: then the
// writer drops samples anyway, counted), and the journal holds at most two generations.
// The next start replays all generations, oldest first, and deletes them at its first
// rotation. After a clean stop, once the writer has committed everything, Clear() deletes them.
//
// Record, little endian: u32 length L of what follows the CRC | u32 CRC-32 (zlib) of those L
// bytes | i64 arrival time, µs since the epoch | u16 topic length | topic | payload. A short,
// zero or oversized length, a short read or a CRC mismatch ends the file (a torn tail).
//
// Thread-safety: Replay before the connection starts; Append from the source's one paho
// callback thread; Clear after the connection stopped; stats() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/sample.h"
#include "core/status.h"

namespace edge::drivers {

struct MqttJournalStats {
  uint64_t appended = 0;         // messages journaled
  uint64_t append_failures = 0;  // writes that failed (disk full, ...): not protected
  uint64_t replayed = 0;         // messages replayed at start
  uint64_t early_rotations = 0;  // generations cut short by max_file_bytes
};

class MqttJournal {
 public:
  struct Options {
    std::chrono::milliseconds keep{std::chrono::seconds(2)};  // 10 commit intervals
    uint64_t max_file_bytes = 64ull << 20;
  };

  // Creates `dir` (0700) if needed and finds the generations an earlier run left.
  [[nodiscard]] static StatusOr<std::unique_ptr<MqttJournal>> Open(const std::string& dir,
                                                                   const std::string& source,
                                                                   Options options);
  ~MqttJournal();
  MqttJournal(const MqttJournal&) = delete;
  MqttJournal& operator=(const MqttJournal&) = delete;

  using Visitor =
      std::function<void(Timestamp arrival, std::string_view topic, std::string_view payload)>;
  // Calls `visit` for every message of the earlier run, oldest first, then opens a new
  // generation for Append. Errors name the file.
  [[nodiscard]] Status Replay(const Visitor& visit);

  // Appends one message (counted on failure, never blocks beyond the write).
  void Append(Timestamp arrival, std::string_view topic, std::string_view payload);

  // Deletes every generation: everything journaled is committed.
  void Clear();

  MqttJournalStats stats() const;

 private:
  MqttJournal(std::string dir, std::string source, Options options);
  std::string PathOf(uint64_t generation) const;
  // Deletes every generation but the newest, then OpenNext().
  void Rotate(bool early);
  // Closes the open generation (if any) and opens the next.
  void OpenNext();

  const std::string dir_;
  const std::string source_;
  const Options options_;
  std::vector<uint64_t> generations_;  // on disk, ascending; the last is the one open
  int fd_ = -1;
  uint64_t file_bytes_ = 0;
  std::chrono::steady_clock::time_point opened_{};
  std::string header_;  // reused per record

  std::atomic<uint64_t> appended_{0};
  std::atomic<uint64_t> append_failures_{0};
  std::atomic<uint64_t> replayed_{0};
  std::atomic<uint64_t> early_rotations_{0};
};

}  // namespace edge::drivers
