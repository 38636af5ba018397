// DESIGN (threads): Start() starts one thread per connection ("mqtt-conn"). It owns the connect
// / subscribe / back-off cycle: it calls paho's connect and subscribe and waits on their tokens,
// then sleeps on state_cv_ until paho reports the connection lost or Stop() is requested.
// paho itself runs two threads per client (send and receive/callback); the message handler,
// the connection-lost handler and publish completions run on paho's callback thread and touch
// only atomics, state_mu_ (lost_) and mu_ (in-flight publishes, errors). Stop() raises stop_,
// wakes the thread, which disconnects cleanly and exits; Stop() joins it. The paho client is
// destroyed with the MqttConnection, after which no callback can run; publishes still in
// flight then complete with Unavailable.
#include "drivers/mqtt_connection.h"

#include <mqtt/async_client.h>
#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/logging.h"
#include "core/rate_limited_log.h"
#include "drivers/tcp_nodelay.h"
#include "drivers/tls_diagnosis.h"

namespace edge::drivers {
namespace {

// MQTT 3.1.1 CONNACK return codes 1..5 (§3.2.2.3), as paho reports them.
std::string ConnackText(int rc) {
  switch (rc) {
    case 1:
      return "refused: unacceptable protocol version";
    case 2:
      return "refused: client identifier rejected";
    case 3:
      return "refused: server unavailable";
    case 4:
      return "refused: bad user name or password (check username and password_file)";
    case 5:
      return "refused: not authorized (check username and password_file, and the broker's ACL)";
    default:
      return "";
  }
}

// MQTT 5 CONNACK reason codes with a 3.1.1 counterpart (§3.2.2.2), as the 3.1.1 code.
int V5ReasonAsConnack(int reason) {
  switch (reason) {
    case 0x84:  // unsupported protocol version
      return 1;
    case 0x85:  // client identifier not valid
      return 2;
    case 0x88:  // server unavailable
      return 3;
    case 0x86:  // bad user name or password
      return 4;
    case 0x87:  // not authorized
      return 5;
    default:
      return 0;
  }
}

std::string DescribeException(const mqtt::exception& e) {
  const int rc = e.get_return_code();
  if (std::string connack = ConnackText(rc); !connack.empty()) return connack;
  // paho reports a v5 CONNACK's reason in the return code (or, for some paths, the reason).
  if (std::string connack = ConnackText(V5ReasonAsConnack(rc >= 0x80 ? rc : e.get_reason_code()));
      !connack.empty()) {
    return connack;
  }
  std::string text = e.get_message();
  if (text.empty()) text = e.get_error_str();
  if (text.empty()) text = e.what();
  return text + " (paho rc " + std::to_string(rc) + ")";
}

StatusOr<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Status::InvalidArgument("password_file " + path +
                                   ": cannot be read: " + std::strerror(errno));
  }
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Status CheckReadable(const std::string& key, const std::string& path) {
  if (path.empty()) return Status::Ok();
  std::ifstream in(path);
  if (!in) {
    return Status::InvalidArgument("tls." + key + " " + path +
                                   ": cannot be read: " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

std::string_view MqttConnectionStateName(MqttConnectionState s) {
  switch (s) {
    case MqttConnectionState::kStopped:
      return "stopped";
    case MqttConnectionState::kConnecting:
      return "connecting";
    case MqttConnectionState::kConnected:
      return "connected";
    case MqttConnectionState::kDisconnected:
      return "disconnected";
  }
  return "unknown";
}

std::string MqttLibraryVersions() {
  std::string c_version = "unknown";
  for (const MQTTAsync_nameValue* nv = MQTTAsync_getVersionInfo(); nv != nullptr && nv->name;
       ++nv) {
    if (std::strcmp(nv->name, "Version") == 0 && nv->value != nullptr) c_version = nv->value;
  }
  const uint32_t v = mqtt::VERSION;
  return "paho-mqtt-cpp " + std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 0xff) + "." +
         std::to_string((v >> 8) & 0xff) + ", paho C " + c_version;
}

class MqttConnection::Impl {
 public:
  std::unique_ptr<mqtt::async_client> client;
  mqtt::connect_options connect_options;     // MQTT 3.1.1
  mqtt::connect_options connect_options_v5;  // when Options::mqtt_v5
  // Set on the connection thread only: v5 until the broker refuses it.
  bool use_v5 = false;
};

namespace {

// The broker does not speak v5: a 3.1.1 broker answers a v5 CONNECT with return code 1
// (§3.2.2.3), a v5 broker that refuses it with reason 0x84.
bool RefusedV5(const mqtt::exception& e) {
  return e.get_return_code() == 1 || e.get_return_code() == 0x84 || e.get_reason_code() == 0x84;
}

// The 3.1.1 options as v5 ones: Clean Start for clean session, a session that outlives the
// connection for ever when it is to be kept (as a 3.1.1 persistent session does), and the
// packet size the broker must not exceed.
// Built in place: paho-mqtt-cpp 1.2.0 does not re-point the C struct's connectProperties when
// connect_options are copied or assigned, so the properties must stay where they were set
// (connect() copies the options, and the copy still points at these).
void SetV5Options(const mqtt::connect_options& v311, bool clean_session,
                  uint32_t max_packet_bytes, mqtt::connect_options& v5) {
  v5 = v311;
  v5.set_mqtt_version(MQTTVERSION_5);  // also clears the 3.1.1 clean-session flag
  v5.set_clean_start(clean_session);
  mqtt::properties props;
  if (!clean_session) {
    props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL,
                             static_cast<int32_t>(0xFFFFFFFFu)));
  }
  if (max_packet_bytes > 0) {
    props.add(mqtt::property(mqtt::property::MAXIMUM_PACKET_SIZE,
                             static_cast<int32_t>(max_packet_bytes)));
  }
  v5.set_properties(std::move(props));
}

}  // namespace

// One publish in flight: paho calls on_success on PUBACK (QoS 1) and on_failure when it gives
// the message up. Owned by MqttConnection::in_flight_ until then.
class MqttConnection::PublishListener final : public mqtt::iaction_listener {
 public:
  PublishListener(MqttConnection& owner, MqttPublishCallback done)
      : owner_(owner), done_(std::move(done)) {}
  void on_success(const mqtt::token&) override { owner_.FinishPublish(this, Status::Ok()); }
  void on_failure(const mqtt::token& tok) override {
    owner_.FinishPublish(this,
                         Status::Unavailable(owner_.options_.name + ": publish failed (paho rc " +
                                             std::to_string(tok.get_return_code()) + ")"));
  }
  void Complete(const Status& result) {
    if (done_) done_(result);
  }

