// ScoringStage driven round by round on a FakeClock, with a real model package (made by PyTorch
// and `edge-agent model pack`) and a real SQLite store: no thread, no sleep, every time exact.
#include "agent/scoring_stage.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/time_format.h"
#include "tests/agent/test_packages.h"
#include "tests/support/test_files.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr auto kStep = milliseconds(100);  // the package's step

// Two packages of the model "pump", input "pressure", window 4, threshold 0.5, made once per
// build tree: 1.0.0 scores the window's last value, 1.1.0 its logarithm (NaN below zero).
struct Packages {
  fs::path root;
  std::string error;
};
Packages* packages = nullptr;

class ScoringStageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packages = new Packages;
    packages->root = fs::path(EDGE_TEST_CACHE_DIR) / "scoring-stage-packages";
    packages->error = testing::MakeTestPackagesOnce(
        packages->root,
        {{"1.0.0", "1.0.0", "last", "key.pem"}, {"1.1.0", "1.1.0", "log", "key.pem"}});
  }
  static void TearDownTestSuite() {
    delete packages;
    packages = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(packages->error, "");
    config_.gateway.id = "gw";
    config_.gateway.data_dir = dir_.path().string();
    config_.upstream.emplace();
    config_.upstream->topic_prefix = "plant";
    config::Deployment d;
    d.asset = "pump1";
    d.package = (packages->root / "1.0.0").string();
    d.inputs = {{"pressure", "p1.pressure"}};
    d.alarm.raise_after = 2;
    d.alarm.clear_after = 2;
    config_.models.deployments.push_back(d);
    tag_ = tags_.Intern("p1.pressure");
    StatusOr<std::unique_ptr<storage::Storage>> opened =
        storage::Storage::Open(config_.gateway.data_dir, config_.storage);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    storage_ = std::move(*opened);
  }

  std::unique_ptr<ScoringStage> MakeStage() {
    ScoringStageOptions options;
    options.clock = &clock_;
    options.on_alarm_queued = [this] { ++alarms_queued_; };
    options.on_models_changed = [this] { ++models_changed_; };
    auto stage = std::make_unique<ScoringStage>(config_, tags_, *storage_, std::move(options));
    const Status s = stage->Init(nullptr);
    EXPECT_TRUE(s.ok()) << s.message();
    return stage;
  }

  // `steps` rounds, one reading of `value` per step, the clock a step further each time.
  void Feed(ScoringStage& stage, double value, int steps) {
    for (int i = 0; i < steps; ++i) {
      stage.Round({Sample{tag_, clock_.Now(), value, Quality::kGood}});
      clock_.Advance(kStep);
    }
  }

  static DeploymentSnapshot Deployment(const ScoringStage& stage) {
    std::vector<DeploymentSnapshot> out;
    stage.AppendDeployments(out);
    EXPECT_EQ(out.size(), 1u);
    return out.empty() ? DeploymentSnapshot{} : out[0];
  }

  std::vector<nlohmann::json> QueuedAlarms() {
    StatusOr<std::vector<storage::OutboxMessage>> history = storage_->outbox().AlarmHistory(100);
    EXPECT_TRUE(history.ok());
    std::vector<nlohmann::json> alarms;
    for (const storage::OutboxMessage& m : *history) {
      alarms.push_back(nlohmann::json::parse(m.payload));
    }
    return alarms;
  }

  edge::testing::ScratchDir dir_;
  FakeClock clock_;
  config::AgentConfig config_;
  TagRegistry tags_;
  TagId tag_ = 0;
  std::unique_ptr<storage::Storage> storage_;
  int alarms_queued_ = 0;
  int models_changed_ = 0;
};

TEST_F(ScoringStageTest, RaisesAndClearsOnTheClocksTime) {
  const Timestamp start = clock_.Now();
  auto stage = MakeStage();
  EXPECT_EQ(Deployment(*stage).state, "warming_up");

  Feed(*stage, 0.9, 8);  // above the manifest's threshold of 0.5
  DeploymentSnapshot d = Deployment(*stage);
  EXPECT_EQ(d.state, "ok");
  EXPECT_EQ(d.model_version, "1.0.0");
  EXPECT_EQ(d.alarm, AlarmState::kRaised);
  EXPECT_NEAR(d.last_score, 0.9, 1e-6);
  EXPECT_EQ(alarms_queued_, 1);

  Feed(*stage, 0.1, 8);
  d = Deployment(*stage);
  EXPECT_EQ(d.alarm, AlarmState::kNormal);
  EXPECT_EQ(d.alarms_raised, 1u);
  EXPECT_EQ(d.alarms_cleared, 1u);
  EXPECT_EQ(d.windows_scored, d.windows_assembled);
  EXPECT_EQ(alarms_queued_, 2);

  const std::vector<nlohmann::json> alarms = QueuedAlarms();
  ASSERT_EQ(alarms.size(), 2u);
  EXPECT_EQ(alarms[0]["state"], "raised");
  EXPECT_EQ(alarms[0]["asset"], "pump1");
  EXPECT_EQ(alarms[0]["model_version"], "1.0.0");
  EXPECT_EQ(alarms[1]["state"], "cleared");
  // Every time in the messages is the fake clock's: the raise came within the first 8 steps.
  const Timestamp raised_at = *ParseRfc3339(alarms[0]["ts"].get<std::string>());
  EXPECT_GE(raised_at, start);
  EXPECT_LT(raised_at, start + 8 * kStep);
  // Four steps of 100 ms from 2026-01-01T00:00:00Z, the second window above the threshold.
  EXPECT_EQ(alarms[0]["window_end"], "2026-01-01T00:00:00.400Z");

  const nlohmann::json state =
      nlohmann::json::parse(edge::testing::ReadFile(dir_.path() / "alarm_state.json"));
  EXPECT_EQ(state["pump1"]["state"], "cleared");
}

