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

#include <arpa/inet.h>
#include <mqtt/async_client.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config/value_syntax.h"
#include "core/logging.h"
#include "core/rate_limited_log.h"
#include "drivers/tcp_nodelay.h"

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

std::string DescribeException(const mqtt::exception& e) {
  const int rc = e.get_return_code();
  if (std::string connack = ConnackText(rc); !connack.empty()) return connack;
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

// A TCP connection to host:port within `timeout`, or -1.
int ConnectTcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return -1;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  return fd;
}

// The reason of the first error in OpenSSL's queue ("tlsv13 alert certificate required"), and
// clears the queue.
std::string TakeOpenSslReason() {
  std::string reason;
  while (const unsigned long e = ERR_get_error()) {
    if (reason.empty()) {
      const char* r = ERR_reason_error_string(e);
      reason = r != nullptr ? r : "error " + std::to_string(e);
    }
  }
  return reason;
}

// What the broker's TLS alert says about our client certificate, in words; "" if it is not
// about it.
std::string ClientCertificateAlert(const std::string& reason, bool have_cert) {
  if (reason.find("certificate required") != std::string::npos ||
      (!have_cert && reason.find("handshake failure") != std::string::npos)) {
    return "the broker requires a client certificate: set tls.cert_file and tls.key_file";
  }
  if (reason.find("certificate expired") != std::string::npos) {
    return "the broker refused our client certificate (tls.cert_file): it has expired";
  }
  if (reason.find("alert") != std::string::npos &&
      reason.find("certificate") != std::string::npos) {
    return "the broker refused our client certificate (tls.cert_file): " + reason;
  }
  return "";
}

// paho C 1.3.12 reports every failed TLS handshake as the same MQTTASYNC_FAILURE (its OpenSSL
// error text goes to stderr only). To name the fault, the handshake is repeated here with OpenSSL
// directly and the same settings (trust store, client certificate, host name check), and what
// failed is put in words. "" when it cannot tell (then the caller keeps the generic advice).
std::string DiagnoseTlsHandshake(const config::BrokerAddress& address,
                                 const config::TlsConfig& tls) {
  constexpr std::chrono::milliseconds kTimeout(3000);
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  if (!ctx) return "";
  const bool ca_ok = tls.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get()) == 1
                                         : SSL_CTX_load_verify_locations(
                                               ctx.get(), tls.ca_file.c_str(), nullptr) == 1;
  if (!ca_ok) return "tls.ca_file " + tls.ca_file + " holds no usable CA certificate";
  if (!tls.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1) {
      return "tls.cert_file " + tls.cert_file + " is not a usable certificate (" +
             TakeOpenSslReason() + ")";
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      TakeOpenSslReason();  // its text may quote the file: not logged
      return "tls.key_file " + tls.key_file + " is not the private key of tls.cert_file";
    }
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  const int fd = ConnectTcp(address.host, address.port, kTimeout);
  if (fd < 0) return "";
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  if (!ssl) {
    close(fd);
    return "";
  }
  SSL_set_fd(ssl.get(), fd);
  in6_addr ip{};
  const bool is_ip = inet_pton(AF_INET, address.host.c_str(), &ip) == 1 ||
                     inet_pton(AF_INET6, address.host.c_str(), &ip) == 1;
  if (!is_ip) {  // SNI, as paho sends it (SSL_set_tlsext_host_name is a macro with a C cast)
    SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(address.host.c_str()));
  }
  if (tls.verify_hostname) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    if (is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, address.host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, address.host.c_str(), 0);
    }
  }
  std::string diagnosis;
  if (SSL_connect(ssl.get()) != 1) {
    const long verify = SSL_get_verify_result(ssl.get());
    const std::string reason = TakeOpenSslReason();
    switch (verify) {
      case X509_V_OK:
        diagnosis = ClientCertificateAlert(reason, !tls.cert_file.empty());
        if (diagnosis.empty() && !reason.empty()) diagnosis = "TLS handshake failed: " + reason;
        break;
      case X509_V_ERR_CERT_HAS_EXPIRED:
        diagnosis = "the broker's certificate has expired";
        break;
      case X509_V_ERR_CERT_NOT_YET_VALID:
        diagnosis = "the broker's certificate is not valid yet (check this PC's clock)";
        break;
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        diagnosis = "the broker's certificate is not for host name " + address.host +
                    " (use the name the certificate gives in the broker URI)";
        break;
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
      case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        diagnosis = "the broker's certificate is not signed by a CA in " +
                    (tls.ca_file.empty() ? std::string("the system CA store")
                                         : "tls.ca_file " + tls.ca_file) +
                    " (" + X509_verify_cert_error_string(verify) +
                    "); check that tls.ca_file holds the CA that signed the broker's certificate";
        break;
      default:
        diagnosis = std::string("the broker's certificate failed verification: ") +
                    X509_verify_cert_error_string(verify);
    }
  } else {
    // TLS 1.3: the broker checks our certificate after our side of the handshake is done and
    // answers a bad one with an alert; wait briefly for it (a good broker sends nothing until
    // it gets CONNECT).
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 1000) > 0) {
      char byte;
      if (SSL_read(ssl.get(), &byte, 1) <= 0) {
        diagnosis = ClientCertificateAlert(TakeOpenSslReason(), !tls.cert_file.empty());
      }
    }
  }
  ERR_clear_error();
  close(fd);
  return diagnosis;
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
  mqtt::connect_options connect_options;
};

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
  StatusOr<config::BrokerAddress> address = config::ParseBrokerUri(broker.uri);
  if (!address.ok()) {
    return Status::InvalidArgument(options.name + ": broker " + broker.uri + ": " +
                                   address.status().message());
  }
  if (options.backoff_initial <= std::chrono::milliseconds::zero() ||
      options.backoff_max < options.backoff_initial) {
    return Status::InvalidArgument(options.name + ": bad reconnect back-off settings");
  }
  std::unique_ptr<MqttConnection> c(
      new MqttConnection(broker.uri, address->port, std::move(options)));
  c->tls_ = address->tls;
  c->address_ = *address;
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
  if (address->tls) {
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

  try {
    // No persistence: in-flight state lives in memory; durable delivery is the outbox's job.
    // paho refuses a publish once max_buffered_messages of them wait in its command queue
    // (default 100, too few for a burst of QoS 0 messages or an outbox catching up).
    mqtt::create_options create(MQTTVERSION_3_1_1);
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
    mqtt::token_ptr tok = client.connect(impl_->connect_options);
    if (!tok->wait_for(wait)) {
      return Status::DeadlineExceeded("no answer to CONNECT within " +
                                      std::to_string(options_.connect_timeout.count()) + " ms");
    }
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
  MutexLock lock(&mu_);
  s.last_error = last_error_;
  return s;
}

}  // namespace edge::drivers