 private:
  MqttConnection& owner_;
  MqttPublishCallback done_;
};

MqttConnection::MqttConnection(std::string uri, uint16_t port, Options options)
    : uri_(std::move(uri)), port_(port), options_(std::move(options)), impl_(new Impl) {}

StatusOr<std::unique_ptr<MqttConnection>> MqttConnection::Create(const config::BrokerConfig& broker,
                                                                 Options options) {
  // The loader parsed the URI (config::BrokerConfig::address); a hand-built BrokerConfig gets
  // its address from BrokerConfig::FromUri.
  const config::BrokerAddress& address = broker.address;
  if (address.host.empty() || address.port == 0) {
    return Status::InvalidArgument(options.name + ": broker " + broker.uri +
                                   ": address not parsed (use config::BrokerConfig::FromUri)");
  }
  if (options.backoff_initial <= std::chrono::milliseconds::zero() ||
      options.backoff_max < options.backoff_initial) {
    return Status::InvalidArgument(options.name + ": bad reconnect back-off settings");
  }
  std::unique_ptr<MqttConnection> c(
      new MqttConnection(broker.uri, address.port, std::move(options)));
  c->tls_ = address.tls;
  c->address_ = address;
  if (broker.tls) c->tls_config_ = *broker.tls;
  const std::string& name = c->options_.name;

  mqtt::connect_options& co = c->impl_->connect_options;
  co.set_mqtt_version(MQTTVERSION_3_1_1);
  co.set_clean_session(c->options_.clean_session);
  co.set_keep_alive_interval(
      static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(broker.keepalive).count()));
  co.set_connect_timeout(static_cast<int>(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(c->options_.connect_timeout).count())));
  co.set_automatic_reconnect(false);
  co.set_max_inflight(c->options_.max_inflight);
  if (!broker.username.empty()) {
    co.set_user_name(broker.username);
    if (!broker.password_file.empty()) {
      StatusOr<std::string> password = ReadPasswordFile(broker.password_file);
      if (!password.ok()) {
        return Status::InvalidArgument(name + ": " + password.status().message());
      }
      co.set_password(*password);
    }
  }
  if (c->options_.will) {
    const MqttWill& w = *c->options_.will;
    co.set_will(mqtt::will_options(w.topic, w.payload, w.qos, w.retained));
  }
  if (address.tls) {
    const config::TlsConfig tls = broker.tls.value_or(config::TlsConfig{});
    for (const auto& [key, path] : {std::pair<std::string, std::string>{"ca_file", tls.ca_file},
                                    {"cert_file", tls.cert_file},
                                    {"key_file", tls.key_file}}) {
      if (Status s = CheckReadable(key, path); !s.ok()) {
        return Status::InvalidArgument(name + ": " + s.message());
      }
    }
    mqtt::ssl_options ssl;
    if (!tls.ca_file.empty()) ssl.set_trust_store(tls.ca_file);
    if (!tls.cert_file.empty()) ssl.set_key_store(tls.cert_file);
    if (!tls.key_file.empty()) ssl.set_private_key(tls.key_file);
    ssl.set_enable_server_cert_auth(true);
    ssl.set_verify(tls.verify_hostname);
    // No ssl.set_error_handler(): in paho-mqtt-cpp 1.2.0 the handler's context pointer is left
    // pointing at a temporary copy of the options (connect() takes them by value), and ASan
    // catches paho calling into freed stack memory on a failed handshake. Without a handler
    // paho C prints OpenSSL's error queue to stderr; our log line names the likely causes.
    co.set_ssl(std::move(ssl));
  }

  if (c->options_.mqtt_v5) {
    SetV5Options(co, c->options_.clean_session, c->options_.max_packet_bytes,
                 c->impl_->connect_options_v5);
    c->impl_->use_v5 = true;
  }

  try {
    // No persistence: in-flight state lives in memory; durable delivery is the outbox's job.
    // paho refuses a publish once max_buffered_messages of them wait in its command queue
    // (default 100, too few for a burst of QoS 0 messages or an outbox catching up).
    // A client created for v5 may still connect with 3.1.1 (the fallback); not the reverse.
    mqtt::create_options create(c->options_.mqtt_v5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    create.set_max_buffered_messages(c->options_.max_buffered);
    c->impl_->client = std::make_unique<mqtt::async_client>(broker.uri, broker.client_id, create);
  } catch (const mqtt::exception& e) {
    return Status::InvalidArgument(name + ": cannot create an MQTT client for " + broker.uri +
                                   ": " + DescribeException(e));
  }
  MqttConnection* self = c.get();
  c->impl_->client->set_connection_lost_handler([self](const std::string& cause) {
    {
      MutexLock lock(&self->state_mu_);
      self->lost_ = true;
      self->lost_cause_ = cause;
    }
    self->state_cv_.NotifyAll();
  });
  c->impl_->client->set_message_callback([self](mqtt::const_message_ptr msg) {
    self->messages_received_.fetch_add(1, std::memory_order_relaxed);
    if (!self->handler_) return;
    const mqtt::binary_ref& payload = msg->get_payload_ref();
    const std::string_view body =
        payload ? std::string_view(payload.data(), payload.size()) : std::string_view();
    self->handler_(msg->get_topic(), body);
  });
  return c;
}

