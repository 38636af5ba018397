// From register to alarm, end to end, with real parts only (issue #7): plc-sim serving a register,
// a real mosquitto, `edge-agent run` with a model exported by PyTorch and packed by `edge-agent
// model pack`, and mosquitto_sub as the alarm subscriber. The test drives the register into the
// fault range and back with a Modbus write (libmodbus), and checks what the subscriber receives.
// Broker outages, repeated kills and a full disk are the reliability suite's (tests/reliability/).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/version.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/eventually.h"
#include "tests/support/mqtt_messages.h"

namespace edge::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class AlarmEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(rig_.StartBroker(), "");
    ASSERT_EQ(
        rig_.StartPlcSim("plc.yaml",
                         "tags:\n  - {name: pressure, table: holding, address: 0, type: float32}\n"
                         "  - {name: pressure2, table: holding, address: 2, type: float32}\n"),
        "");
    SetPressure(0.1f);
    SetPressure(0.1f, 2);

    // The model: score = the window's last pressure; packed and signed by the agent's own tool.
    ASSERT_EQ(rig_.MakePackage("pkg"), "");

    AgentYaml yaml = rig_.Config();
    yaml.modbus[0].tags.push_back({.name = "pump2.pressure", .address = 2});
    yaml.deployments = {
        {.package = rig_.Path("pkg"), .max_input_age = "5s"},
        {.asset = "pump2", .package = rig_.Path("pkg"), .pressure_tag = "pump2.pressure"}};
    config_ = rig_.WriteConfig(yaml);
    rig_.Subscribe("plant1/#", {"-q", "1", "-c", "-i", "e2e-sub"});
  }

  void SetPressure(float value, int address = 0) {
    ASSERT_TRUE(rig_.plc().WriteFloat32(address, value)) << rig_.plc().write_error();
  }

  std::unique_ptr<Subprocess> StartAgent(
      std::vector<std::pair<std::string, std::string>> env = {}) {
    auto agent = edge::testing::StartAgent(config_, {.env = std::move(env)});
    EXPECT_TRUE(agent->WaitForOutput("running;", seconds(20))) << agent->Stderr();
    return agent;
  }

  // The alarms of `asset` the subscriber has received, in order.
  std::vector<json> Alarms(const std::string& asset = "pump1") {
    return PayloadsOn(rig_.sub().Received(), "plant1/line3-pc1/alarms/" + asset);
  }

  bool WaitForAlarms(size_t n, std::chrono::milliseconds timeout) {
    return Eventually([&] { return Alarms().size() >= n; }, timeout);
  }

  EndToEndRig rig_;
  std::filesystem::path config_;
};

TEST_F(AlarmEndToEnd, FaultRaisesAndRecoveryClearsWithTheDocumentedMessage) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(rig_.sub().WaitFor("\"state\":\"online\"", seconds(20))) << agent->Stderr();
  // Let a few windows of normal values be scored first.
  std::this_thread::sleep_for(milliseconds(800));
  EXPECT_TRUE(Alarms().empty());

  SetPressure(0.9f);
  ASSERT_TRUE(WaitForAlarms(1, seconds(10))) << agent->Stderr();
  SetPressure(0.2f);
  ASSERT_TRUE(WaitForAlarms(2, seconds(10))) << agent->Stderr();

  const std::vector<json> alarms = Alarms();
  ASSERT_EQ(alarms.size(), 2u) << rig_.sub().Received();
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
  ExpectValidJson("alarm.schema.json", alarms, rig_.dir());

  // The status topic carries the retained birth message with the running model.
  const std::string received = rig_.sub().Received();
  const size_t status = received.find("plant1/line3-pc1/status ");
  ASSERT_NE(status, std::string::npos);
  const json online =
      json::parse(received.substr(status + 24, received.find('\n', status) - status - 24));
  EXPECT_EQ(online["models"][0]["model"], "last-value");
  EXPECT_EQ(online["agent_version"], kAgentVersion);
  ExpectValidJson("status.schema.json", {online}, rig_.dir());

  // A clean stop: the broker does not publish the Last Will.
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(20)), 0) << agent->Stderr();
}

TEST_F(AlarmEndToEnd, DeploymentsSharingAModelAreScoredTogetherButAlarmApart) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(rig_.sub().WaitFor("\"state\":\"online\"", seconds(20)));
  // One batched call scores both windows; each row must reach its own deployment.
  EXPECT_TRUE(agent->WaitForOutput("deployment pump2: last-value 1.0.0, data ok", seconds(10)))
      << agent->Stderr();
  SetPressure(0.9f, 2);
  ASSERT_TRUE(Eventually([&] { return !Alarms("pump2").empty(); }, seconds(10))) << agent->Stderr();
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_TRUE(Alarms("pump1").empty()) << rig_.sub().Received();
  EXPECT_EQ(Alarms("pump2")[0]["asset"], "pump2");
  EXPECT_EQ(Alarms("pump2")[0]["state"], "raised");
}

