// Model sync end to end (issue #8), with real parts only: `edge-agent run` polling a repository
// tree made by `edge-agent model publish` and served by tests/support/http_test_server.py (or
// nginx over HTTPS with a private CA), a real mosquitto carrying models/notify, models/status
// and the retained online status, plc-sim serving the model's input register, and models
// exported by PyTorch and signed by `edge-agent model pack`.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/e2e_rig.h"
#include "tests/support/eventually.h"
#include "tests/support/http_servers.h"
#include "tests/support/mqtt_messages.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

class ModelSyncEndToEnd : public ::testing::Test {
 protected:
  static constexpr char kModelStatus[] = "plant1/line3-pc1/models/status";
  static constexpr char kStatus[] = "plant1/line3-pc1/status";
  static constexpr char kAlarms[] = "plant1/line3-pc1/alarms/pump1";

  void SetUp() override {
    ASSERT_EQ(rig_.StartBroker(), "");
    ASSERT_EQ(rig_.StartPlcSim(), "");
    SetPressure(0.1f);
    for (const auto& [version, variant] : std::vector<std::pair<std::string, std::string>>{
             {"1.0.0", "last"}, {"1.1.0", "last"}, {"1.2.0", "sqrt"}}) {
      PackageIdentity as;
      as.name = "pump";
      as.version = version;
      as.variant = variant;
      as.private_key = Path("repo.pem");
      ASSERT_EQ(rig_.MakePackage("pkg-" + version, as), "");
    }
    rig_.Subscribe("plant1/#", {"-q", "1"});
  }

  std::string Path(const std::string& name) const { return rig_.Path(name); }

  void SetPressure(float value) {
    ASSERT_TRUE(rig_.plc().WriteFloat32(0, value)) << rig_.plc().write_error();
  }