MqttConnection::~MqttConnection() {
  Stop();
  if (impl_->client) {
    try {
      impl_->client->disable_callbacks();
    } catch (const mqtt::exception&) {
    }
    impl_->client.reset();
  }
  // paho can no longer call back: complete what is still in flight.
  std::vector<std::unique_ptr<PublishListener>> left;
  {
    MutexLock lock(&mu_);
    left.swap(in_flight_);
  }
  for (const std::unique_ptr<PublishListener>& l : left) {
    l->Complete(Status::Unavailable(options_.name + ": connection closed before delivery"));
  }
}

void MqttConnection::AddSubscription(std::string filter, int qos) {
  EDGE_CHECK(!started_);
  subscriptions_.emplace_back(std::move(filter), qos);
}

void MqttConnection::SetMessageHandler(MqttMessageHandler handler) {
  EDGE_CHECK(!started_);
  handler_ = std::move(handler);
}

Status MqttConnection::Start() {
  if (started_) return Status::FailedPrecondition(options_.name + ": started twice");
  started_ = true;
  SetState(MqttConnectionState::kConnecting);
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void MqttConnection::Stop() {
  stop_.Request();
  {
    MutexLock lock(&state_mu_);  // so the thread cannot miss the wake-up
  }
  state_cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  if (started_) SetState(MqttConnectionState::kStopped);
}

void MqttConnection::SetState(MqttConnectionState s) {
  {
    MutexLock lock(&state_mu_);
    state_.store(s);
  }
  state_cv_.NotifyAll();
}

bool MqttConnection::WaitConnected(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&state_mu_);
  while (state_.load() != MqttConnectionState::kConnected) {
    if (!state_cv_.WaitUntil(&state_mu_, deadline)) {
      return state_.load() == MqttConnectionState::kConnected;
    }
  }
  return true;
}

