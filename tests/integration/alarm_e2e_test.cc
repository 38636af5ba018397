// From register to alarm, end to end, with real parts only (issue #7): plc-sim serving a register,
// a real mosquitto, `edge-agent run` with a model exported by PyTorch and packed by `edge-agent
// model pack`, and mosquitto_sub as the alarm subscriber. The test drives the register into the
// fault range and back with a Modbus write (libmodbus), and checks what the subscriber receives.
// Broker outages, repeated kills and a full disk are the reliability suite's (tests/reliability/).
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <modbus.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/version.h"
#include "tests/drivers/peer_process.h"
#include "tests/support/last_value_model.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

const std::string kAgent = EDGE_AGENT_BINARY;
const fs::path kSourceDir = EDGE_SOURCE_DIR;

// The alarms of `asset` mosquitto_sub has received, in order (it prints "topic payload" lines).
std::vector<json> Alarms(const MosquittoSub& sub, const std::string& asset = "pump1") {
  const std::string prefix = "plant1/line3-pc1/alarms/" + asset + " ";
  std::vector<json> alarms;
  std::istringstream lines(sub.Received());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) alarms.push_back(json::parse(line.substr(prefix.size())));
  }
  return alarms;
}

// The alarms with duplicates dropped the way the README tells subscribers to: by seq. Delivery is
// at least once, so an alarm the broker forwarded just before the agent stopped is sent again.
std::vector<json> UniqueBySeq(const std::vector<json>& alarms) {
  std::vector<json> unique;
  uint64_t last_seq = 0;
  for (const json& a : alarms) {
    const uint64_t seq = a["seq"].get<uint64_t>();
    if (seq <= last_seq) continue;
    last_seq = seq;
    unique.push_back(a);
  }
  return unique;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (!done()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

class AlarmEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<MosquittoBroker>();
    ASSERT_TRUE(broker_->ok()) << broker_->error();

    const fs::path map =
        dir_.Write("plc.yaml",
                   "tags:\n  - {name: pressure, table: holding, address: 0, type: float32}\n"
                   "  - {name: pressure2, table: holding, address: 2, type: float32}\n");
    plc_ = std::make_unique<PlcSim>(map.string());
    ASSERT_NE(plc_->port(), 0) << plc_->error();
    modbus_ = modbus_new_tcp("127.0.0.1", plc_->port());
    ASSERT_NE(modbus_, nullptr);
    ASSERT_EQ(modbus_connect(modbus_), 0);
    SetPressure(0.1f);
    SetPressure(0.1f, 2);

    // The model: score = the window's last pressure; packed and signed by the agent's own tool.
    const std::string made = MakeLastValuePackage({.agent_binary = kAgent,
                                                   .python = EDGE_TEST_PYTHON,
                                                   .source_dir = kSourceDir,
                                                   .window = 4,
                                                   .step_ms = 100,
                                                   .threshold = 0.5},
                                                  dir_.path() / "pkg");
    ASSERT_EQ(made, "");

    config_ =
        dir_.Write("agent.yaml",
                   fmt::format(R"(gateway:
  id: line3-pc1
  data_dir: {data}
upstream:
  broker: tcp://127.0.0.1:{broker}
  topic_prefix: plant1
modbus:
  - name: plc
    host: 127.0.0.1
    port: {plc}
    poll_interval: 100ms
    timeout: 300ms
    tags:
      - {{name: pump1.pressure, table: holding, address: 0, type: float32}}
      - {{name: pump2.pressure, table: holding, address: 2, type: float32}}
models:
  deployments:
    - asset: pump1
      package: {pkg}
      inputs: {{pressure: pump1.pressure}}
      max_input_age: 5s
      alarm: {{raise_after: 3, clear_after: 3}}
    - asset: pump2
      package: {pkg}
      inputs: {{pressure: pump2.pressure}}
      alarm: {{raise_after: 3, clear_after: 3}}
)",
                               fmt::arg("data", (dir_.path() / "data").string()),
                               fmt::arg("broker", broker_->port()), fmt::arg("plc", plc_->port()),
                               fmt::arg("pkg", (dir_.path() / "pkg").string())));
    sub_ = std::make_unique<MosquittoSub>(
        broker_->port(), "plant1/#", std::vector<std::string>{"-q", "1", "-c", "-i", "e2e-sub"});
  }

  void TearDown() override {
    if (modbus_ != nullptr) {
      modbus_close(modbus_);
      modbus_free(modbus_);
    }
  }

  void SetPressure(float value, int address = 0) {
    const std::array<uint16_t, 2> regs = Float32AbcdRegisters(value);
    ASSERT_EQ(modbus_write_registers(modbus_, address, 2, regs.data()), 2)
        << modbus_strerror(errno);
  }

  std::unique_ptr<Subprocess> StartAgent(
      std::vector<std::pair<std::string, std::string>> env = {}) {
    auto agent = std::make_unique<Subprocess>(SubprocessOptions{
        .argv = {kAgent, "run", "--config", config_.string(), "--status-interval", "1s"},
        .env = std::move(env)});
    EXPECT_TRUE(agent->WaitForOutput("running;", seconds(20))) << agent->Stderr();
    return agent;
  }

  bool WaitForAlarms(size_t n, std::chrono::milliseconds timeout) {
    return WaitUntil([&] { return Alarms(*sub_).size() >= n; }, timeout);
  }

  ScratchDir dir_;
  std::unique_ptr<MosquittoBroker> broker_;
  std::unique_ptr<PlcSim> plc_;
  modbus_t* modbus_ = nullptr;
  fs::path config_;
  std::unique_ptr<MosquittoSub> sub_;
};