  void Publish(const std::string& version, const fs::path& repo) {
    const CommandResult r =
        RunAgent({"model", "publish", Path("pkg-" + version), "--repo", repo.string(), "--key",
                  Path("repo.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // Publishes `payload` on the gateway's models/notify topic (mosquitto_pub, QoS 1).
  void Notify(const std::string& payload) {
    const CommandResult r =
        MosquittoPublish(rig_.broker().port(), "plant1/line3-pc1/models/notify", payload);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // The agent's configuration for a repository at `url`, data in `data_dir`.
  fs::path WriteConfig(const std::string& url, const std::string& data_dir,
                       const std::string& ca_file = "") {
    AgentYaml yaml = rig_.Config();
    yaml.data_dir = data_dir;
    yaml.repository = {
        .url = url, .poll_interval = "10s", .trusted_key = Path("repo.pub"), .ca_file = ca_file};
    yaml.deployments = {{.model = "pump"}};
    return rig_.WriteConfig(yaml);
  }

  std::unique_ptr<Subprocess> StartAgent(
      const fs::path& config, std::vector<std::pair<std::string, std::string>> env = {}) {
    return edge::testing::StartAgent(config, {.env = std::move(env)});
  }

  std::vector<json> Messages(const std::string& topic) const {
    return PayloadsOn(rig_.sub().Received(), topic);
  }
  std::vector<json> ModelStatuses() const { return Messages(kModelStatus); }

  // The version the latest online status lists for pump1, "" if none.
  std::string RunningVersion() const {
    const std::vector<json> statuses = Messages(kStatus);
    if (statuses.empty() || statuses.back()["state"] != "online") return "";
    for (const json& m : statuses.back()["models"]) {
      if (m["asset"] == "pump1") return m["version"];
    }
    return "";
  }

  bool WaitForModelStatus(size_t n, std::chrono::milliseconds timeout) {
    return Eventually([&] { return ModelStatuses().size() >= n; }, timeout);
  }
  bool WaitForRunning(const std::string& version, std::chrono::milliseconds timeout) {
    return Eventually([&] { return RunningVersion() == version; }, timeout);
  }

  EndToEndRig rig_;
};

TEST_F(ModelSyncEndToEnd, NewVersionsRunAfterANotifyAndWithinOnePoll) {
  HttpTestServer server(TestPython());
  ASSERT_EQ(server.error(), "");
  Publish("1.0.0", server.root());
  std::unique_ptr<Subprocess> agent = StartAgent(WriteConfig(server.Url("/"), Path("data")));
  ASSERT_TRUE(WaitForModelStatus(1, seconds(20))) << agent->Stderr();
  EXPECT_EQ(ModelStatuses()[0]["result"], "installed");
  EXPECT_EQ(ModelStatuses()[0]["version"], "1.0.0");
  ASSERT_TRUE(WaitForRunning("1.0.0", seconds(10))) << rig_.sub().Received();

  // A notify syncs at once.
  Publish("1.1.0", server.root());
  const auto notified = steady_clock::now();
  Notify(R"({"model":"pump"})");
  ASSERT_TRUE(WaitForModelStatus(2, seconds(8))) << agent->Stderr();
  EXPECT_LT(steady_clock::now() - notified, seconds(8));  // the poll interval is 10 s
  EXPECT_EQ(ModelStatuses()[1]["version"], "1.1.0");
  EXPECT_EQ(ModelStatuses()[1]["result"], "installed");
  ASSERT_TRUE(WaitForRunning("1.1.0", seconds(5))) << rig_.sub().Received();

  // The next version is picked up by polling alone, within one interval (10 s, +10 % jitter).
  Publish("1.2.0", server.root());
  ASSERT_TRUE(WaitForModelStatus(3, seconds(14))) << agent->Stderr();
  EXPECT_EQ(ModelStatuses()[2]["version"], "1.2.0");

  // The new model scores: a high pressure raises an alarm that names it.
  SetPressure(0.9f);  // sqrt(0.9) = 0.95 > 0.5
  ASSERT_TRUE(Eventually([&] { return !Messages(kAlarms).empty(); }, seconds(10)))
      << agent->Stderr();
  EXPECT_EQ(Messages(kAlarms)[0]["model_version"], "1.2.0");

  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(15)), 0) << agent->Stderr();
  ExpectValidJson("model-status.schema.json", {ModelStatuses()[0], ModelStatuses()[1]}, rig_.dir());
}

// The figures of pump1's status lines ("deployment pump1: pump 1.1.0, data ok, alarm raised, last
// score 0.9, 37 windows scored (37 assembled), 0 unscorable"), in order.
struct StatusLine {
  std::string version, alarm;
  double last_score = 0;
  uint64_t scored = 0, assembled = 0, unscorable = 0;
};
std::vector<StatusLine> StatusLines(const std::string& log) {
  static const std::regex re(
      "deployment pump1: pump ([0-9.]+), data [a-z_]+(?: \\([^)]*\\))?, alarm ([a-z]+), last "
      "score ([-0-9.e+naif]+), ([0-9]+) windows scored \\(([0-9]+) assembled\\), ([0-9]+) "
      "unscorable");
  std::vector<StatusLine> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back({(*it)[1], (*it)[2], std::stod((*it)[3]), std::stoull((*it)[4]),
                   std::stoull((*it)[5]), std::stoull((*it)[6])});
  }
  return out;
}

// A new version is swapped in between two scoring rounds: the windows already assembled are
// scored by the old model, the new one goes on from the next, the alarm engine carries on (a
// raised alarm is neither raised again nor cleared), and no window goes unscored.
TEST_F(ModelSyncEndToEnd, ASwapKeepsTheWindowsInFlightAndTheRaisedAlarm) {
  HttpTestServer server(TestPython());
  ASSERT_EQ(server.error(), "");
  Publish("1.1.0", server.root());
  std::unique_ptr<Subprocess> agent = StartAgent(WriteConfig(server.Url("/"), Path("data")));
  ASSERT_TRUE(WaitForRunning("1.1.0", seconds(20))) << agent->Stderr();
  SetPressure(0.9f);
  ASSERT_TRUE(Eventually([&] { return !Messages(kAlarms).empty(); }, seconds(10)))
      << agent->Stderr();
  const auto status_lines_of = [&](const std::string& version) {
    const std::vector<StatusLine> lines = StatusLines(agent->Stderr());
    return std::count_if(lines.begin(), lines.end(),
                         [&](const StatusLine& l) { return l.version == version; });
  };
  ASSERT_TRUE(Eventually([&] { return status_lines_of("1.1.0") >= 2; }, seconds(10)))
      << agent->Stderr();

  Publish("1.2.0", server.root());  // sqrt(0.9) = 0.949: still over the threshold
  Notify(R"({"model":"pump"})");
  ASSERT_TRUE(WaitForRunning("1.2.0", seconds(10))) << agent->Stderr();
  ASSERT_TRUE(Eventually([&] { return status_lines_of("1.2.0") >= 4; }, seconds(10)))
      << agent->Stderr();
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(seconds(15)), 0) << agent->Stderr();

  const std::vector<json> sent = Messages(kAlarms);
  ASSERT_EQ(sent.size(), 1u) << rig_.sub().Received();
  EXPECT_EQ(sent[0]["state"], "raised");
  EXPECT_EQ(sent[0]["model_version"], "1.1.0");
  // Every window assembled was scored, by one model or the other (a window dropped at the swap
  // would leave `assembled` ahead for good); status lines come once a second, and at 10 windows
  // a second the count grows by about 10 between two of them, the one across the swap included.
  const std::vector<StatusLine> lines = StatusLines(agent->Stderr());
  size_t first_new = 0;
  while (first_new < lines.size() && lines[first_new].version != "1.2.0") ++first_new;
  ASSERT_GT(first_new, 1u) << agent->Stderr();
  ASSERT_LT(first_new + 2, lines.size());
  for (size_t i = first_new - 1; i < first_new + 2; ++i) {
    EXPECT_EQ(lines[i].alarm, "raised");
    EXPECT_EQ(lines[i + 1].scored, lines[i + 1].assembled) << "a window was not scored";
    EXPECT_EQ(lines[i + 1].unscorable, lines[i].unscorable) << "windows went unscored";
    EXPECT_GE(lines[i + 1].scored - lines[i].scored, 7u) << "scoring paused at the swap";
  }
  EXPECT_NEAR(lines.back().last_score, std::sqrt(0.9), 1e-3);
}

TEST_F(ModelSyncEndToEnd, HttpsRepositoryWithAPrivateCa) {
  HttpsTestServer server;
  ASSERT_EQ(server.error(), "");
  Publish("1.0.0", server.root());
  std::unique_ptr<Subprocess> agent =
      StartAgent(WriteConfig(server.Url("localhost", "/"), Path("data"), server.ca_file()));
  ASSERT_TRUE(WaitForModelStatus(1, seconds(20))) << agent->Stderr();
  EXPECT_EQ(ModelStatuses()[0]["result"], "installed") << ModelStatuses()[0].dump();
  ASSERT_TRUE(WaitForRunning("1.0.0", seconds(10)));
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(15)), 0);

  // Without the private CA the same server is not trusted: nothing new is installed, and the
  // agent keeps running the model it has.
  Publish("1.1.0", server.root());
  agent = StartAgent(WriteConfig(server.Url("localhost", "/"), Path("data")));
  ASSERT_TRUE(agent->WaitForOutput("certificate", seconds(20))) << agent->Stderr();
  EXPECT_TRUE(WaitForRunning("1.0.0", seconds(10)));
  EXPECT_EQ(ModelStatuses().size(), 1u);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(15)), 0);
}

