#include "agent/outbox_publisher.h"

#include <chrono>
#include <vector>

#include "core/logging.h"

namespace edge::agent {

OutboxPublisher::OutboxPublisher(storage::Outbox& outbox, drivers::MqttPublisher& upstream)
    : outbox_(outbox),
      upstream_(upstream),
      rate_log_(GetLogger("pipeline"), 5, std::chrono::minutes(1)) {}

OutboxPublisher::~OutboxPublisher() { Stop(); }

void OutboxPublisher::Start() {
  {
    MutexLock lock(&mu_);
    stop_ = false;
  }
  beat_.Beat();
  thread_ = std::thread([this] { Loop(); });
}

void OutboxPublisher::Stop() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  thread_.join();
}

void OutboxPublisher::Wake() {
  {
    MutexLock lock(&mu_);
    wake_ = true;
  }
  cv_.NotifyAll();
}

void OutboxPublisher::Loop() {
  uint64_t last_sent = 0;
  uint64_t seen_connects = 0;
  for (;;) {
    beat_.Beat();
    {
      MutexLock lock(&mu_);
      if (!stop_ && !wake_) cv_.WaitFor(&mu_, std::chrono::seconds(1));
      wake_ = false;
      if (stop_) return;
    }
    const drivers::MqttConnectionStats up = upstream_.stats();
    if (up.state != drivers::MqttConnectionState::kConnected) continue;
    // After a reconnect, or a publish that failed, everything unconfirmed goes again, in order.
    if (up.connects != seen_connects || resend_.exchange(false)) {
      seen_connects = up.connects;
      last_sent = 0;
    }
    SendPending(last_sent);
  }
}

void OutboxPublisher::SendPending(uint64_t& last_sent) {
  while (in_flight_.load() < kMaxInFlight) {
    StatusOr<std::vector<storage::OutboxMessage>> messages =
        outbox_.ReadAfter(last_sent, kReadBatch);
    if (!messages.ok()) {
      rate_log_.Error("outbox-read", "outbox: {}", messages.status().message());
      return;
    }
    if (messages->empty()) return;
    for (const storage::OutboxMessage& m : *messages) {
      ++in_flight_;
      const uint64_t seq = m.seq;
      const Status s =
          upstream_.Publish(m.topic, m.payload, m.qos, m.retained,
                            [this, seq](const Status& result) { OnPublished(seq, result); });
      if (!s.ok()) {
        --in_flight_;
        return;  // not connected: the reconnect sends it
      }
      last_sent = seq;
    }
  }
}

// On paho's thread.
void OutboxPublisher::OnPublished(uint64_t seq, const Status& result) {
  --in_flight_;
  if (result.ok()) {
    if (Status c = outbox_.Confirm(seq); !c.ok()) {
      rate_log_.Error("outbox-confirm", "outbox: {}", c.message());
    }
    ++published_;
  } else {
    resend_ = true;
  }
  Wake();
}

}  // namespace edge::agent
