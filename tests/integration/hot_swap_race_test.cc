// The model hot-swap race, end to end: `edge-agent run` with an MQTT source whose tag names come
// from a topic level ("{2}.vib"), while a publisher keeps announcing new machines (one new tag
// name per message) and model sync installs one new version after another (repository served by
// tests/support/http_test_server.py, installs triggered by models/notify).
//
// Before the TagRegistry owned its lock, each install rebuilt the routes from the registry
// (tags_.size(), Find) on the scoring thread while paho's callback thread interned the new
// names under a mutex the scoring thread never took: a data race that ThreadSanitizer reports
// in the agent, which then exits at once (scripts/test.sh runs it with halt_on_error=1), so the
// waits below fail with the report in the agent's stderr. Without TSan the test checks the
// behaviour across the swaps: every install lands, every new name is stored.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "drivers/mqtt_connection.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/eventually.h"
#include "tests/support/export_reader.h"
#include "tests/support/http_servers.h"
#include "tests/support/mqtt_messages.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr int kSwaps = 5;  // versions 1.1.0 .. 1.5.0 after 1.0.0
// Three sources, each with its own paho callback thread interning names and its own limit of
// 10000 names (max_dynamic_tags): more names arrive in parallel, and for longer.
constexpr const char* kLines[] = {"a", "b", "c"};
constexpr int kNamesPerLine = 9500;

// The topic of message `i` and the tag name the agent makes of it: a new machine per message.
std::string TopicOf(int i) { return fmt::format("plant1/{}/machine{}/vib", kLines[i % 3], i); }
std::string TagOf(int i) { return fmt::format("{}.machine{}.vib", kLines[i % 3], i); }

// Publishes one reading per new machine (TopicOf(0), TopicOf(1), ...) on its own thread, about
// 800 a second, until Stop(); at most kInFlight unacknowledged QoS 1 messages at a time.
class NewNamePublisher {
 public:
  explicit NewNamePublisher(int broker_port) {
    StatusOr<config::BrokerConfig> broker =
        config::BrokerConfig::FromUri(fmt::format("tcp://127.0.0.1:{}", broker_port));
    EXPECT_TRUE(broker.ok()) << broker.status().ToString();
    if (!broker.ok()) return;
    broker->client_id = "hot-swap-race-publisher";
    drivers::MqttConnection::Options options;
    options.name = "test publisher";
    auto created = drivers::MqttConnection::Create(*broker, options);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    if (!created.ok()) return;
    connection_ = std::move(*created);
    EXPECT_TRUE(connection_->Start().ok());
    EXPECT_TRUE(connection_->WaitConnected(seconds(10)));
    thread_ = std::thread([this] { Run(); });
  }
  ~NewNamePublisher() { Stop(); }

