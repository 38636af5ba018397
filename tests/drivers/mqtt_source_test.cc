// MqttSource against a real mosquitto started by the test on a free loopback port: wildcard
// subscriptions with tag name templates, every payload form and timestamp form, malformed
// payloads, reconnect after the broker is killed and restarted, persistent sessions, password
// authentication and TLS with client certificates (made by openssl in the test). Timing
// assertions are loose: they check behaviour, not latency.
#include "drivers/mqtt_source.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <fstream>

#include "core/time_format.h"
#include "tests/drivers/mqtt_test_util.h"
#include "tests/support/proc_status.h"

namespace edge::drivers {
namespace {

using edge::testing::ConnectLoopback;
using edge::testing::ProcStatusKiB;
using edge::testing::Eventually;
using edge::testing::LogCapture;
using edge::testing::MosquittoBroker;
using edge::testing::MosquittoPub;
using edge::testing::SampleCollector;
using edge::testing::ScratchDir;
using edge::testing::TlsFiles;
using std::chrono::milliseconds;
using std::chrono::seconds;

config::MqttSource Source(const std::string& name, const std::string& uri, const std::string& topic,
                          int qos, std::vector<std::pair<std::string, std::string>> tags,
                          const std::string& timestamp_field = "") {
  config::MqttSource s;
  s.name = name;
  s.broker = config::BrokerConfig::FromUri(uri).value();
  s.broker.client_id = "edge-test-" + name;
  s.topic = topic;
  s.qos = qos;
  s.timestamp_field = timestamp_field;
  for (auto& [tag, field] : tags) s.tags.push_back(config::MqttSourceTag{tag, field, {}});
  return s;
}

// A registry holding the sources' fixed tag names, a queue, a collector, and the source.
struct Rig {
  explicit Rig(const std::vector<config::MqttSource>& sources,
               MqttSource::Options options = MqttSource::Options()) {
    for (const config::MqttSource& s : sources) {
      for (const config::MqttSourceTag& t : s.tags) {
        if (t.name.find('{') == std::string::npos) registry.Intern(t.name);
      }
    }
    options.backoff_initial = milliseconds(50);
    options.backoff_max = milliseconds(500);
    StatusOr<std::unique_ptr<MqttSource>> s = MqttSource::Create(sources, registry, queue, options);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) source = std::move(*s);
  }
  bool StartAndConnect() {
    if (!source || !source->Start().ok()) return false;
    return Eventually(
        [&] {
          for (const MqttSourceStats& s : source->stats()) {
            if (s.connection.state != MqttConnectionState::kConnected) return false;
          }
          return true;
        },
        seconds(15));
  }

  TagRegistry registry;
  BoundedQueue<Sample> queue{4096};
  SampleCollector collector{queue, registry};
  std::unique_ptr<MqttSource> source;
};

Timestamp At(const char* text) { return ParseRfc3339(text).value(); }

TEST(MqttSource, WildcardsTemplatesAndEveryPayloadForm) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  Rig rig({
      Source("vib", broker.uri(), "plant1/line3/+/vib", 1,
             {{"{2}.vib_rms", "/rms"}, {"{2}.bearing_temp", "/temp/value"}}, "/ts"),
      Source("flow", broker.uri(), "plant1/line3/pump1/flow", 0, {{"pump1.flow", ""}}),
      Source("site", broker.uri(), "site/#", 1, {{"{1}.{2}", "/v"}}, "/t"),
  });
  ASSERT_TRUE(rig.StartAndConnect());

