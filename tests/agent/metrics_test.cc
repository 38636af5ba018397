// /metrics and /health rendering: the text checked by a real Prometheus parser
// (tests/support/check_metrics.py, python3-prometheus-client) plus strict checks of our own.
#include "agent/metrics.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = EDGE_SOURCE_DIR;

PipelineSnapshot Sample() {
  PipelineSnapshot snap;
  snap.ingest_depth = 3;
  snap.storage_dropped = 2;
  snap.outbox_pending = 4;
  snap.published = 17;
  snap.upstream_configured = true;
  snap.upstream_connected = true;
  snap.writer.samples_committed = 123456789;
  snap.writer.commits = 42;
  snap.writer.live_bytes = 1 << 20;
  drivers::ModbusDeviceStats plc;
  plc.device = "press \"A\"\\line\n3";  // every character the format escapes
  plc.connected = true;
  plc.polls = 100;
  plc.timeouts = 1;
  plc.last_latency = std::chrono::microseconds(1500);
  snap.modbus.push_back(plc);
  DeploymentSnapshot d;
  d.asset = "pump1";
  d.model = "pump-anomaly";
  d.model_version = "1.4.0";
  d.state = "ok";
  d.last_score = 0.25;
  d.windows_scored = 7;
  d.windows_assembled = 8;
  d.inference.Add(0.0002);
  d.inference.Add(0.0002);
  d.inference.Add(3.0);  // beyond the last bound: +Inf
  snap.deployments.push_back(d);
  ModelSyncStats m;
  m.model = "pump-anomaly";
  m.installed_version = "1.4.0";
  m.checks = 5;
  m.installed = 1;
  snap.models.push_back(m);
  return snap;
}

// The parsed samples, one "name{k=v,...} value" line each, or the checker's complaint.
edge::testing::CommandResult Check(const std::string& text) {
  edge::testing::ScratchDir dir;
  const fs::path file = dir.Write("metrics.txt", text);
  return edge::testing::RunCommand(
      {.argv = {EDGE_TEST_PYTHON, (kSourceDir / "tests/support/check_metrics.py").string(),
                file.string()}});
}