// Every document must validate against docs/schemas/<schema> (python3-jsonschema).
void ExpectValid(const std::string& schema, const std::vector<json>& documents,
                 const ScratchDir& dir) {
  std::vector<std::string> argv = {EDGE_TEST_PYTHON,
                                   (kSourceDir / "tests/support/validate_json.py").string(),
                                   (kSourceDir / "docs/schemas" / schema).string()};
  for (size_t i = 0; i < documents.size(); ++i) {
    argv.push_back(dir.Write("doc" + std::to_string(i) + ".json", documents[i].dump()).string());
  }
  const CommandResult r = RunCommand({.argv = argv});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(AlarmEndToEnd, FaultRaisesAndRecoveryClearsWithTheDocumentedMessage) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(sub_->WaitFor("\"state\":\"online\"", seconds(20))) << agent->Stderr();
  // Let a few windows of normal values be scored first.
  std::this_thread::sleep_for(milliseconds(800));
  EXPECT_TRUE(Alarms(*sub_).empty());

  SetPressure(0.9f);
  ASSERT_TRUE(WaitForAlarms(1, seconds(10))) << agent->Stderr();
  SetPressure(0.2f);
  ASSERT_TRUE(WaitForAlarms(2, seconds(10))) << agent->Stderr();

  const std::vector<json> alarms = Alarms(*sub_);
  ASSERT_EQ(alarms.size(), 2u) << sub_->Received();
  EXPECT_EQ(alarms[0]["state"], "raised");
  EXPECT_EQ(alarms[0]["gateway"], "line3-pc1");
  EXPECT_EQ(alarms[0]["asset"], "pump1");
  EXPECT_EQ(alarms[0]["model"], "last-value");
  EXPECT_EQ(alarms[0]["model_version"], "1.0.0");
  EXPECT_NEAR(alarms[0]["score"].get<double>(), 0.9, 1e-6);
  EXPECT_DOUBLE_EQ(alarms[0]["threshold"].get<double>(), 0.5);
  EXPECT_EQ(alarms[1]["state"], "cleared");
  EXPECT_NEAR(alarms[1]["score"].get<double>(), 0.2, 1e-6);
  EXPECT_NEAR(alarms[1]["peak_score"].get<double>(), 0.9, 1e-6);
  EXPECT_GT(alarms[1]["seq"].get<uint64_t>(), alarms[0]["seq"].get<uint64_t>());
  ExpectValid("alarm.schema.json", alarms, dir_);

  // The status topic carries the retained birth message with the running model.
  const std::string received = sub_->Received();
  const size_t status = received.find("plant1/line3-pc1/status ");
  ASSERT_NE(status, std::string::npos);
  const json online =
      json::parse(received.substr(status + 24, received.find('\n', status) - status - 24));
  EXPECT_EQ(online["models"][0]["model"], "last-value");
  EXPECT_EQ(online["agent_version"], kAgentVersion);
  ExpectValid("status.schema.json", {online}, dir_);

  // A clean stop: the broker does not publish the Last Will.
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(20)), 0) << agent->Stderr();
}