  const int p = broker.port();
  ASSERT_EQ(
      MosquittoPub(p, "plant1/line3/pump1/vib",
                   R"({"ts": 1732096800123, "rms": 0.21, "temp": {"value": 41.5}})", {"-q", "1"}),
      0);
  ASSERT_EQ(MosquittoPub(p, "plant1/line3/pump2/vib",
                         R"({"ts": 1732096801.5, "rms": 0.3, "temp": {"value": 39}})", {"-q", "1"}),
            0);
  ASSERT_EQ(MosquittoPub(p, "plant1/line3/pump1/flow", "12.5"), 0);
  ASSERT_EQ(MosquittoPub(p, "site/hall2/fan", R"({"v": 3, "t": "2026-11-23T10:00:00.250Z"})",
                         {"-q", "1"}),
            0);

  auto& c = rig.collector;
  ASSERT_TRUE(c.WaitFor("pump1.vib_rms", 1, seconds(10)));
  ASSERT_TRUE(c.WaitFor("pump2.bearing_temp", 1, seconds(10)));
  ASSERT_TRUE(c.WaitFor("pump1.flow", 1, seconds(10)));
  ASSERT_TRUE(c.WaitFor("hall2.fan", 1, seconds(10)));

  const Sample rms1 = c.Of("pump1.vib_rms")[0];
  EXPECT_DOUBLE_EQ(rms1.value, 0.21);
  EXPECT_EQ(rms1.quality, Quality::kGood);
  EXPECT_EQ(rms1.ts, At("2024-11-20T10:00:00.123Z"));  // epoch milliseconds
  EXPECT_DOUBLE_EQ(c.Of("pump1.bearing_temp")[0].value, 41.5);
  EXPECT_DOUBLE_EQ(c.Of("pump2.vib_rms")[0].value, 0.3);
  EXPECT_EQ(c.Of("pump2.vib_rms")[0].ts, At("2024-11-20T10:00:01.500Z"));  // epoch seconds
  const Sample fan = c.Of("hall2.fan")[0];
  EXPECT_DOUBLE_EQ(fan.value, 3);
  EXPECT_EQ(fan.ts, At("2026-11-23T10:00:00.250Z"));  // RFC 3339
  // No timestamp_field: the arrival time, i.e. about now.
  const Sample flow = c.Of("pump1.flow")[0];
  EXPECT_DOUBLE_EQ(flow.value, 12.5);
  const auto age = std::chrono::system_clock::now() - flow.ts;
  EXPECT_LT(std::chrono::abs(age), seconds(30));

  // The counters are bumped just after the push: give them a moment.
  ASSERT_TRUE(Eventually(
      [&] {
        const std::vector<MqttSourceStats> st = rig.source->stats();
        return st[0].samples == 4 && st[1].samples == 1 && st[2].samples == 1;
      },
      seconds(5)));
  const std::vector<MqttSourceStats> stats = rig.source->stats();
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0].source, "vib");
  EXPECT_EQ(stats[0].messages, 2u);
  EXPECT_EQ(stats[0].samples, 4u);
  EXPECT_EQ(stats[0].malformed, 0u);
  EXPECT_EQ(stats[1].samples, 1u);
  EXPECT_EQ(stats[2].samples, 1u);
  EXPECT_TRUE(stats[0].connection.tcp_nodelay);
}

