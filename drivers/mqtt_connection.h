// MqttConnection: the one way edge-agent connects to an MQTT broker (each MQTT source, and the
// upstream publisher), over paho-mqtt-cpp's async client.
//
// What it adds to paho:
//  - its own reconnect loop with capped exponential back-off (Options::backoff_initial doubling
//    up to backoff_max; back to the start after a successful connect). paho's automatic
//    reconnect is off: it does not retry a first connect that fails, and logs nothing.
//  - re-subscription of every filter after each (re)connect; a refused subscription (SUBACK
//    0x80, e.g. an ACL) is a connect failure, retried with back-off.
//  - MQTT v5 where asked for (Options::mqtt_v5, the sources): the CONNECT then carries Maximum
//    Packet Size (Options::max_packet_bytes), and the broker must not send this client a larger
//    packet (MQTT 5.0 §3.1.2.11.4; mosquitto 2.x drops it for this client and logs it). paho C
//    reads every packet whole into memory before any callback runs, so this is the only place a
//    40 MiB payload can be refused before it costs 40 MiB. A broker that refuses v5 (CONNACK
//    "unacceptable protocol version", v5 reason 0x84) gets 3.1.1 at once, and keeps getting it
//    for this connection's life; over 3.1.1 only the broker's own max_packet_size protects us
//    (docs/DEPLOYING.md). stats().protocol_version says which one holds.
//  - persistent sessions where they matter: Options::clean_session = false keeps the broker's
//    queue of QoS 1/2 messages for a source while the agent is away, and lets paho resend
//    unacknowledged publishes after a reconnect.
//  - credentials from `password_file`, TLS with CA / client certificate / key and host name
//    verification, keepalive, a Last Will.
//  - TCP_NODELAY on the broker connection, which paho never sets: after every connect the
//    connection thread sets it through drivers/tcp_nodelay.h, which says why and how
//    (stats().tcp_nodelay says whether it holds).
//  - counters and a state for /metrics, and connect failures logged at a limited rate with the
//    reason spelled out ("bad user name or password"; for a failed TLS handshake, which paho
//    reports without a reason, the fault found by repeating the handshake with OpenSSL: the
//    broker's certificate expired / not for this host name / not signed by tls.ca_file, the
//    broker requires or refused our client certificate: drivers/tls_diagnosis.h).
//
// Callbacks: the message handler and publish completions run on paho's callback thread; they
// must not block for long (a slow handler stalls every message of this connection).
//
// Thread-safety: AddSubscription / SetMessageHandler before Start(), from one thread; Start and
// Stop from one controlling thread; Publish, stats(), state() and WaitConnected from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/mutex.h"
#include "core/status.h"
#include "core/stop_signal.h"
#include "core/thread_annotations.h"

namespace edge::drivers {

enum class MqttConnectionState { kStopped, kConnecting, kConnected, kDisconnected };
std::string_view MqttConnectionStateName(MqttConnectionState s);

struct MqttWill {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retained = true;
};

struct MqttConnectionStats {
  MqttConnectionState state = MqttConnectionState::kStopped;
  uint64_t connect_attempts = 0;
  uint64_t connects = 0;           // successful connects (the first one and every reconnect)
  uint64_t connect_failures = 0;   // refused, unreachable, TLS failure, timeout, SUBACK refused
  uint64_t connection_losses = 0;  // an established connection that broke
  uint64_t messages_received = 0;
  uint64_t publishes = 0;         // accepted by Publish
  uint64_t publish_acks = 0;      // completed: PUBACK (QoS 1), PUBCOMP (QoS 2), sent (QoS 0)
  uint64_t publish_failures = 0;  // refused at once, or failed later
  bool tcp_nodelay = false;       // TCP_NODELAY was found set on the broker socket
  int protocol_version = 0;       // of the last successful connect: 5 or 4 (3.1.1); 0 before
  std::string last_error;         // the latest connect failure or loss; "" if none yet
};

// (topic, payload) of a received message; called on paho's thread.
using MqttMessageHandler = std::function<void(std::string_view topic, std::string_view payload)>;
// Completion of one publish: OK on PUBACK (QoS 1), PUBCOMP (QoS 2), or once written (QoS 0);
// Unavailable when the message could not be delivered (the caller may retry it).
using MqttPublishCallback = std::function<void(const Status& result)>;

class MqttConnection {
 public:
  struct Options {
    std::string name;  // for log lines: "mqtt source vibration", "upstream"
    bool clean_session = true;
    std::optional<MqttWill> will;
    int max_inflight = 1024;   // unacknowledged QoS 1/2 publishes in flight
    int max_buffered = 10000;  // publishes waiting in paho's queue to be sent
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{std::chrono::seconds(30)};
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
    // Try MQTT v5 first (falling back to 3.1.1), with Maximum Packet Size = max_packet_bytes
    // (0: none). A persistent session (clean_session = false) is then Clean Start = 0 with a
    // Session Expiry Interval that never ends, as a 3.1.1 persistent session is.
    bool mqtt_v5 = false;
    uint32_t max_packet_bytes = 0;
    // Runs on the connection thread after each successful connect and re-subscription (e.g. to
    // publish an "online" status). May call Publish.
    std::function<void()> on_connected;
  };

