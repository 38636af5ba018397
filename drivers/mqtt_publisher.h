// MqttPublisher: the transport to the upstream broker (DESIGN §8): publish with QoS 0/1/2 and a
// per-message completion callback (the outbox of issues #5/#7 deletes an alarm only when its
// PUBACK arrives), retained messages, and a Last Will set at connect (the retained
// `{"state":"offline"}` on <prefix>/<gateway.id>/status). What the payloads say is decided by
// the callers; this unit only moves bytes.
//
// The session is persistent (clean_session = false): QoS 1 messages in flight when the
// connection breaks are resent by paho after the reconnect, and complete then. Publish while
// disconnected returns Unavailable at once and queues nothing (the outbox keeps the message).
// Options::on_connected runs after every (re)connect, e.g. to publish the "online" status.
// Options::subscriptions are (re)subscribed with QoS 1 after every connect.
//
// Thread-safety: Start and Stop from one controlling thread; Publish and stats() from any
// thread. Completion callbacks run on paho's callback thread: keep them short.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/status.h"
#include "drivers/mqtt_connection.h"

namespace edge::drivers {

class MqttPublisher {
 public:
  struct Options {
    std::string name = "upstream";  // for log lines
    std::optional<MqttWill> will;
    int max_inflight = 1024;
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{std::chrono::seconds(30)};
    std::function<void()> on_connected;
    // Topic filters to subscribe to on every connect (e.g. models/notify), and what to do with
    // their messages (on paho's callback thread).
    std::vector<std::string> subscriptions;
    MqttMessageHandler on_message;
  };

  [[nodiscard]] static StatusOr<std::unique_ptr<MqttPublisher>> Create(
      const config::BrokerConfig& broker, Options options);

  // Connects in the background (and keeps reconnecting).
  [[nodiscard]] Status Start() { return connection_->Start(); }
  // Disconnects cleanly: the broker does not send the Last Will.
  void Stop() { connection_->Stop(); }

  // See MqttConnection::Publish: `done` gets OK on PUBACK (QoS 1) and is called exactly once
  // if this returns OK.
  [[nodiscard]] Status Publish(std::string_view topic, std::string_view payload, int qos,
                               bool retained, MqttPublishCallback done = nullptr) {
    return connection_->Publish(topic, payload, qos, retained, std::move(done));
  }

  bool WaitConnected(std::chrono::milliseconds timeout) const {
    return connection_->WaitConnected(timeout);
  }
  MqttConnectionStats stats() const { return connection_->stats(); }

 private:
  explicit MqttPublisher(std::unique_ptr<MqttConnection> c) : connection_(std::move(c)) {}
  std::unique_ptr<MqttConnection> connection_;
};

}  // namespace edge::drivers
