// A crash during steady MQTT ingest loses no reading (issue #23 item 14): 20 sensors publish at
// 20 Hz with QoS 1 to a real mosquitto; the `edge-agent run` binary subscribes to each (QoS 1,
// persistent sessions) and is SIGKILLed at random moments, 2 (quick) / 10 (full) times, and
// restarted at once. Afterwards every published reading is in samples.db (`edge-agent export`);
// readings stored twice (the replay skips what is stored; a PUBACK lost with the socket makes
// the broker resend) are counted, not failed. Without the journal (drivers/mqtt_journal.h) each
// kill loses the last commit interval, about 200 ms: 117 readings in two kills.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/reliability/reliability.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/export_reader.h"

namespace edge::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kSensors = 20;
constexpr milliseconds kPeriod{50};  // 20 Hz

// Publishes {"ts": <ms>, "v": <tick>} on sensors/s<i> for every sensor each period, QoS 1, and
// remembers the ticks whose publishes the broker acknowledged.
class TickPublisher {
 public:
  TickPublisher(int port, int64_t base_ms)
      : client_(fmt::format("tcp://127.0.0.1:{}", port), "crash-test-sensors"), base_ms_(base_ms) {
    client_.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    thread_ = std::thread([this] {
      auto next = std::chrono::steady_clock::now();
      for (int64_t tick = 0; !stop_.load(); ++tick) {
        std::vector<mqtt::delivery_token_ptr> tokens;
        for (int i = 0; i < kSensors; ++i) {
          tokens.push_back(client_.publish(
              fmt::format("sensors/s{}", i),
              fmt::format(R"({{"ts": {}, "v": {}}})", TsMs(tick), tick), 1, false));
        }
        bool all = true;
        for (const auto& t : tokens) all = all && t->wait_for(seconds(5));
        if (all) ticks_.push_back(tick);
        next += kPeriod;
        std::this_thread::sleep_until(next);
      }
    });
  }
  ~TickPublisher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t TsMs(int64_t tick) const { return base_ms_ + tick * kPeriod.count(); }
  // REQUIRES: Stop() returned.
  const std::vector<int64_t>& ticks() const { return ticks_; }

 private:
  mqtt::async_client client_;
  const int64_t base_ms_;
  std::atomic<bool> stop_{false};
  std::vector<int64_t> ticks_;
  std::thread thread_;
};

bool AllSourcesConnected(Subprocess& agent) {
  for (int i = 0; i < kSensors; ++i) {
    if (!agent.WaitForOutput(fmt::format("mqtt source s{}: connected to", i), seconds(10))) {
      return false;
    }
  }
  return true;
}

TEST(MqttCrash, SigkillDuringQos1IngestLosesNoReading) {
  EndToEndRig rig;
  ASSERT_EQ(rig.StartBroker(), "");
  AgentYaml yaml = rig.Config();
  for (int i = 0; i < kSensors; ++i) {
    yaml.mqtt_sources.push_back({.name = fmt::format("s{}", i),
                                 .topic = fmt::format("sensors/s{}", i),
                                 .tags = {fmt::format("mqtt.s{}", i)},
                                 .field = "/v",
                                 .timestamp_field = "/ts"});
  }
  const auto config = rig.WriteConfig(yaml);

  auto agent = StartAgent(config);
  ASSERT_TRUE(AllSourcesConnected(*agent)) << agent->Stderr();  // the sessions exist
  const int64_t base_ms = std::chrono::duration_cast<milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  TickPublisher sensors(rig.broker().port(), base_ms);
  const int kills = Pick(2, 10);
  std::mt19937 rng(23);
  std::uniform_int_distribution<int> ingest_ms(600, 1200);
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(milliseconds(ingest_ms(rng)));
    agent->Signal(SIGKILL);
    ASSERT_TRUE(agent->Wait(seconds(10)).has_value());
    agent = StartAgent(config);
  }
  ASSERT_TRUE(AllSourcesConnected(*agent)) << agent->Stderr();
  std::this_thread::sleep_for(milliseconds(500));
  sensors.Stop();
  std::this_thread::sleep_for(milliseconds(800));  // the last messages arrive and commit
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(seconds(30)), 0) << agent->Stderr();

  const CommandResult exported = RunAgent({"export", "--config", config.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::map<std::pair<std::string, int64_t>, int> stored;  // (tag, ts ms) -> times stored
  for (const ExportedSample& s : ParseExportCsv(exported.out).samples) {
    ++stored[{s.tag, std::chrono::duration_cast<milliseconds>(s.ts.time_since_epoch()).count()}];
  }
  size_t published = 0, lost = 0, duplicates = 0;
  std::string first_lost;
  for (const int64_t tick : sensors.ticks()) {
    for (int i = 0; i < kSensors; ++i) {
      ++published;
      const auto it = stored.find({fmt::format("mqtt.s{}", i), sensors.TsMs(tick)});
      if (it == stored.end()) {
        if (lost++ == 0) first_lost = fmt::format("mqtt.s{} tick {}", i, tick);
      } else {
        duplicates += static_cast<size_t>(it->second - 1);
      }
    }
  }
  ASSERT_GT(published, static_cast<size_t>(kSensors * 20 * kills)) << "too few published";
  RecordFigure("MQTT SIGKILL", fmt::format("readings published (QoS 1, {} kills)", kills),
               std::to_string(published), "", true);
  RecordFigure("MQTT SIGKILL", "readings lost", std::to_string(lost), "0", lost == 0);
  RecordFigure("MQTT SIGKILL", "readings stored twice", std::to_string(duplicates), "counted",
               true);
  EXPECT_EQ(lost, 0u) << "first lost: " << first_lost;
}

}  // namespace
}  // namespace edge::testing
