// OutboxPublisher: sends what the outbox holds (alarms, model status) to the upstream broker,
// QoS 1, in seq order, and deletes each message from the outbox only on its PUBACK (DESIGN §3,
// §8). Delivery is at least once: after a reconnect, or a publish the broker did not confirm,
// everything still unconfirmed goes again, in order; `seq` lets a subscriber drop duplicates.
// At most kMaxInFlight messages wait for their PUBACK at a time.
//
// DESIGN: threads. One publisher thread owns the read position in the outbox; it wakes on
// Wake() (a message was appended, the broker connected, a PUBACK arrived) or every second, and
// sends only while the broker is connected. PUBACKs arrive on paho's threads, which confirm the
// message in the outbox (its own lock) and wake the thread. Stop() raises the stop flag, wakes
// the thread and joins it; unconfirmed messages stay in the outbox for the next start. The
// owner stops the broker connection after Stop(), and destroys this object after that.
//
// Thread-safety: Start/Stop from the owner; Wake, published(), heartbeat(), running() from any
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "core/heartbeat.h"
#include "core/mutex.h"
#include "core/rate_limited_log.h"
#include "core/thread_annotations.h"
#include "drivers/mqtt_publisher.h"
#include "storage/outbox.h"

namespace edge::agent {

class OutboxPublisher {
 public:
  // Both must outlive this object.
  OutboxPublisher(storage::Outbox& outbox, drivers::MqttPublisher& upstream);
  ~OutboxPublisher();  // Stop()
  OutboxPublisher(const OutboxPublisher&) = delete;
  OutboxPublisher& operator=(const OutboxPublisher&) = delete;

  void Start() EXCLUDES(mu_);
  void Stop() EXCLUDES(mu_);  // idempotent

  // Something may be ready to send: look at once rather than within a second.
  void Wake() EXCLUDES(mu_);

  // Nothing is waiting for a PUBACK and no wake-up is pending: the telemetry uplink may send
  // (alarms, status and model status always go first, DESIGN §10).
  bool Idle() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return !wake_ && in_flight_.load() == 0;
  }

  // Outbox messages confirmed by the broker since Start.
  uint64_t published() const { return published_.load(); }
  const Heartbeat& heartbeat() const { return beat_; }
  bool running() const { return thread_.joinable(); }

 private:
  static constexpr size_t kReadBatch = 256;
  static constexpr uint64_t kMaxInFlight = 512;

  void Loop() EXCLUDES(mu_);
  // Sends unconfirmed messages after `last_sent` until kMaxInFlight wait for their PUBACK or the
  // outbox has no more; moves `last_sent` to the last one handed to the broker.
  void SendPending(uint64_t& last_sent) EXCLUDES(mu_);
  void OnPublished(uint64_t seq, const Status& result) EXCLUDES(mu_);

  storage::Outbox& outbox_;
  drivers::MqttPublisher& upstream_;

  mutable Mutex mu_;
  CondVar cv_;
  bool wake_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;

  std::atomic<bool> resend_{false};  // a publish failed: send everything unconfirmed again
  std::atomic<uint64_t> in_flight_{0};
  std::atomic<uint64_t> published_{0};
  Heartbeat beat_;
  RateLimitedLog rate_log_;
  std::thread thread_;
};

}  // namespace edge::agent