TEST_F(AlarmEndToEnd, DeploymentsSharingAModelAreScoredTogetherButAlarmApart) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(sub_->WaitFor("\"state\":\"online\"", seconds(20)));
  // One batched call scores both windows; each row must reach its own deployment.
  EXPECT_TRUE(agent->WaitForOutput("deployment pump2: last-value 1.0.0, data ok", seconds(10)))
      << agent->Stderr();
  SetPressure(0.9f, 2);
  ASSERT_TRUE(WaitUntil([&] { return !Alarms(*sub_, "pump2").empty(); }, seconds(10)))
      << agent->Stderr();
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_TRUE(Alarms(*sub_, "pump1").empty()) << sub_->Received();
  EXPECT_EQ(Alarms(*sub_, "pump2")[0]["asset"], "pump2");
  EXPECT_EQ(Alarms(*sub_, "pump2")[0]["state"], "raised");
}

TEST_F(AlarmEndToEnd, AFaultShorterThanRaiseAfterRaisesNothing) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(sub_->WaitFor("\"state\":\"online\"", seconds(20)));
  std::this_thread::sleep_for(milliseconds(600));
  for (int i = 0; i < 3; ++i) {
    SetPressure(0.9f);  // one poll's worth: at most two anomalous windows of the three needed
    std::this_thread::sleep_for(milliseconds(100));
    SetPressure(0.1f);
    std::this_thread::sleep_for(milliseconds(700));
  }
  EXPECT_TRUE(Alarms(*sub_).empty()) << sub_->Received();
  EXPECT_EQ(agent->Stderr().find("alarm raised"), std::string::npos) << agent->Stderr();
}