  // Stops publishing and waits for the acknowledgements; returns how many were acknowledged.
  int Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    Eventually([&] { return in_flight_ == 0; }, seconds(20));
    if (connection_ != nullptr) connection_->Stop();
    return acked_;
  }
  int acked() const { return acked_; }
  int failed() const { return failed_; }

 private:
  static constexpr int kInFlight = 100;

  void Run() {
    for (int i = 0; !stop_ && i < 3 * kNamesPerLine; ++i) {
      while (in_flight_ >= kInFlight && !stop_) std::this_thread::sleep_for(milliseconds(1));
      ++in_flight_;
      const Status s = connection_->Publish(TopicOf(i), std::to_string(i), 1, false,
                                            [this](const Status& result) {
                                              ++(result.ok() ? acked_ : failed_);
                                              --in_flight_;
                                            });
      if (!s.ok()) {
        --in_flight_;
        ++failed_;
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  }

  std::unique_ptr<drivers::MqttConnection> connection_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<int> acked_{0};
  std::atomic<int> failed_{0};
};

class HotSwapRace : public ::testing::Test {
 protected:
  static constexpr char kModelStatus[] = "plant1/line3-pc1/models/status";

  void SetUp() override {
    ASSERT_EQ(rig_.StartBroker(), "");
    server_ = std::make_unique<HttpTestServer>(TestPython());
    ASSERT_EQ(server_->error(), "");
    // One PyTorch export; the later versions pack the same ONNX file again (cheap).
    ASSERT_EQ(rig_.MakePackage("pkg-1.0.0", {.name = "pump", .private_key = Path("repo.pem")}),
              "");
    for (int v = 1; v <= kSwaps; ++v) {
      const std::string version = fmt::format("1.{}.0", v);
      const CommandResult r =
          RunAgent({"model", "pack", "--onnx", Path("pkg-1.0.0.onnx"), "--name", "pump",
                    "--version", version, "--features", "pressure", "--window", "4", "--step-ms",
                    "100", "--threshold", "0.5", "--key", Path("repo.pem"), "--out",
                    Path("pkg-" + version)});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    rig_.Subscribe(kModelStatus, {"-q", "1"});
  }

  std::string Path(const std::string& name) const { return rig_.Path(name); }

  void Publish(const std::string& version) {
    const CommandResult r = RunAgent(
        {"model", "publish", Path("pkg-" + version), "--repo", server_->root().string(), "--key",
         Path("repo.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void Notify() {
    const CommandResult r = MosquittoPublish(rig_.broker().port(),
                                             "plant1/line3-pc1/models/notify", R"({"model":"pump"})");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::vector<json> ModelStatuses() const {
    return PayloadsOn(rig_.sub().Received(), kModelStatus);
  }

  // The tags of every stored sample (`edge-agent export`, read while the agent runs).
  std::set<std::string> StoredTags(const fs::path& config) const {
    const CommandResult exported = RunAgent({"export", "--config", config.string()});
    EXPECT_EQ(exported.exit_code, 0) << exported.err;
    std::set<std::string> tags;
    for (const ExportedSample& sample : ParseExportCsv(exported.out).samples) {
      tags.insert(sample.tag);
    }
    return tags;
  }

  // Three sources whose tag names come from the topic (a new name per machine), the pressure
  // the model reads, and the model from the repository.
  fs::path WriteConfig() const {
    AgentYaml yaml = rig_.Config();
    for (const char* line : kLines) {
      yaml.mqtt_sources.push_back({.name = line,
                                   .topic = fmt::format("plant1/{}/+/vib", line),
                                   .tags = {fmt::format("\"{}.{{2}}.vib\"", line)}});
    }
    yaml.mqtt_sources.push_back(
        {.name = "pressure", .topic = "plant1/line3/pump1/pressure", .tags = {"pump1.pressure"}});
    yaml.repository = {
        .url = server_->Url("/"), .poll_interval = "1h", .trusted_key = Path("repo.pub")};
    yaml.deployments = {{.model = "pump"}};
    return rig_.WriteConfig(yaml);
  }

  EndToEndRig rig_;
  std::unique_ptr<HttpTestServer> server_;
};

TEST_F(HotSwapRace, NewTagNamesDuringModelSwapsAreAllStoredAndEverySwapLands) {
  Publish("1.0.0");
  const fs::path config = WriteConfig();
  std::unique_ptr<Subprocess> agent = StartAgent(config, {.args = {}});
  ASSERT_TRUE(Eventually([&] { return ModelStatuses().size() >= 1; }, seconds(60)))
      << agent->Stderr();
  ASSERT_EQ(ModelStatuses()[0]["version"], "1.0.0");

  NewNamePublisher publisher(rig_.broker().port());
  ASSERT_TRUE(Eventually([&] { return publisher.acked() >= 200; }, seconds(20)));
  for (int v = 1; v <= kSwaps; ++v) {
    const std::string version = fmt::format("1.{}.0", v);
    Publish(version);
    Notify();
    ASSERT_TRUE(Eventually([&] { return ModelStatuses().size() >= static_cast<size_t>(v) + 1; },
                           seconds(60)))
        << "install of " << version << " did not land\n"
        << agent->Stderr();
    // New names keep arriving between two swaps too.
    const int before = publisher.acked();
    ASSERT_TRUE(Eventually([&] { return publisher.acked() >= before + 100; }, seconds(20)));
  }
  const int published = publisher.Stop();
  EXPECT_EQ(publisher.failed(), 0);

  const std::vector<json> statuses = ModelStatuses();
  ASSERT_EQ(statuses.size(), static_cast<size_t>(kSwaps) + 1);
  for (int v = 0; v <= kSwaps; ++v) {
    const json& status = statuses[static_cast<size_t>(v)];
    EXPECT_EQ(status["result"], "installed") << status.dump();
    EXPECT_EQ(status["version"], fmt::format("1.{}.0", v));
  }

  // Every new name reaches the database. The broker acknowledged each message to the publisher
  // before handing it to the agent, so look (export reads while the agent runs) until all are in.
  int missing = published;
  const auto deadline = steady_clock::now() + seconds(90);
  while (missing > 0 && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(seconds(1));
    const std::set<std::string> stored = StoredTags(config);
    missing = 0;
    for (int i = 0; i < published; ++i) missing += stored.count(TagOf(i)) == 0;
  }
  EXPECT_EQ(missing, 0) << "of " << published << " names published";
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(seconds(60)), 0) << agent->Stderr();
  EXPECT_GE(published, 200 + 100 * kSwaps);
}

}  // namespace
}  // namespace edge::testing