TEST(MqttSource, MalformedPayloadsAreCountedAndOnlyThatMessageIsDropped) {
  LogCapture logs;
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  MqttSource::Options options;
  options.max_payload_bytes = 1024;
  Rig rig({Source("vib", broker.uri(), "m/+/vib", 1, {{"{1}.rms", "/rms"}}),
           Source("plain", broker.uri(), "m/plain", 1, {{"m.plain", ""}})},
          options);
  ASSERT_TRUE(rig.StartAndConnect());
  const int p = broker.port();
  const std::vector<std::string> q1 = {"-q", "1"};
  ASSERT_EQ(MosquittoPub(p, "m/a/vib", "not json", q1), 0);
  ASSERT_EQ(MosquittoPub(p, "m/a/vib", R"({"peak": 1})", q1), 0);
  ASSERT_EQ(MosquittoPub(p, "m/a/vib", R"({"rms": "0.5"})", q1), 0);
  ASSERT_EQ(
      MosquittoPub(p, "m/a/vib", R"({"rms": 1, "pad": ")" + std::string(2000, 'x') + "\"}", q1), 0);
  ASSERT_EQ(MosquittoPub(p, "m/plain", "NaN", q1), 0);
  ASSERT_EQ(MosquittoPub(p, "m/plain", "inf", q1), 0);
  ASSERT_EQ(MosquittoPub(p, "m/bad level/vib", R"({"rms": 2})", q1), 0);  // no valid tag name
  // Good messages after the bad ones still arrive.
  ASSERT_EQ(MosquittoPub(p, "m/a/vib", R"({"rms": 0.7})", q1), 0);
  ASSERT_EQ(MosquittoPub(p, "m/plain", "4.25", q1), 0);

  ASSERT_TRUE(rig.collector.WaitFor("a.rms", 1, seconds(10)));
  ASSERT_TRUE(rig.collector.WaitFor("m.plain", 1, seconds(10)));
  EXPECT_DOUBLE_EQ(rig.collector.Of("a.rms")[0].value, 0.7);
  EXPECT_DOUBLE_EQ(rig.collector.Of("m.plain")[0].value, 4.25);
  EXPECT_EQ(rig.collector.Total(), 2u);

  ASSERT_TRUE(Eventually(
      [&] {
        const std::vector<MqttSourceStats> st = rig.source->stats();
        return st[0].samples == 1 && st[1].samples == 1;
      },
      seconds(5)));
  const std::vector<MqttSourceStats> stats = rig.source->stats();
  const auto kind = [](const MqttSourceStats& s, PayloadError e) {
    return s.by_kind[static_cast<int>(e)];
  };
  EXPECT_EQ(stats[0].messages, 6u);
  EXPECT_EQ(stats[0].malformed, 4u);
  EXPECT_EQ(kind(stats[0], PayloadError::kNotJson), 1u);
  EXPECT_EQ(kind(stats[0], PayloadError::kMissingField), 1u);
  EXPECT_EQ(kind(stats[0], PayloadError::kWrongType), 1u);
  EXPECT_EQ(kind(stats[0], PayloadError::kTooLarge), 1u);
  EXPECT_EQ(stats[0].unmatched_topic, 1u);
  EXPECT_EQ(stats[0].samples, 1u);
  EXPECT_EQ(stats[1].malformed, 2u);
  EXPECT_EQ(kind(stats[1], PayloadError::kNotFinite), 2u);
  EXPECT_EQ(stats[1].samples, 1u);
  EXPECT_TRUE(
      logs.Contains("mqtt source vib: dropped a malformed message on 'm/a/vib': "
                    "field /rms is missing (missing_field)"))
      << logs.Text();
  EXPECT_TRUE(logs.Contains("a string where a number is due (wrong_type)")) << logs.Text();
  EXPECT_TRUE(logs.Contains("gives no valid tag name")) << logs.Text();
}