TEST(Metrics, TextIsValidPrometheusWithTheSnapshotsValues) {
  const edge::testing::CommandResult r = Check(PrometheusText(Sample(), "0.1.0"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* line : {
           "edge_agent_info{version=0.1.0} 1",
           "edge_modbus_polls_total{device=press \"A\"\\line\n3} 100",
           "edge_modbus_last_latency_seconds{device=press \"A\"\\line\n3} 0.0015",
           "edge_queue_depth{queue=ingest} 3",
           "edge_queue_dropped_total{queue=storage} 2",
           "edge_storage_samples_committed_total{} 1.23457e+08",
           "edge_outbox_pending{} 4",
           "edge_outbox_published_total{} 17",
           "edge_outbox_damaged_rows{} 0",
           "edge_state_files_damaged_total{} 0",
           "edge_upstream_connected{} 1",
           "edge_deployment_model_info{asset=pump1,model=pump-anomaly,version=1.4.0} 1",
           "edge_deployment_state{asset=pump1,state=ok} 1",
           "edge_deployment_score{asset=pump1} 0.25",
           "edge_deployment_windows_scored_total{asset=pump1} 7",
           "edge_deployment_windows_assembled_total{asset=pump1} 8",
           "edge_inference_seconds_bucket{asset=pump1,le=0.00025} 2",
           "edge_inference_seconds_bucket{asset=pump1,le=0.5} 2",
           "edge_inference_seconds_bucket{asset=pump1,le=+Inf} 3",
           "edge_inference_seconds_count{asset=pump1} 3",
           "edge_model_installed_info{model=pump-anomaly,version=1.4.0} 1",
           "edge_model_sync_checks_total{model=pump-anomaly} 5",
       }) {
    EXPECT_NE(r.out.find(std::string(line) + "\n"), std::string::npos) << line << "\n" << r.out;
  }
}

TEST(Metrics, TheCheckerRefusesWhatPrometheusWouldNot) {
  // So that the test above cannot pass on a checker that accepts anything.
  EXPECT_NE(Check("edge_x 1\n").exit_code, 0);  // no HELP/TYPE
  EXPECT_NE(Check("# HELP a b\n# TYPE a gauge\na{x=\"1} 2\n").exit_code, 0);
  EXPECT_NE(Check("# HELP a b\n# TYPE a gauge\na 1\na 2\n").exit_code, 0);  // repeated
}

TEST(Health, OkWithWarningsForDevicesAndDeployments) {
  PipelineSnapshot snap = Sample();
  snap.modbus[0].connected = false;
  snap.deployments[0].state = "stale";
  snap.deployments[0].state_input = "pump1.pressure";
  const Health h = AssessHealth(snap, "");
  EXPECT_TRUE(h.ok());
  ASSERT_EQ(h.warnings.size(), 2u);
  EXPECT_NE(h.warnings[1].find("deployment pump1 is not scoring: stale (pump1.pressure)"),
            std::string::npos);
  const nlohmann::json doc = nlohmann::json::parse(HealthJson(h));
  EXPECT_EQ(doc["status"], "ok");
  EXPECT_EQ(doc["warnings"].size(), 2u);
}

TEST(Health, AModelThatCannotBeConfirmedCurrentIsAWarningAndAGauge) {
  PipelineSnapshot snap = Sample();
  ASSERT_FALSE(snap.models.empty());
  EXPECT_NE(PrometheusText(snap, "0.1.0").find("edge_model_sync_unconfirmed{model=\"" +
                                               snap.models[0].model + "\"} 0\n"),
            std::string::npos);
  snap.models[0].unconfirmed = "cannot confirm the model is current: latest.json: expired at X";
  const Health h = AssessHealth(snap, "");
  EXPECT_TRUE(h.ok());
  ASSERT_EQ(h.warnings.size(), 1u);
  EXPECT_EQ(h.warnings[0], "model " + snap.models[0].model +
                               ": cannot confirm the model is current: latest.json: expired at X");
  EXPECT_NE(PrometheusText(snap, "0.1.0").find("edge_model_sync_unconfirmed{model=\"" +
                                               snap.models[0].model + "\"} 1\n"),
            std::string::npos);
}

TEST(Health, FailingWhenOutboxRowsCannotBePublished) {
  PipelineSnapshot snap = Sample();
  snap.outbox_damaged = 2;
  const Health h = AssessHealth(snap, "");
  EXPECT_FALSE(h.ok());
  ASSERT_EQ(h.problems.size(), 1u);
  EXPECT_NE(h.problems[0].find("2 outbox rows cannot be published"), std::string::npos);
  EXPECT_NE(PrometheusText(snap, "0.1.0").find("edge_outbox_damaged_rows 2\n"), std::string::npos);
}

TEST(Health, DamagedStateFilesAreAWarningAndACounter) {
  PipelineSnapshot snap = Sample();
  snap.state_files_damaged = 1;
  const Health h = AssessHealth(snap, "");
  EXPECT_TRUE(h.ok());  // the agent started without them
  ASSERT_EQ(h.warnings.size(), 1u);
  EXPECT_NE(h.warnings[0].find("1 damaged state files were moved aside"), std::string::npos);
  EXPECT_NE(PrometheusText(snap, "0.1.0").find("edge_state_files_damaged_total 1\n"),
            std::string::npos);
}

TEST(Health, FailingWhenStorageUpstreamOrAStageIsDown) {
  PipelineSnapshot snap = Sample();
  snap.storage_paused = true;
  snap.upstream_connected = false;
  const Health h = AssessHealth(snap, "the scoring stage");
  EXPECT_FALSE(h.ok());
  ASSERT_EQ(h.problems.size(), 3u);
  EXPECT_EQ(h.problems[0], "the scoring stage is stuck");
  EXPECT_NE(h.problems[2].find("4 messages wait in the outbox"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(HealthJson(h))["status"], "failing");
}

}  // namespace
}  // namespace edge::agent
