// The payloads alarm subscribers read, checked against the JSON Schemas in docs/schemas/ by an
// independent validator (python3-jsonschema), and the schemas checked to refuse what they must.
#include "agent/messages.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using edge::testing::CommandResult;
using edge::testing::RunCommand;
using edge::testing::ScratchDir;
using std::chrono::milliseconds;

const fs::path kSourceDir = EDGE_SOURCE_DIR;

Timestamp At(std::chrono::milliseconds ms) { return Timestamp{} + ms; }

// Writes each document to a file and validates them all; returns the validator's output, with
// the exit code checked against `expect_valid`.
std::string Validate(const std::string& schema, const std::vector<std::string>& documents,
                     bool expect_valid) {
  ScratchDir dir;
  std::vector<std::string> argv = {EDGE_TEST_PYTHON,
                                   (kSourceDir / "tests/support/validate_json.py").string(),
                                   (kSourceDir / "docs/schemas" / schema).string()};
  for (size_t i = 0; i < documents.size(); ++i) {
    const fs::path file = dir.path() / ("doc" + std::to_string(i) + ".json");
    std::ofstream(file) << documents[i];
    argv.push_back(file.string());
  }
  const CommandResult r = RunCommand({.argv = argv});
  EXPECT_EQ(r.exit_code, expect_valid ? 0 : 1) << r.out << r.err;
  return r.out;
}

AlarmMessage Raised() {
  return AlarmMessage{.gateway = "line3-pc1",
                      .asset = "pump1",
                      .model = "pump-anomaly",
                      .model_version = "1.4.0",
                      .state = AlarmState::kRaised,
                      .score = 0.73,
                      .peak_score = 0.91,
                      .threshold = 0.42,
                      .ts = At(milliseconds(1'795'000'000'123)),
                      .window_end = At(milliseconds(1'795'000'000'000)),
                      .seq = 17};
}

TEST(Messages, Topics) {
  EXPECT_EQ(AlarmTopic("plant1", "line3-pc1", "pump1"), "plant1/line3-pc1/alarms/pump1");
  EXPECT_EQ(StatusTopic("plant1", "line3-pc1"), "plant1/line3-pc1/status");
  EXPECT_EQ(ModelStatusTopic("plant1", "gw"), "plant1/gw/models/status");
  EXPECT_EQ(ModelNotifyTopic("plant1", "gw"), "plant1/gw/models/notify");
}

TEST(Messages, AlarmPayloadHasTheDocumentedFields) {
  const nlohmann::json j = nlohmann::json::parse(AlarmPayload(Raised()));
  EXPECT_EQ(j["gateway"], "line3-pc1");
  EXPECT_EQ(j["asset"], "pump1");
  EXPECT_EQ(j["model"], "pump-anomaly");
  EXPECT_EQ(j["model_version"], "1.4.0");
  EXPECT_EQ(j["state"], "raised");
  EXPECT_DOUBLE_EQ(j["score"].get<double>(), 0.73);
  EXPECT_DOUBLE_EQ(j["peak_score"].get<double>(), 0.91);
  EXPECT_DOUBLE_EQ(j["threshold"].get<double>(), 0.42);
  EXPECT_EQ(j["ts"], "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(j["window_end"], "2026-11-18T11:06:40.000Z");
  EXPECT_EQ(j["seq"], 17);
  AlarmMessage cleared = Raised();
  cleared.state = AlarmState::kNormal;
  EXPECT_EQ(nlohmann::json::parse(AlarmPayload(cleared))["state"], "cleared");
}

TEST(Messages, AlarmPayloadsValidateAgainstTheSchema) {
  AlarmMessage cleared = Raised();
  cleared.state = AlarmState::kNormal;
  cleared.seq = 18'000'000'000ull;  // beyond 32 bits
  Validate("alarm.schema.json", {AlarmPayload(Raised()), AlarmPayload(cleared)}, true);
}

TEST(Messages, AlarmSchemaRefusesWhatSubscribersCannotUse) {
  nlohmann::json good = nlohmann::json::parse(AlarmPayload(Raised()));
  nlohmann::json no_seq = good, bad_state = good, bad_ts = good, extra = good, zero_seq = good;
  no_seq.erase("seq");
  bad_state["state"] = "active";
  bad_ts["ts"] = "2026-11-19 08:26:40";
  extra["severity"] = "high";
  zero_seq["seq"] = 0;
  const std::string out = Validate(
      "alarm.schema.json",
      {no_seq.dump(), bad_state.dump(), bad_ts.dump(), extra.dump(), zero_seq.dump()}, false);
  // Every one of them, not just the first, is refused.
  size_t invalid = 0;
  for (size_t at = out.find("invalid"); at != std::string::npos; at = out.find("invalid", at + 1))
    ++invalid;
  EXPECT_EQ(invalid, 5u) << out;
}

TEST(Messages, StatusPayloadsValidate) {
  StatusMessage online{
      .gateway = "line3-pc1",
      .agent_version = "0.1.0",
      .started = At(milliseconds(1'795'000'000'000)),
      .ts = At(milliseconds(1'795'000'001'000)),
      .models = {{"pump1", "pump-anomaly", "1.4.0"}, {"pump2", "pump-anomaly", "1.4.0"}}};
  const nlohmann::json j = nlohmann::json::parse(OnlinePayload(online));
  EXPECT_EQ(j["state"], "online");
  EXPECT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][1]["asset"], "pump2");
  EXPECT_EQ(nlohmann::json::parse(OfflinePayload("line3-pc1")),
            (nlohmann::json{{"state", "offline"}, {"gateway", "line3-pc1"}}));
  online.models.clear();  // an agent with no deployments is still online
  Validate("status.schema.json",
           {OnlinePayload(online), OnlinePayload(online), OfflinePayload("line3-pc1")}, true);
  Validate("status.schema.json", {R"({"state":"offline"})", R"({"state":"online","gateway":"g"})"},
           false);
}

TEST(Messages, ModelStatusPayloadsValidate) {
  const ModelStatusMessage installed{.model = "pump-anomaly",
                                     .version = "1.5.0",
                                     .result = ModelResult::kInstalled,
                                     .reason = "",
                                     .ts = At(milliseconds(1'795'000'000'000))};
  ModelStatusMessage refused = installed;
  refused.result = ModelResult::kRefused;
  refused.reason = "signature does not verify with any trusted key";
  ModelStatusMessage rolled_back = refused;
  rolled_back.result = ModelResult::kRolledBack;
  EXPECT_EQ(nlohmann::json::parse(ModelStatusPayload(rolled_back))["result"], "rolled_back");
  ModelStatusMessage failed = refused;
  failed.result = ModelResult::kFailed;
  EXPECT_EQ(nlohmann::json::parse(ModelStatusPayload(failed))["result"], "failed");
  ModelStatusMessage unconfirmed = refused;
  unconfirmed.result = ModelResult::kUnconfirmed;
  EXPECT_EQ(nlohmann::json::parse(ModelStatusPayload(unconfirmed))["result"], "unconfirmed");
  Validate("model-status.schema.json",
           {ModelStatusPayload(installed), ModelStatusPayload(refused),
            ModelStatusPayload(rolled_back), ModelStatusPayload(failed),
            ModelStatusPayload(unconfirmed)},
           true);
  ModelStatusMessage refused_without_reason = refused;
  refused_without_reason.reason.clear();
  Validate("model-status.schema.json", {ModelStatusPayload(refused_without_reason)}, false);
}

}  // namespace
}  // namespace edge::agent