TEST(MqttSource, ReconnectsAndResubscribesAfterTheBrokerRestarts) {
  LogCapture logs;
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  Rig rig({Source("vib", broker.uri(), "r/+/vib", 1, {{"{1}.rms", "/rms"}})});
  ASSERT_TRUE(rig.StartAndConnect());
  ASSERT_EQ(MosquittoPub(broker.port(), "r/p1/vib", R"({"rms": 1})", {"-q", "1"}), 0);
  ASSERT_TRUE(rig.collector.WaitFor("p1.rms", 1, seconds(10)));

  // The broker dies without a word and comes back on the same port with no memory
  // (persistence false): only a fresh SUBSCRIBE from us brings the messages back.
  broker.Kill();
  ASSERT_TRUE(Eventually(
      [&] { return rig.source->stats()[0].connection.state != MqttConnectionState::kConnected; },
      seconds(10)));
  std::this_thread::sleep_for(milliseconds(300));  // a few refused reconnects
  ASSERT_TRUE(broker.Restart()) << broker.error();
  ASSERT_TRUE(
      Eventually([&] { return rig.source->stats()[0].connection.connects >= 2; }, seconds(15)));
  ASSERT_EQ(MosquittoPub(broker.port(), "r/p2/vib", R"({"rms": 2})", {"-q", "1"}), 0);
  ASSERT_TRUE(rig.collector.WaitFor("p2.rms", 1, seconds(10)));
  EXPECT_DOUBLE_EQ(rig.collector.Of("p2.rms")[0].value, 2);

  const MqttConnectionStats c = rig.source->stats()[0].connection;
  EXPECT_EQ(c.connection_losses, 1u);
  EXPECT_GE(c.connect_failures, 1u);
  EXPECT_TRUE(logs.Contains("mqtt source vib: connection to " + broker.uri() + " lost"))
      << logs.Text();
  EXPECT_TRUE(logs.Contains("(reconnect; subscriptions restored)")) << logs.Text();
}

TEST(MqttSource, PersistentSessionKeepsQos1MessagesWhileAway) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  const config::MqttSource cfg = Source("keep", broker.uri(), "k/vib", 1, {{"k.rms", "/rms"}});
  {
    Rig first({cfg});
    ASSERT_TRUE(first.StartAndConnect());
    first.source->Stop();
  }
  // Published while the agent is away: the broker queues them for the persistent session.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(
        MosquittoPub(broker.port(), "k/vib", "{\"rms\": " + std::to_string(i) + "}", {"-q", "1"}),
        0);
  }
  Rig second({cfg});
  ASSERT_TRUE(second.StartAndConnect());
  ASSERT_TRUE(second.collector.WaitFor("k.rms", 3, seconds(10)));
  const std::vector<Sample> got = second.collector.Of("k.rms");
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(got[static_cast<size_t>(i)].value, i);
}

TEST(MqttSource, PasswordAuthentication) {
  LogCapture logs;
  MosquittoBroker::Options bo;
  bo.users = {{"sensor", "s3cret pass"}};
  MosquittoBroker broker(bo);
  ASSERT_TRUE(broker.ok()) << broker.error();
  ScratchDir dir;
  config::MqttSource good = Source("auth", broker.uri(), "a/v", 1, {{"a.v", ""}});
  good.broker.username = "sensor";
  good.broker.password_file = dir.Write("good.pass", "s3cret pass\n").string();
  config::MqttSource bad = Source("wrongpw", broker.uri(), "a/v", 1, {{"b.v", ""}});
  bad.broker.username = "sensor";
  bad.broker.password_file = dir.Write("bad.pass", "guess\n").string();

  Rig ok_rig({good});
  ASSERT_TRUE(ok_rig.StartAndConnect());
  ASSERT_EQ(MosquittoPub(broker.port(), "a/v", "5", {"-u", "sensor", "-P", "s3cret pass"}), 0);
  ASSERT_TRUE(ok_rig.collector.WaitFor("a.v", 1, seconds(10)));

  Rig bad_rig({bad});
  ASSERT_TRUE(bad_rig.source->Start().ok());
  ASSERT_TRUE(Eventually(
      [&] { return bad_rig.source->stats()[0].connection.connect_failures >= 2; }, seconds(10)));
  EXPECT_NE(bad_rig.source->stats()[0].connection.state, MqttConnectionState::kConnected);
  EXPECT_EQ(bad_rig.source->stats()[0].connection.connects, 0u);
  EXPECT_TRUE(logs.WaitFor("mqtt source wrongpw: connect to " + broker.uri() + " failed: refused:",
                           seconds(5)))
      << logs.Text();
  EXPECT_TRUE(logs.Contains("check username and password_file")) << logs.Text();
}

