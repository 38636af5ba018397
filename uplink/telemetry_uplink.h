// TelemetryUplink: sends the stored readings upstream (DESIGN §10). One thread runs every
// configured stream (uplink/telemetry_stream.h) and the alarm-context stream
// (uplink/alarm_context.h) over its own connection to samples.db (storage/uplink_store.h), and
// publishes through the agent's upstream connection, QoS 1.
//
// Each round of the thread:
//  1. takes the broker's answers (PUBACKs arrive on paho's thread and are queued here) and takes
//     the confirmed messages out of each stream's window;
//  2. if the broker is connected and the alarm publisher has nothing in flight (alarms, status
//     and model status always go first: `alarms_idle`), cuts messages into each stream's window;
//  3. in ONE transaction for all streams, moves the committed cursors over what was confirmed
//     and writes the new messages' plans ahead (synchronous=FULL: the fsync is most of a
//     round's cost during a backlog drain, so one per round, not two per stream), then publishes
//     the new messages, as each stream's `max_rate` allows (a token bucket of payload bytes);
//  4. every few seconds, matches new tags and recomputes backlog and lag.
// It waits for a PUBACK, a Wake(), or the next rate-limit or idle tick. A stream whose last cut
// was not full is cut again no sooner than kIdleCut later, so a live stream costs a few queries
// a second, not one per reading.
//
// Faults: a database error (busy beyond its timeout, disk full) is logged at a limited rate and
// the round is tried again later: nothing is skipped, since the cursors only move on success. A
// broker that goes away stops the sending; what was in flight is answered by paho after the
// reconnect (persistent session) or sent again after kResendAfter.
//
// Thread-safety: Start/Stop from the owner; Wake() and stats() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/clock.h"
#include "core/heartbeat.h"
#include "core/mutex.h"
#include "core/rate_limited_log.h"
#include "core/thread_annotations.h"
#include "drivers/mqtt_publisher.h"
#include "storage/outbox.h"
#include "uplink/alarm_context.h"
#include "uplink/telemetry_stream.h"

namespace edge::uplink {

struct UplinkOptions {
  const Clock* clock = nullptr;  // null: the system clock
  // True while alarms or other outbox messages wait for the broker: telemetry holds back.
  std::function<bool()> alarms_idle;
};

class TelemetryUplink {
 public:
  // Nothing to run (null) when the configuration has no streams and no alarm context.
  // `outbox` and `upstream` must outlive the uplink.
  [[nodiscard]] static std::unique_ptr<TelemetryUplink> Create(const config::AgentConfig& config,
                                                               std::string samples_path,
                                                               storage::Outbox& outbox,
                                                               drivers::MqttPublisher& upstream,
                                                               UplinkOptions options);
  ~TelemetryUplink();  // Stop()
  TelemetryUplink(const TelemetryUplink&) = delete;
  TelemetryUplink& operator=(const TelemetryUplink&) = delete;

  void Start();
  void Stop() EXCLUDES(mu_);
  void Wake() EXCLUDES(mu_);

  // Per stream, as of the thread's last round (the alarm-context stream included).
  std::vector<StreamStats> stats() const EXCLUDES(stats_mu_);
  const Heartbeat& heartbeat() const { return beat_; }
  bool running() const { return thread_.joinable(); }

 private:
  static constexpr auto kIdleCut = std::chrono::seconds(1);
  static constexpr auto kDiscoverEvery = std::chrono::seconds(5);
  static constexpr auto kBacklogEvery = std::chrono::seconds(10);
  static constexpr auto kResendAfter = std::chrono::seconds(60);
  static constexpr auto kRetryOpen = std::chrono::seconds(5);

  struct Lane {  // one stream's sending side
    MessageWindow* window = nullptr;
    std::string name;
    uint64_t max_rate = 0;  // bytes/s, 0: unlimited
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled{};
    std::chrono::steady_clock::time_point next_cut{};
    uint64_t resent = 0;
  };
  struct Result {
    size_t lane = 0;
    uint64_t seq = 0;
    bool ok = false;
  };

  TelemetryUplink(const config::AgentConfig& config, std::string samples_path,
                  storage::Outbox& outbox, drivers::MqttPublisher& upstream, UplinkOptions options);
  void Run() EXCLUDES(mu_);
  [[nodiscard]] Status OpenAll();
  // One round; returns when the thread should look again at the latest.
  std::chrono::steady_clock::time_point Round() EXCLUDES(mu_);
  [[nodiscard]] Status CutAll(std::chrono::steady_clock::time_point now, int64_t now_us);
  // One transaction for the round's writes of every stream: the cursors moved over what the
  // broker confirmed and the plans of the messages just cut (one fsync per round, not two per
  // stream). Only once it committed do the cursors move in memory and the new messages count
  // as written ahead (may be published). `commit_pending`: some stream took confirmed messages.
  [[nodiscard]] Status WriteRound(bool commit_pending);
  [[nodiscard]] Status WriteAhead(size_t lane);
  // Publishes what lane `i` may send now; returns when it may send more (max() if not limited).
  std::chrono::steady_clock::time_point Send(size_t i, std::chrono::steady_clock::time_point now);
  void TakeResults() EXCLUDES(mu_);
  void Periodic(std::chrono::steady_clock::time_point now, int64_t now_us);
  void PublishStats() EXCLUDES(stats_mu_);

  const config::AgentConfig config_;
  const std::string samples_path_;
  storage::Outbox& outbox_;
  drivers::MqttPublisher& upstream_;
  const UplinkOptions options_;
  const Clock& clock_;

  // The uplink thread's own state.
  std::unique_ptr<storage::UplinkStore> store_;
  std::unique_ptr<storage::SampleReader> reader_;  // alarm context reads by time
  std::vector<std::unique_ptr<TelemetryStream>> streams_;
  std::unique_ptr<AlarmContextStream> context_;
  std::vector<Lane> lanes_;  // streams_ in order, then the alarm context
  std::chrono::steady_clock::time_point next_discover_{}, next_backlog_{};
  RateLimitedLog rate_log_;

  Mutex mu_;
  CondVar cv_;
  bool wake_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  std::vector<Result> results_ GUARDED_BY(mu_);  // from paho's thread

  mutable Mutex stats_mu_;
  std::vector<StreamStats> stats_ GUARDED_BY(stats_mu_);

  Heartbeat beat_;
  std::thread thread_;
};

}  // namespace edge::uplink