TEST_F(ModelSyncEndToEnd, KilledAtEachStepOfAnInstallItRunsTheOldOrTheNewModelNeverAPart) {
  HttpTestServer server(TestPython());
  ASSERT_EQ(server.error(), "");
  Publish("1.0.0", server.root());
  // A data directory with 1.0.0 installed, copied for each crash.
  {
    std::unique_ptr<Subprocess> agent = StartAgent(WriteConfig(server.Url("/"), Path("base")));
    ASSERT_TRUE(WaitForModelStatus(1, seconds(20))) << agent->Stderr();
    agent->Signal(SIGTERM);
    ASSERT_EQ(agent->Wait(seconds(15)), 0);
  }
  Publish("1.1.0", server.root());
  for (const char* point : {"download", "verify", "rename", "swap"}) {
    SCOPED_TRACE(point);
    const std::string data = Path(std::string("data-") + point);
    fs::copy(Path("base"), data, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    const fs::path config = WriteConfig(server.Url("/"), data);
    std::unique_ptr<Subprocess> agent = StartAgent(config, {{"EDGE_TEST_CRASH_AT", point}});
    EXPECT_EQ(agent->Wait(seconds(30)), 128 + SIGKILL) << agent->Stderr();

    // What is current on disk is a whole, verified package: the old one or the new one.
    const fs::path current = fs::path(data) / "models/pump/current";
    const CommandResult verify =
        RunAgent({"model", "verify", current.string(), "--key", Path("repo.pub")});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    const std::string version = fs::read_symlink(current).string();
    EXPECT_EQ(version, std::string(point) == "swap" ? "1.1.0" : "1.0.0");

    // Restarted, it runs that version at once and then completes the update.
    const size_t statuses_before = ModelStatuses().size();
    agent = StartAgent(config);
    EXPECT_TRUE(WaitForRunning("1.1.0", seconds(20))) << agent->Stderr();
    if (version == "1.0.0") {
      EXPECT_TRUE(WaitForModelStatus(statuses_before + 1, seconds(10)));
      EXPECT_EQ(ModelStatuses().back()["result"], "installed");
    }
    EXPECT_FALSE(fs::exists(fs::path(data) / "models/pump/.staging-1.1.0"));
    agent->Signal(SIGTERM);
    EXPECT_EQ(agent->Wait(seconds(15)), 0) << agent->Stderr();
  }
}

TEST_F(ModelSyncEndToEnd, AModelScoringNanOnProbationIsRolledBack) {
  HttpTestServer server(TestPython());
  ASSERT_EQ(server.error(), "");
  Publish("1.0.0", server.root());
  std::unique_ptr<Subprocess> agent = StartAgent(WriteConfig(server.Url("/"), Path("data")));
  ASSERT_TRUE(WaitForRunning("1.0.0", seconds(20))) << agent->Stderr();

  // 1.2.0 passes the smoke test (sqrt(0) = 0) but scores NaN for a negative input.
  Publish("1.2.0", server.root());
  Notify("sync");
  ASSERT_TRUE(WaitForRunning("1.2.0", seconds(10))) << agent->Stderr();
  SetPressure(-1.0f);
  ASSERT_TRUE(Eventually(
      [&] {
        const std::vector<json> s = ModelStatuses();
        return !s.empty() && s.back()["result"] == "rolled_back";
      },
      seconds(10)))
      << agent->Stderr();
  const json back = ModelStatuses().back();
  EXPECT_EQ(back["version"], "1.2.0");
  EXPECT_NE(back["reason"].get<std::string>().find("scored NaN"), std::string::npos) << back;
  EXPECT_NE(back["reason"].get<std::string>().find("back to 1.0.0"), std::string::npos) << back;
  EXPECT_TRUE(WaitForRunning("1.0.0", seconds(5)));

  // 1.0.0 scores again: a high pressure raises an alarm that names it.
  SetPressure(0.9f);
  ASSERT_TRUE(Eventually([&] { return !Messages(kAlarms).empty(); }, seconds(10)))
      << agent->Stderr();
  EXPECT_EQ(Messages(kAlarms)[0]["model_version"], "1.0.0");
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(15)), 0) << agent->Stderr();
}

}  // namespace
}  // namespace edge::testing
