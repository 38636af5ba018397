// AlarmContextStream: the `alarm-context` stream (DESIGN §10): for each raised alarm, the raw
// readings of the deployment's inputs from `before` to `after` the window that raised it, as
// JSON messages on <prefix>/<gateway>/telemetry/alarm-context with "asset" and "alarm_seq".
//
// The alarms come from the outbox's alarm history (storage/outbox.h), which keeps every alarm in
// the same transaction that queues it: no alarm can be raised without this stream finding it,
// even across a crash. The stream remembers the last alarm seq it has handled (its uplink_cursor
// row with tag id 0). An alarm is handled once its `after` has passed (in reading time, plus a
// few seconds for the storage writer's commit): its readings are then read by time from
// samples.db, cut into messages of at most kMaxReadings readings, and written ahead with their
// payloads (the context of one alarm is small and fixed once its time has passed). On the
// first start the stream begins after the newest alarm already in the history.
//
// Thread-safety: none; owned by the uplink thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/status.h"
#include "storage/outbox.h"
#include "storage/sample_reader.h"
#include "storage/uplink_store.h"
#include "uplink/message_window.h"

namespace edge::uplink {

using config::kAlarmContextStream;  // "alarm-context"

class AlarmContextStream {
 public:
  static constexpr size_t kMaxReadings = 1000;  // per message

  AlarmContextStream(const config::AgentConfig& config, std::string topic);

  MessageWindow& window() { return window_; }
  bool enabled() const { return enabled_; }

  [[nodiscard]] Status Open(storage::UplinkStore& store, storage::Outbox& outbox, int64_t now_us);
  // Cuts the context of every alarm whose `after` has passed, while the window has room; stores
  // the last alarm handled after the messages are written ahead (Written()).
  [[nodiscard]] Status Poll(storage::Outbox& outbox, storage::SampleReader& reader, int64_t now_us);
  [[nodiscard]] Status Written(storage::UplinkStore& store);
  [[nodiscard]] Status CommitConfirmed(storage::UplinkStore& store);

  uint64_t messages() const { return messages_; }
  uint64_t readings() const { return readings_; }
  uint64_t bytes() const { return bytes_; }
  uint64_t alarms() const { return alarms_; }

 private:
  struct Alarm {
    uint64_t seq = 0;
    std::string asset;
    int64_t window_end_us = 0;
    bool raised = false;
  };
  static std::vector<Alarm> ParseHistory(const std::vector<storage::OutboxMessage>& rows,
                                         uint64_t after_seq);
  [[nodiscard]] Status Cut(const Alarm& alarm, storage::SampleReader& reader);

  bool enabled_ = false;
  std::string gateway_;
  std::string topic_;
  int64_t before_us_ = 0;
  int64_t after_us_ = 0;
  std::map<std::string, std::vector<std::string>> inputs_;  // asset -> its input tags
  MessageWindow window_;
  uint64_t handled_ = 0;        // last alarm seq cut
  uint64_t handled_saved_ = 0;  // as stored in samples.db
  uint64_t messages_ = 0, readings_ = 0, bytes_ = 0, alarms_ = 0;
};

}  // namespace edge::uplink