TEST_F(AlarmEndToEnd, AFaultShorterThanRaiseAfterRaisesNothing) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(rig_.sub().WaitFor("\"state\":\"online\"", seconds(20)));
  std::this_thread::sleep_for(milliseconds(600));
  for (int i = 0; i < 3; ++i) {
    SetPressure(0.9f);  // one poll's worth: at most two anomalous windows of the three needed
    std::this_thread::sleep_for(milliseconds(100));
    SetPressure(0.1f);
    std::this_thread::sleep_for(milliseconds(700));
  }
  EXPECT_TRUE(Alarms().empty()) << rig_.sub().Received();
  EXPECT_EQ(agent->Stderr().find("alarm raised"), std::string::npos) << agent->Stderr();
}

TEST_F(AlarmEndToEnd, SigkillLosesNoCommittedAlarmAndSeqKeepsIncreasing) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(rig_.sub().WaitFor("\"state\":\"online\"", seconds(20)));
  std::this_thread::sleep_for(milliseconds(600));
  SetPressure(0.9f);
  ASSERT_TRUE(WaitForAlarms(1, seconds(10))) << agent->Stderr();
  const uint64_t first_seq = Alarms()[0]["seq"].get<uint64_t>();
  agent->Signal(SIGKILL);
  agent->Wait(seconds(10));
  // The kernel closed the killed agent's connection, so the broker publishes its Last Will: the
  // retained offline status.
  ASSERT_TRUE(rig_.sub().WaitFor("\"state\":\"offline\"", seconds(20))) << rig_.sub().Received();
  const std::string received = rig_.sub().Received();

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
  ExpectValidJson("status.schema.json",
                  {json::parse(received.substr(start, received.find('\n', will) - start))},
                  rig_.dir());
  SetPressure(0.1f);
  // The killed agent may not have recorded the broker's acknowledgement of the raised alarm; then
  // it sends that alarm again, with the same seq, which subscribers drop.
  ASSERT_TRUE(Eventually([&] { return UniqueBySeq(Alarms()).size() >= 2; }, seconds(10)))
      << rig_.sub().Received() << agent->Stderr();
  const std::vector<json> alarms = UniqueBySeq(Alarms());
  ASSERT_EQ(alarms.size(), 2u) << rig_.sub().Received();
  EXPECT_EQ(alarms[0]["state"], "raised");
  EXPECT_EQ(alarms[1]["state"], "cleared");
  EXPECT_GT(alarms[1]["seq"].get<uint64_t>(), first_seq);
  for (const json& a : Alarms()) {
    EXPECT_TRUE(a["seq"] == alarms[0]["seq"] || a["seq"] == alarms[1]["seq"]) << a.dump();
  }
}

// The alarm is committed to the outbox, then alarm_state.json is rewritten: a kill between the two
// must neither lose the alarm nor raise it a second time after the restart.
TEST_F(AlarmEndToEnd, KilledBetweenQueueingAnAlarmAndSavingItsStateItIsRaisedOnce) {
  std::unique_ptr<Subprocess> agent = StartAgent({{"EDGE_TEST_CRASH_AT", "alarm-queued"}});
  ASSERT_TRUE(rig_.sub().WaitFor("\"state\":\"online\"", seconds(20)));
  std::this_thread::sleep_for(milliseconds(600));
  SetPressure(0.9f);
  ASSERT_EQ(agent->Wait(seconds(10)), 128 + SIGKILL) << agent->Stderr();

  agent = StartAgent();
  EXPECT_TRUE(agent->WaitForOutput("stays raised", seconds(5))) << agent->Stderr();
  ASSERT_TRUE(WaitForAlarms(1, seconds(10))) << agent->Stderr();  // delivered from the outbox
  SetPressure(0.1f);
  ASSERT_TRUE(Eventually([&] { return UniqueBySeq(Alarms()).size() >= 2; }, seconds(10)))
      << rig_.sub().Received() << agent->Stderr();
  std::this_thread::sleep_for(milliseconds(300));
  const std::vector<json> alarms = UniqueBySeq(Alarms());
  ASSERT_EQ(alarms.size(), 2u) << rig_.sub().Received();
  EXPECT_EQ(alarms[0]["state"], "raised");
  EXPECT_EQ(alarms[1]["state"], "cleared");
  EXPECT_EQ(agent->Stderr().find("alarm raised"), std::string::npos) << agent->Stderr();
}

TEST_F(AlarmEndToEnd, SilentPlcStopsScoringShowsTheDataStateAndRaisesNothing) {
  std::unique_ptr<Subprocess> agent = StartAgent();
  ASSERT_TRUE(rig_.sub().WaitFor("\"state\":\"online\"", seconds(20)));
  ASSERT_TRUE(agent->WaitForOutput("data ok", seconds(10))) << agent->Stderr();
  rig_.plc().Pause();  // the PLC stops answering: timeouts, bad-quality samples
  EXPECT_TRUE(agent->WaitForOutput("data bad (pump1.pressure)", seconds(10))) << agent->Stderr();
  std::this_thread::sleep_for(seconds(2));
  rig_.plc().Resume();
  EXPECT_TRUE(Alarms().empty()) << rig_.sub().Received();
}

}  // namespace
}  // namespace edge::testing