TEST_F(ScoringStageTest, SilentInputsGoStaleAndAreNotScored) {
  auto stage = MakeStage();
  Feed(*stage, 0.1, 8);
  const uint64_t scored = Deployment(*stage).windows_scored;
  EXPECT_GT(scored, 0u);
  for (int i = 0; i < 10; ++i) {  // silence, past max_input_age (three steps)
    clock_.Advance(kStep);
    stage->Round({});
  }
  const DeploymentSnapshot d = Deployment(*stage);
  EXPECT_EQ(d.state, "stale");
  EXPECT_EQ(d.state_input, "p1.pressure");
  EXPECT_GT(d.windows_unscorable, 0u);
  EXPECT_LE(d.windows_scored, scored + 3);  // the last value carries for max_input_age only
  EXPECT_EQ(d.alarm, AlarmState::kNormal);
  EXPECT_EQ(alarms_queued_, 0);
}

TEST_F(ScoringStageTest, ARaisedAlarmStaysRaisedAcrossARestart) {
  config_.upstream.reset();  // no outbox history: the state file alone carries it
  {
    auto stage = MakeStage();
    Feed(*stage, 0.9, 8);
    ASSERT_EQ(Deployment(*stage).alarm, AlarmState::kRaised);
  }
  EXPECT_TRUE(QueuedAlarms().empty());
  auto stage = MakeStage();
  stage->Round({});
  EXPECT_EQ(Deployment(*stage).alarm, AlarmState::kRaised);
  Feed(*stage, 0.9, 8);
  EXPECT_EQ(Deployment(*stage).alarms_raised, 0u);  // not raised a second time
}

TEST_F(ScoringStageTest, ADamagedAlarmStateFileDoesNotStopTheStart) {
  dir_.Write("alarm_state.json", R"({"pump1": {"state": "raised", "peak_score": "high"}})");
  auto stage = MakeStage();
  stage->Round({});
  EXPECT_EQ(Deployment(*stage).alarm, AlarmState::kNormal);
  EXPECT_FALSE(fs::exists(dir_.path() / "alarm_state.json"));
}

TEST_F(ScoringStageTest, SwapsInAnInstalledModelBetweenRounds) {
  config_.models.deployments[0].package.clear();
  config_.models.deployments[0].model = "pump";
  auto stage = MakeStage();
  EXPECT_EQ(Deployment(*stage).state, "no_model");
  EXPECT_EQ(ScoringStage::RepositoryModels(config_), (std::map<std::string, int>{{"pump", 1}}));

  inference::PackageOptions one_row;
  one_row.max_batch = 1;
  StatusOr<inference::ModelPackage> package =
      inference::LoadModelPackage(packages->root / "1.0.0", one_row);
  ASSERT_TRUE(package.ok()) << package.status().message();
  EXPECT_TRUE(stage->CheckFits("pump", package->manifest).ok());
  inference::Manifest other = package->manifest;
  other.features = {"flow"};
  EXPECT_FALSE(stage->CheckFits("pump", other).ok());

  stage->QueueInstall("pump", LoadedModel{std::move(*package), std::nullopt});
  EXPECT_EQ(models_changed_, 0);
  Feed(*stage, 0.9, 8);
  EXPECT_EQ(models_changed_, 1);
  const DeploymentSnapshot d = Deployment(*stage);
  EXPECT_EQ(d.model_version, "1.0.0");
  EXPECT_EQ(d.alarm, AlarmState::kRaised);
  const std::vector<ActiveModel> active = stage->ActiveModels();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].version, "1.0.0");
}

TEST_F(ScoringStageTest, ANonFiniteScoreNeitherRaisesNorClears) {
  config_.models.deployments[0].package = (packages->root / "1.1.0").string();  // log(value)
  auto stage = MakeStage();
  Feed(*stage, -1.0, 8);  // log(-1): NaN
  const DeploymentSnapshot d = Deployment(*stage);
  EXPECT_GT(d.windows_assembled, 0u);
  EXPECT_EQ(d.windows_scored, 0u);
  EXPECT_EQ(d.alarm, AlarmState::kNormal);
  EXPECT_EQ(d.state, "ok");  // a local package has no probation: it goes on
  EXPECT_EQ(alarms_queued_, 0);
}

}  // namespace
}  // namespace edge::agent
