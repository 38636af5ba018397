// MqttPublisher (the upstream transport) against a real mosquitto, observed by a second client
// (mosquitto_sub): a PUBACK callback per QoS 1 message, retained messages, the Last Will on an
// ungraceful disconnect (and none on a clean one), TCP_NODELAY, and refusal while disconnected.
#include "drivers/mqtt_publisher.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <set>

#include "tests/drivers/mqtt_test_util.h"

namespace edge::drivers {
namespace {

using edge::testing::Eventually;
using edge::testing::LogCapture;
using edge::testing::MosquittoBroker;
using edge::testing::MosquittoSub;
using std::chrono::milliseconds;
using std::chrono::seconds;

config::BrokerConfig Broker(const MosquittoBroker& b, const std::string& client_id) {
  config::BrokerConfig c = config::BrokerConfig::FromUri(b.uri()).value();
  c.client_id = client_id;
  c.keepalive = seconds(5);
  return c;
}

std::unique_ptr<MqttPublisher> Make(const MosquittoBroker& b, MqttPublisher::Options o = {},
                                    const std::string& id = "edge-test-upstream") {
  o.backoff_initial = milliseconds(50);
  o.backoff_max = milliseconds(500);
  StatusOr<std::unique_ptr<MqttPublisher>> p = MqttPublisher::Create(Broker(b, id), std::move(o));
  EDGE_CHECK(p.ok());
  return std::move(p).value();
}

// Breaks this process's TCP connections to `port` the way a pulled cable or a crash would for
// the broker: shutdown() without an MQTT DISCONNECT. Returns how many it broke.
int BreakConnectionsToPort(int port) {
  int broken = 0;
  DIR* dir = opendir("/proc/self/fd");
  while (const dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2 || fd == dirfd(dir)) continue;
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    if (peer.sin_family != AF_INET || ntohs(peer.sin_port) != port) continue;
    if (shutdown(fd, SHUT_RDWR) == 0) ++broken;
  }
  closedir(dir);
  return broken;
}

// The broker address comes parsed from the configuration; a BrokerConfig without one (a URI
// set by hand) is refused at Create rather than connecting to nowhere.
TEST(MqttPublisher, CreateRefusesABrokerWithoutItsParsedAddress) {
  config::BrokerConfig c;
  c.uri = "tcp://127.0.0.1:1883";
  StatusOr<std::unique_ptr<MqttPublisher>> p = MqttPublisher::Create(c, {});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(),
            "upstream: broker tcp://127.0.0.1:1883: address not parsed (use "
            "config::BrokerConfig::FromUri)");
}

TEST(MqttPublisher, PubackCallbackPerMessage) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  MosquittoSub sub(broker.port(), "up/#", {"-q", "1"});
  auto pub = Make(broker);
  ASSERT_TRUE(pub->Start().ok());
  ASSERT_TRUE(pub->WaitConnected(seconds(10)));

  constexpr int kMessages = 50;
  std::mutex mu;
  std::set<int> acked;
  std::atomic<int> failed{0};
  for (int i = 0; i < kMessages; ++i) {
    Status s = pub->Publish("up/alarms/pump1", "{\"seq\":" + std::to_string(i) + "}", 1, false,
                            [&, i](const Status& r) {
                              if (!r.ok()) {
                                ++failed;
                                return;
                              }
                              std::lock_guard lock(mu);
                              EXPECT_TRUE(acked.insert(i).second) << "second callback for " << i;
                            });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  ASSERT_TRUE(Eventually(
      [&] {
        std::lock_guard lock(mu);
        return acked.size() == kMessages;
      },
      seconds(10)));
  EXPECT_EQ(failed.load(), 0);
  const MqttConnectionStats st = pub->stats();
  EXPECT_EQ(st.publishes, static_cast<uint64_t>(kMessages));
  EXPECT_EQ(st.publish_acks, static_cast<uint64_t>(kMessages));
  EXPECT_TRUE(st.tcp_nodelay);
  // The second client saw them all.
  ASSERT_TRUE(sub.WaitFor("up/alarms/pump1 {\"seq\":49}", seconds(10))) << sub.Received();
  EXPECT_NE(sub.Received().find("up/alarms/pump1 {\"seq\":0}"), std::string::npos);
}