TEST(MqttSource, MissingPasswordFileIsAStartupError) {
  config::MqttSource s = Source("nopw", "tcp://127.0.0.1:1", "a/v", 1, {{"a.v", ""}});
  s.broker.username = "x";
  s.broker.password_file = "/nonexistent/edge-test.pass";
  TagRegistry registry;
  registry.Intern("a.v");
  BoundedQueue<Sample> queue(16);
  StatusOr<std::unique_ptr<MqttSource>> created = MqttSource::Create({s}, registry, queue);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(created.status().message().find("/nonexistent/edge-test.pass"), std::string::npos);
}

class MqttSourceTls : public ::testing::Test {
 protected:
  void SetUp() override {
    tls_ = TlsFiles::Make(dir_.path() / "pki");
    ASSERT_TRUE(tls_.error.empty()) << tls_.error;
    MosquittoBroker::Options bo;
    bo.tls = &tls_;
    broker_ = std::make_unique<MosquittoBroker>(bo);
    ASSERT_TRUE(broker_->ok()) << broker_->error();
  }
  std::vector<std::string> PubTls() const {
    return {"--cafile", tls_.ca_cert,    "--cert", tls_.client_cert,
            "--key",    tls_.client_key, "-q",     "1"};
  }
  config::MqttSource TlsSource(const std::string& name, const std::string& ca) const {
    config::MqttSource s =
        Source(name, broker_->uri(/*host_name=*/true), "t/+/v", 1, {{"{1}.v", ""}});
    s.broker.tls = config::TlsConfig{ca, tls_.client_cert, tls_.client_key, true};
    return s;
  }

  ScratchDir dir_;
  TlsFiles tls_;
  std::unique_ptr<MosquittoBroker> broker_;
};

TEST_F(MqttSourceTls, ClientCertificateAndVerifiedHostName) {
  Rig rig({TlsSource("tls", tls_.ca_cert)});
  ASSERT_TRUE(rig.StartAndConnect()) << broker_->log();
  ASSERT_EQ(MosquittoPub(broker_->port(), "t/s1/v", "21.5", PubTls()), 0);
  ASSERT_TRUE(rig.collector.WaitFor("s1.v", 1, seconds(10)));
  EXPECT_DOUBLE_EQ(rig.collector.Of("s1.v")[0].value, 21.5);
  EXPECT_TRUE(rig.source->stats()[0].connection.tcp_nodelay);
}

TEST_F(MqttSourceTls, WrongCaIsRefusedWithAClearLogLine) {
  LogCapture logs;
  Rig rig({TlsSource("wrongca", tls_.other_ca_cert)});
  ASSERT_TRUE(rig.source->Start().ok());
  ASSERT_TRUE(Eventually([&] { return rig.source->stats()[0].connection.connect_failures >= 2; },
                         seconds(15)));
  EXPECT_EQ(rig.source->stats()[0].connection.connects, 0u);
  EXPECT_TRUE(logs.WaitFor("mqtt source wrongca: connect to " + broker_->uri(true) + " failed:",
                           seconds(5)))
      << logs.Text();
  EXPECT_TRUE(logs.Contains("TLS connect failed")) << logs.Text();
  EXPECT_TRUE(logs.Contains("tls.ca_file holds the CA that signed the broker's certificate"))
      << logs.Text();
}

TEST_F(MqttSourceTls, MissingClientCertificateIsRefused) {
  config::MqttSource s = TlsSource("nocert", tls_.ca_cert);
  s.broker.tls->cert_file.clear();
  s.broker.tls->key_file.clear();
  Rig rig({s});
  ASSERT_TRUE(rig.source->Start().ok());
  ASSERT_TRUE(Eventually([&] { return rig.source->stats()[0].connection.connect_failures >= 2; },
                         seconds(15)));
  EXPECT_EQ(rig.source->stats()[0].connection.connects, 0u);
}