Status MqttConnection::ConnectOnce(std::string* tls_diagnosis) {
  mqtt::async_client& client = *impl_->client;
  {
    MutexLock lock(&state_mu_);
    lost_ = false;
    lost_cause_.clear();
  }
  const auto wait = options_.connect_timeout + std::chrono::seconds(2);
  try {
    // True once CONNACK accepted; false on timeout; throws on refusal.
    auto connect = [&] {
      return client.connect(impl_->use_v5 ? impl_->connect_options_v5 : impl_->connect_options)
          ->wait_for(wait);
    };
    bool answered = false;
    try {
      answered = connect();
    } catch (const mqtt::exception& e) {
      if (!impl_->use_v5 || !RefusedV5(e)) throw;
      GetLogger("mqtt")->warn(
          "{}: {} refused MQTT v5 ({}); using MQTT 3.1.1, which cannot tell the broker the "
          "largest packet we accept: set max_packet_size on the broker (docs/DEPLOYING.md)",
          options_.name, uri_, DescribeException(e));
      impl_->use_v5 = false;
      answered = connect();
    }
    if (!answered) {
      return Status::DeadlineExceeded("no answer to CONNECT within " +
                                      std::to_string(options_.connect_timeout.count()) + " ms");
    }
    protocol_version_.store(impl_->use_v5 ? 5 : 4);
    for (const auto& [filter, qos] : subscriptions_) {
      mqtt::token_ptr sub = client.subscribe(filter, qos);
      if (!sub->wait_for(wait)) {
        return Status::DeadlineExceeded("no SUBACK for '" + filter + "'");
      }
    }
  } catch (const mqtt::exception& e) {
    std::string text = DescribeException(e);
    if (tls_ && e.get_return_code() == MQTTASYNC_FAILURE && tls_diagnosis->empty()) {
      *tls_diagnosis = DiagnoseTlsHandshake(address_, tls_config_);
    }
    if (tls_ && e.get_return_code() == MQTTASYNC_FAILURE && !tls_diagnosis->empty()) {
      text = "TLS connect failed: " + *tls_diagnosis + " (" + text + ")";
    } else if (tls_ && e.get_return_code() == MQTTASYNC_FAILURE) {
      text =
          "TLS connect failed (no broker listening, or no verified TLS handshake): check that "
          "tls.ca_file holds the CA that signed the broker's certificate, that the URI's host "
          "name is in that certificate, and that tls.cert_file / tls.key_file are set if the "
          "broker requires a client certificate; " +
          text;
    } else if (e.get_return_code() == MQTTASYNC_FAILURE) {
      text = "TCP connect failed (is the broker running, and reachable at that host and port?); " +
             text;
    }
    return Status::Unavailable(text);
  }
  return Status::Ok();
}

void MqttConnection::Run() {
  pthread_setname_np(pthread_self(), "mqtt-conn");
  const auto log = GetLogger("mqtt");
  RateLimitedLog limited(log, 1, std::chrono::minutes(1));
  const std::string connect_key = options_.name + ": connect";  // names the source in Flush()
  std::chrono::milliseconds backoff = options_.backoff_initial;
  uint64_t failed_in_a_row = 0;
  bool ever_connected = false;
  // What a failed TLS handshake was found to be; kept for the retries of one failing streak
  // (diagnosing costs a connection to the broker).
  std::string tls_diagnosis;

  while (!stop_.requested()) {
    SetState(MqttConnectionState::kConnecting);
    connect_attempts_.fetch_add(1, std::memory_order_relaxed);
    Status s = ConnectOnce(&tls_diagnosis);
    if (!s.ok()) {
      connect_failures_.fetch_add(1, std::memory_order_relaxed);
      ++failed_in_a_row;
      {
        MutexLock lock(&mu_);
        last_error_ = s.message();
      }
      limited.Warn(connect_key, "{}: connect to {} failed: {}; retrying with back-off up to {} ms",
                   options_.name, uri_, s.message(), options_.backoff_max.count());
      try {
        if (impl_->client->is_connected()) impl_->client->disconnect(0)->wait_for(1000);
      } catch (const mqtt::exception&) {
      }
      SetState(MqttConnectionState::kDisconnected);
      if (stop_.WaitFor(backoff)) break;
      backoff = std::min(backoff * 2, options_.backoff_max);
      continue;
    }
    connects_.fetch_add(1, std::memory_order_relaxed);
    tcp_nodelay_.store(SetNoDelayOnSocketsToPort(port_));
    if (ever_connected || failed_in_a_row > 0) {
      log->info("{}: connected to {} after {} failed attempts{}", options_.name, uri_,
                failed_in_a_row, ever_connected ? " (reconnect; subscriptions restored)" : "");
    } else {
      log->info("{}: connected to {}", options_.name, uri_);
    }
    limited.Flush();
    ever_connected = true;
    failed_in_a_row = 0;
    tls_diagnosis.clear();
    backoff = options_.backoff_initial;
    SetState(MqttConnectionState::kConnected);
    if (options_.on_connected) options_.on_connected();

    std::string cause;
    {
      MutexLock lock(&state_mu_);
      while (!lost_ && !stop_.requested()) state_cv_.Wait(&state_mu_);
      if (!lost_) break;  // stop requested while connected
      cause = lost_cause_;
    }
    connection_losses_.fetch_add(1, std::memory_order_relaxed);
    {
      MutexLock lock(&mu_);
      last_error_ = "connection lost" + (cause.empty() ? std::string() : ": " + cause);
    }
    log->warn("{}: connection to {} lost{}; reconnecting", options_.name, uri_,
              cause.empty() ? std::string() : ": " + cause);
    SetState(MqttConnectionState::kDisconnected);
    if (stop_.WaitFor(backoff)) break;
  }

  try {
    if (impl_->client->is_connected()) impl_->client->disconnect(1000)->wait_for(2000);
  } catch (const mqtt::exception& e) {
    log->debug("{}: disconnect: {}", options_.name, DescribeException(e));
  }
  limited.Flush();
}