TEST(MqttPublisher, RetainedMessageReachesALaterSubscriber) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  auto pub = Make(broker);
  ASSERT_TRUE(pub->Start().ok());
  ASSERT_TRUE(pub->WaitConnected(seconds(10)));
  std::atomic<bool> acked{false};
  ASSERT_TRUE(pub->Publish("up/gw1/status", R"({"state":"online"})", 1, true,
                           [&](const Status& r) { acked = r.ok(); })
                  .ok());
  ASSERT_TRUE(Eventually([&] { return acked.load(); }, seconds(10)));
  MosquittoSub late(broker.port(), "up/gw1/status");  // subscribes after the publish
  EXPECT_TRUE(late.WaitFor("up/gw1/status {\"state\":\"online\"}", seconds(10))) << late.Received();
}

TEST(MqttPublisher, LastWillOnUngracefulDisconnectOnlyAndReconnect) {
  LogCapture logs;
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  MosquittoSub sub(broker.port(), "up/gw1/status");
  MqttPublisher::Options o;
  o.will = MqttWill{"up/gw1/status", R"({"state":"offline"})", 1, true};
  std::atomic<int> connected{0};
  MqttPublisher* self = nullptr;
  o.on_connected = [&] {
    ++connected;
    EXPECT_TRUE(self->Publish("up/gw1/status", R"({"state":"online"})", 1, true).ok());
  };
  auto pub = Make(broker, std::move(o));
  self = pub.get();
  ASSERT_TRUE(pub->Start().ok());
  ASSERT_TRUE(sub.WaitFor(R"(up/gw1/status {"state":"online"})", seconds(10))) << sub.Received();
  EXPECT_EQ(sub.Received().find("offline"), std::string::npos);

  // The connection breaks without DISCONNECT: the broker publishes the will.
  ASSERT_GE(BreakConnectionsToPort(broker.port()), 1);
  EXPECT_TRUE(sub.WaitFor(R"(up/gw1/status {"state":"offline"})", seconds(10))) << sub.Received();
  // And we come back: online again, after the offline.
  ASSERT_TRUE(Eventually([&] { return connected.load() >= 2; }, seconds(10)));
  ASSERT_TRUE(Eventually(
      [&] {
        const std::string r = sub.Received();
        return r.rfind("online") != std::string::npos && r.rfind("online") > r.rfind("offline");
      },
      seconds(10)))
      << sub.Received();
  EXPECT_EQ(pub->stats().connection_losses, 1u);

  // A clean stop sends DISCONNECT: no will.
  const size_t offline_before = [&] {
    size_t n = 0, at = 0;
    const std::string r = sub.Received();
    while ((at = r.find("offline", at)) != std::string::npos) ++n, ++at;
    return n;
  }();
  pub->Stop();
  std::this_thread::sleep_for(milliseconds(500));
  size_t offline_after = 0;
  {
    size_t at = 0;
    const std::string r = sub.Received();
    while ((at = r.find("offline", at)) != std::string::npos) ++offline_after, ++at;
  }
  EXPECT_EQ(offline_after, offline_before);
}

TEST(MqttPublisher, PublishWhileDisconnectedIsRefusedAtOnce) {
  MosquittoBroker broker;
  ASSERT_TRUE(broker.ok()) << broker.error();
  auto pub = Make(broker);
  bool called = false;
  // Not started: not connected.
  Status s = pub->Publish("up/x", "1", 1, false, [&](const Status&) { called = true; });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  ASSERT_TRUE(pub->Start().ok());
  ASSERT_TRUE(pub->WaitConnected(seconds(10)));
  broker.Kill();
  ASSERT_TRUE(Eventually([&] { return pub->stats().state != MqttConnectionState::kConnected; },
                         seconds(10)));
  s = pub->Publish("up/x", "1", 1, false, [&](const Status&) { called = true; });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(called);
  EXPECT_GE(pub->stats().publish_failures, 2u);
}

}  // namespace
}  // namespace edge::drivers