TEST_F(AlarmEndToEnd, SigkillLosesNoCommittedAlarmAndSeqKeepsIncreasing) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(sub_->WaitFor("\"state\":\"online\"", seconds(20)));
  std::this_thread::sleep_for(milliseconds(600));
  SetPressure(0.9f);
  ASSERT_TRUE(WaitForAlarms(1, seconds(10))) << agent->Stderr();
  const uint64_t first_seq = Alarms(*sub_)[0]["seq"].get<uint64_t>();
  agent->Signal(SIGKILL);
  agent->Wait(seconds(10));
  // The kernel closed the killed agent's connection, so the broker publishes its Last Will: the
  // retained offline status.
  ASSERT_TRUE(sub_->WaitFor("\"state\":\"offline\"", seconds(20))) << sub_->Received();
  const std::string received = sub_->Received();

  // Still in the fault range across the restart: the alarm stays raised, no second "raised".
  agent = StartAgent();
  EXPECT_TRUE(agent->WaitForOutput("stays raised", seconds(5))) << agent->Stderr();
  // Windows are rebuilt from storage (pump1's max_input_age, 5 s, reaches back past the kill),
  // so scoring resumes at once.
  EXPECT_NE(agent->Stderr().find("deployment pump1: rebuilt"), std::string::npos)
      << agent->Stderr();
  const size_t will = received.rfind("plant1/line3-pc1/status {\"state\":\"offline\"");
  ASSERT_NE(will, std::string::npos) << received;
  const size_t start = will + sizeof("plant1/line3-pc1/status");
  ExpectValid("status.schema.json",
              {json::parse(received.substr(start, received.find('\n', will) - start))}, dir_);
  SetPressure(0.1f);
  // The killed agent may not have recorded the broker's acknowledgement of the raised alarm; then
  // it sends that alarm again, with the same seq, which subscribers drop.
  ASSERT_TRUE(WaitUntil([&] { return UniqueBySeq(Alarms(*sub_)).size() >= 2; }, seconds(10)))
      << sub_->Received() << agent->Stderr();
  const std::vector<json> alarms = UniqueBySeq(Alarms(*sub_));
  ASSERT_EQ(alarms.size(), 2u) << sub_->Received();
  EXPECT_EQ(alarms[0]["state"], "raised");
  EXPECT_EQ(alarms[1]["state"], "cleared");
  EXPECT_GT(alarms[1]["seq"].get<uint64_t>(), first_seq);
  for (const json& a : Alarms(*sub_)) {
    EXPECT_TRUE(a["seq"] == alarms[0]["seq"] || a["seq"] == alarms[1]["seq"]) << a.dump();
  }
}

// The alarm is committed to the outbox, then alarm_state.json is rewritten: a kill between the two
// must neither lose the alarm nor raise it a second time after the restart.
TEST_F(AlarmEndToEnd, KilledBetweenQueueingAnAlarmAndSavingItsStateItIsRaisedOnce) {
  std::unique_ptr<Subprocess> agent = StartAgent({{"EDGE_TEST_CRASH_AT", "alarm-queued"}});
  ASSERT_TRUE(sub_->WaitFor("\"state\":\"online\"", seconds(20)));
  std::this_thread::sleep_for(milliseconds(600));
  SetPressure(0.9f);
  ASSERT_EQ(agent->Wait(seconds(10)), 128 + SIGKILL) << agent->Stderr();

  agent = StartAgent();
  EXPECT_TRUE(agent->WaitForOutput("stays raised", seconds(5))) << agent->Stderr();
  ASSERT_TRUE(WaitForAlarms(1, seconds(10))) << agent->Stderr();  // delivered from the outbox
  SetPressure(0.1f);
  ASSERT_TRUE(WaitUntil([&] { return UniqueBySeq(Alarms(*sub_)).size() >= 2; }, seconds(10)))
      << sub_->Received() << agent->Stderr();
  std::this_thread::sleep_for(milliseconds(300));
  const std::vector<json> alarms = UniqueBySeq(Alarms(*sub_));
  ASSERT_EQ(alarms.size(), 2u) << sub_->Received();
  EXPECT_EQ(alarms[0]["state"], "raised");
  EXPECT_EQ(alarms[1]["state"], "cleared");
  EXPECT_EQ(agent->Stderr().find("alarm raised"), std::string::npos) << agent->Stderr();
}

TEST_F(AlarmEndToEnd, SilentPlcStopsScoringShowsTheDataStateAndRaisesNothing) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(sub_->WaitFor("\"state\":\"online\"", seconds(20)));
  ASSERT_TRUE(agent->WaitForOutput("data ok", seconds(10))) << agent->Stderr();
  plc_->Pause();  // the PLC stops answering: timeouts, bad-quality samples
  EXPECT_TRUE(agent->WaitForOutput("data bad (pump1.pressure)", seconds(10))) << agent->Stderr();
  std::this_thread::sleep_for(seconds(2));
  plc_->Resume();
  EXPECT_TRUE(Alarms(*sub_).empty()) << sub_->Received();
}

}  // namespace
}  // namespace edge::testing