Status MqttConnection::Publish(std::string_view topic, std::string_view payload, int qos,
                               bool retained, MqttPublishCallback done) {
  if (state_.load() != MqttConnectionState::kConnected || !impl_->client->is_connected()) {
    publish_failures_.fetch_add(1, std::memory_order_relaxed);
    return Status::Unavailable(options_.name + ": not connected to " + uri_);
  }
  // in_flight_ owns the listener until paho completes it (FinishPublish) or the destructor does.
  auto owned = std::make_unique<PublishListener>(*this, std::move(done));
  PublishListener* listener = owned.get();
  {
    MutexLock lock(&mu_);
    in_flight_.push_back(std::move(owned));
  }
  try {
    mqtt::message_ptr msg =
        mqtt::make_message(std::string(topic), payload.data(), payload.size(), qos, retained);
    impl_->client->publish(msg, nullptr, *listener);
  } catch (const mqtt::exception& e) {
    // paho refused it at once: it will not call the listener, which goes now.
    (void)TakeInFlight(listener);
    publish_failures_.fetch_add(1, std::memory_order_relaxed);
    return Status::Unavailable(options_.name + ": publish to " + std::string(topic) +
                               " refused: " + DescribeException(e));
  }
  publishes_.fetch_add(1, std::memory_order_relaxed);
  return Status::Ok();
}

std::unique_ptr<MqttConnection::PublishListener> MqttConnection::TakeInFlight(
    PublishListener* listener) {
  MutexLock lock(&mu_);
  const auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                               [listener](const auto& l) { return l.get() == listener; });
  if (it == in_flight_.end()) return nullptr;
  std::unique_ptr<PublishListener> taken = std::move(*it);
  *it = std::move(in_flight_.back());
  in_flight_.pop_back();
  return taken;
}

void MqttConnection::FinishPublish(PublishListener* listener, const Status& result) {
  const std::unique_ptr<PublishListener> taken = TakeInFlight(listener);
  if (taken == nullptr) return;  // already completed by the destructor
  (result.ok() ? publish_acks_ : publish_failures_).fetch_add(1, std::memory_order_relaxed);
  // Destroyed on return, inside paho's call to it: paho does not touch a listener after calling
  // on_success / on_failure.
  taken->Complete(result);
}

MqttConnectionStats MqttConnection::stats() const {
  MqttConnectionStats s;
  s.state = state_.load();
  s.connect_attempts = connect_attempts_.load();
  s.connects = connects_.load();
  s.connect_failures = connect_failures_.load();
  s.connection_losses = connection_losses_.load();
  s.messages_received = messages_received_.load();
  s.publishes = publishes_.load();
  s.publish_acks = publish_acks_.load();
  s.publish_failures = publish_failures_.load();
  s.tcp_nodelay = tcp_nodelay_.load();
  s.protocol_version = protocol_version_.load();
  MutexLock lock(&mu_);
  s.last_error = last_error_;
  return s;
}

}  // namespace edge::drivers