  // Reads the password file and checks the TLS files exist; InvalidArgument naming the file
  // otherwise. Creates the paho client; connects nothing.
  [[nodiscard]] static StatusOr<std::unique_ptr<MqttConnection>> Create(
      const config::BrokerConfig& broker, Options options);

  MqttConnection(const MqttConnection&) = delete;
  MqttConnection& operator=(const MqttConnection&) = delete;
  ~MqttConnection();  // Stop()

  // REQUIRES: before Start().
  void AddSubscription(std::string filter, int qos);
  void SetMessageHandler(MqttMessageHandler handler);

  // Starts the connection thread; connecting happens there (a broker that is away does not
  // fail Start). FailedPrecondition if started twice.
  [[nodiscard]] Status Start();

  // Disconnects cleanly (the Last Will is not sent) and joins the thread. Idempotent.
  void Stop();

  // Queues one message. Unavailable when not connected (nothing is queued then, and `done` is
  // not called); otherwise `done`, if given, is called exactly once, on paho's thread.
  [[nodiscard]] Status Publish(std::string_view topic, std::string_view payload, int qos,
                               bool retained, MqttPublishCallback done = nullptr);

  MqttConnectionState state() const { return state_.load(); }
  bool WaitConnected(std::chrono::milliseconds timeout) const EXCLUDES(state_mu_);
  MqttConnectionStats stats() const EXCLUDES(mu_);
  const std::string& uri() const { return uri_; }
  const std::string& name() const { return options_.name; }

 private:
  class Impl;
  class PublishListener;

  MqttConnection(std::string uri, uint16_t port, Options options);
  void Run();
  // `tls_diagnosis`: what a failed TLS handshake was found to be (drivers/tls_diagnosis.h),
  // filled on the first such failure and reused while it is not empty.
  [[nodiscard]] Status ConnectOnce(std::string* tls_diagnosis);
  void SetState(MqttConnectionState s) EXCLUDES(state_mu_);
  // Removes `listener` from in_flight_ and hands it over; null if it is no longer there.
  std::unique_ptr<PublishListener> TakeInFlight(PublishListener* listener) EXCLUDES(mu_);
  void FinishPublish(PublishListener* listener, const Status& result) EXCLUDES(mu_);

  const std::string uri_;
  const uint16_t port_;
  bool tls_ = false;               // ssl://; fixed after Create
  config::BrokerAddress address_;  // fixed after Create
  config::TlsConfig tls_config_;   // fixed after Create; defaults when the config has none
  const Options options_;
  std::unique_ptr<Impl> impl_;                              // the paho client and its options
  std::vector<std::pair<std::string, int>> subscriptions_;  // fixed after Start
  MqttMessageHandler handler_;                              // fixed after Start

  StopSignal stop_;
  std::thread thread_;
  bool started_ = false;

  std::atomic<MqttConnectionState> state_{MqttConnectionState::kStopped};
  // With state_cv_: WaitConnected and the connection thread wait for state_ / lost_ changes.
  // state_ itself is atomic (read without the lock by state() and Publish) but is stored under
  // state_mu_ so that a waiter cannot miss a change between its check and its wait.
  mutable Mutex state_mu_;
  mutable CondVar state_cv_;  // state changes, connection lost, stop
  bool lost_ GUARDED_BY(state_mu_) = false;
  std::string lost_cause_ GUARDED_BY(state_mu_);

  mutable Mutex mu_;
  std::string last_error_ GUARDED_BY(mu_);
  // Publishes paho has not completed yet; freed on completion.
  std::vector<std::unique_ptr<PublishListener>> in_flight_ GUARDED_BY(mu_);

  std::atomic<uint64_t> connect_attempts_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> connect_failures_{0};
  std::atomic<uint64_t> connection_losses_{0};
  std::atomic<uint64_t> messages_received_{0};
  std::atomic<uint64_t> publishes_{0};
  std::atomic<uint64_t> publish_acks_{0};
  std::atomic<uint64_t> publish_failures_{0};
  std::atomic<bool> tcp_nodelay_{false};
  std::atomic<int> protocol_version_{0};
};

// "paho-mqtt-cpp 1.2.0, paho C 1.3.12": the linked libraries, for `edge-agent version`.
std::string MqttLibraryVersions();

}  // namespace edge::drivers
