#include "agent/messages.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/time_format.h"

namespace edge::agent {
namespace {

// ordered_json keeps the documented field order, which is what people read in mosquitto_sub.
using json = nlohmann::ordered_json;

std::string_view ModelResultName(ModelResult result) {
  switch (result) {
    case ModelResult::kInstalled:
      return "installed";
    case ModelResult::kRefused:
      return "refused";
    case ModelResult::kRolledBack:
      return "rolled_back";
    case ModelResult::kFailed:
      return "failed";
    case ModelResult::kUnconfirmed:
      return "unconfirmed";
  }
  return "refused";
}

}  // namespace

std::string AlarmTopic(std::string_view prefix, std::string_view gateway, std::string_view asset) {
  return fmt::format("{}/{}/alarms/{}", prefix, gateway, asset);
}

std::string StatusTopic(std::string_view prefix, std::string_view gateway) {
  return fmt::format("{}/{}/status", prefix, gateway);
}

std::string ModelStatusTopic(std::string_view prefix, std::string_view gateway) {
  return fmt::format("{}/{}/models/status", prefix, gateway);
}

std::string ModelNotifyTopic(std::string_view prefix, std::string_view gateway) {
  return fmt::format("{}/{}/models/notify", prefix, gateway);
}

std::string AlarmPayload(const AlarmMessage& m) {
  const json j = {{"gateway", m.gateway},
                  {"asset", m.asset},
                  {"model", m.model},
                  {"model_version", m.model_version},
                  {"state", AlarmStateName(m.state)},
                  {"score", m.score},
                  {"peak_score", m.peak_score},
                  {"threshold", m.threshold},
                  {"ts", FormatRfc3339Millis(m.ts)},
                  {"window_end", FormatRfc3339Millis(m.window_end)},
                  {"seq", m.seq}};
  return j.dump();
}

std::string OnlinePayload(const StatusMessage& m) {
  json models = json::array();
  for (const ActiveModel& model : m.models) {
    models.push_back({{"asset", model.asset}, {"model", model.model}, {"version", model.version}});
  }
  const json j = {{"state", "online"},
                  {"gateway", m.gateway},
                  {"agent_version", m.agent_version},
                  {"started", FormatRfc3339Millis(m.started)},
                  {"ts", FormatRfc3339Millis(m.ts)},
                  {"models", std::move(models)}};
  return j.dump();
}

std::string OfflinePayload(std::string_view gateway) {
  return json{{"state", "offline"}, {"gateway", gateway}}.dump();
}

std::string ModelStatusPayload(const ModelStatusMessage& m) {
  const json j = {{"model", m.model},
                  {"version", m.version},
                  {"result", ModelResultName(m.result)},
                  {"reason", m.reason},
                  {"ts", FormatRfc3339Millis(m.ts)}};
  return j.dump();
}

}  // namespace edge::agent