// MQTT's variable-length "remaining length" (§2.2.3).
void PutRemainingLength(std::string& out, size_t n) {
  do {
    uint8_t b = n % 128;
    n /= 128;
    if (n > 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (n > 0);
}

// A hostile publisher on a raw socket: MQTT 3.1.1 CONNECT, then one QoS 1 PUBLISH of `size`
// bytes of '9', streamed from a 64 KiB buffer (this process never holds the payload), then
// waits for the PUBACK. "" or what failed.
std::string RawPublish(int port, const std::string& topic, size_t size) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "connect failed";
  auto send_all = [fd](const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  auto recv_exact = [fd](char* p, size_t n) {
    while (n > 0) {
      const ssize_t r = ::recv(fd, p, n, 0);
      if (r <= 0) return false;
      p += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  };
  const std::string connect("\x10\x13\x00\x04MQTT\x04\x02\x00\x3c\x00\x07hostile", 21);
  char ack[4];
  std::string error;
  if (!send_all(connect.data(), connect.size()) || !recv_exact(ack, 4) || ack[3] != 0) {
    error = "CONNECT refused";
  } else {
    std::string head = "\x32";  // PUBLISH, QoS 1
    PutRemainingLength(head, 2 + topic.size() + 2 + size);
    head += static_cast<char>(topic.size() >> 8);
    head += static_cast<char>(topic.size() & 0xff);
    head += topic;
    head += std::string("\x00\x01", 2);  // packet id 1
    const std::string chunk(64 * 1024, '9');
    bool sent = send_all(head.data(), head.size());
    for (size_t left = size; sent && left > 0; left -= std::min(left, chunk.size())) {
      sent = send_all(chunk.data(), std::min(left, chunk.size()));
    }
    if (!sent || !recv_exact(ack, 4) || ack[0] != 0x40) error = "no PUBACK for the large message";
  }
  ::close(fd);
  return error;
}

// Issue #23 item 4: a 40 MiB payload never reaches the agent's memory. The source connects with
// MQTT v5 and Maximum Packet Size (max_payload_bytes + 8 KiB), so mosquitto drops the message
// for this subscriber instead of sending it; paho would otherwise read it whole (and the
// decoder refuse it only then). The message after it still arrives.
TEST(MqttSource, OversizedPayloadIsRefusedBeforeItIsInMemory) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  Rig rig({Source("big", broker.uri(), "big/v", 1, {{"big.v", ""}})});
  ASSERT_TRUE(rig.StartAndConnect());
  EXPECT_EQ(rig.source->stats()[0].connection.protocol_version, 5);

  const int64_t peak_before = ProcStatusKiB("VmHWM");
  ASSERT_EQ(RawPublish(broker.port(), "big/v", size_t{40} << 20), "");
  ASSERT_EQ(MosquittoPub(broker.port(), "big/v", "2.5", {"-q", "1"}), 0);
  ASSERT_TRUE(rig.collector.WaitFor("big.v", 1, seconds(10)));
  const int64_t grown_kib = ProcStatusKiB("VmHWM") - peak_before;

  const MqttSourceStats st = rig.source->stats()[0];
  EXPECT_EQ(st.messages, 1u) << "the 40 MiB message reached the agent";
  EXPECT_EQ(st.by_kind[static_cast<int>(PayloadError::kTooLarge)], 0u);
  EXPECT_DOUBLE_EQ(rig.collector.Of("big.v")[0].value, 2.5);
  EXPECT_LT(grown_kib, 8 * 1024) << "peak RSS grew by " << grown_kib << " KiB";
  std::printf("FIGURE 40 MiB publish: peak RSS of the subscriber grew by %lld KiB\n",
              static_cast<long long>(grown_kib));
}

// A broker that speaks only MQTT 3.1.1, on a raw socket: a v5 CONNECT gets return code 1
// (§3.2.2.3, "unacceptable protocol version") and the connection closed; a 3.1.1 CONNECT is
// accepted, its SUBSCRIBE granted, and one QoS 0 PUBLISH of "7.5" on `topic` sent.
class V311OnlyBroker {
 public:
  explicit V311OnlyBroker(std::string topic) : topic_(std::move(topic)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~V311OnlyBroker() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  int v5_refused() const { return v5_refused_.load(); }

 private:
  // One packet: the first byte and the body; false when the peer closed or `stop_`.
  bool ReadPacket(int fd, uint8_t* type, std::string* body) {
    auto read_byte = [&](uint8_t* b) {
      while (!stop_) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) == 1) return ::recv(fd, b, 1, 0) == 1;
      }
      return false;
    };
    if (!read_byte(type)) return false;
    size_t length = 0;
    uint8_t b = 0;
    for (int shift = 0; shift < 28; shift += 7) {
      if (!read_byte(&b)) return false;
      length |= static_cast<size_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) break;
    }
    body->resize(length);
    for (size_t i = 0; i < length; ++i) {
      if (!read_byte(reinterpret_cast<uint8_t*>(&(*body)[i]))) return false;
    }
    return true;
  }
  void Serve() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      uint8_t type = 0;
      std::string body;
      if (ReadPacket(fd, &type, &body) && type == 0x10 && body.size() > 6) {
        if (body[6] == 5) {
          ++v5_refused_;
          ::send(fd, "\x20\x02\x00\x01", 4, MSG_NOSIGNAL);
        } else {
          ::send(fd, "\x20\x02\x00\x00", 4, MSG_NOSIGNAL);
          Session(fd);
        }
      }
      ::close(fd);
    }
  }
  void Session(int fd) {
    uint8_t type = 0;
    std::string body;
    while (ReadPacket(fd, &type, &body)) {
      if ((type & 0xf0) == 0x80 && body.size() >= 2) {  // SUBSCRIBE: grant QoS 0, then publish
        const std::string suback = std::string("\x90\x03", 2) + body.substr(0, 2) + '\0';
        ::send(fd, suback.data(), suback.size(), MSG_NOSIGNAL);
        std::string publish = "\x30";
        PutRemainingLength(publish, 2 + topic_.size() + 3);
        publish += static_cast<char>(topic_.size() >> 8);
        publish += static_cast<char>(topic_.size() & 0xff);
        publish += topic_ + "7.5";
        ::send(fd, publish.data(), publish.size(), MSG_NOSIGNAL);
      } else if ((type & 0xf0) == 0xc0) {  // PINGREQ
        ::send(fd, "\xd0\x00", 2, MSG_NOSIGNAL);
      } else if ((type & 0xf0) == 0xe0) {  // DISCONNECT
        return;
      }
    }
  }

  const std::string topic_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> v5_refused_{0};
  std::thread thread_;
};

// A 3.1.1-only broker refuses the v5 CONNECT: the source falls back to 3.1.1 at once, says so in
// the log, and works.
TEST(MqttSource, FallsBackToMqtt311WhenTheBrokerRefusesV5) {
  LogCapture logs;
  V311OnlyBroker broker("old/v");
  Rig rig({Source("old", "tcp://127.0.0.1:" + std::to_string(broker.port()), "old/v", 0,
                  {{"old.v", ""}})});
  ASSERT_TRUE(rig.StartAndConnect());
  ASSERT_TRUE(rig.collector.WaitFor("old.v", 1, seconds(10)));
  EXPECT_DOUBLE_EQ(rig.collector.Of("old.v")[0].value, 7.5);
  const MqttSourceStats st = rig.source->stats()[0];
  EXPECT_EQ(st.connection.protocol_version, 4);
  EXPECT_EQ(st.connection.connect_failures, 0u);
  EXPECT_EQ(broker.v5_refused(), 1);
  EXPECT_TRUE(logs.Contains("refused MQTT v5")) << logs.Text();
  rig.source->Stop();
}

}  // namespace
}  // namespace edge::drivers
