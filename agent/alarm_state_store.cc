#include "agent/alarm_state_store.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/file_util.h"
#include "core/logging.h"
#include "core/state_file.h"

namespace edge::agent {
namespace {

constexpr size_t kMaxFileBytes = size_t{1} << 20;

// "raised" or "cleared" (AlarmStateName); anything else is not a state.
StatusOr<AlarmState> ParseAlarmStateName(const nlohmann::json& value) {
  if (!value.is_string()) return Status::InvalidArgument("\"state\" is not a string");
  const std::string& name = value.get_ref<const std::string&>();
  if (name == AlarmStateName(AlarmState::kRaised)) return AlarmState::kRaised;
  if (name == AlarmStateName(AlarmState::kNormal)) return AlarmState::kNormal;
  return Status::InvalidArgument(
      fmt::format("\"state\" \"{}\" is neither raised nor cleared", name));
}

// {"state": "raised"|"cleared", "peak_score": <number>}; peak_score may be absent (0).
StatusOr<SavedAlarm> ParseEntry(const nlohmann::json& entry) {
  if (!entry.is_object()) return Status::InvalidArgument("not an object");
  if (!entry.contains("state")) return Status::InvalidArgument("no \"state\"");
  SavedAlarm saved;
  EDGE_ASSIGN_OR_RETURN(saved.state, ParseAlarmStateName(entry["state"]));
  if (entry.contains("peak_score")) {
    if (!entry["peak_score"].is_number()) {
      return Status::InvalidArgument("\"peak_score\" is not a number");
    }
    saved.peak_score = entry["peak_score"].get<double>();
  }
  return saved;
}

}  // namespace

StatusOr<SavedAlarms> ParseAlarmStateFile(std::string_view text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object()) return Status::InvalidArgument("not a JSON object");
  SavedAlarms saved;
  for (const auto& [asset, entry] : doc.items()) {
    StatusOr<SavedAlarm> parsed = ParseEntry(entry);
    if (!parsed.ok()) {
      return Status::InvalidArgument(fmt::format("\"{}\": {}", asset, parsed.status().message()));
    }
    saved[asset] = *parsed;
  }
  return saved;
}

void ApplyAlarmHistory(const std::vector<storage::OutboxMessage>& history, SavedAlarms& saved) {
  for (const storage::OutboxMessage& m : history) {
    const nlohmann::json alarm = nlohmann::json::parse(m.payload, nullptr, false);
    if (!alarm.is_object() || !alarm.contains("asset") || !alarm["asset"].is_string()) continue;
    StatusOr<SavedAlarm> parsed = ParseEntry(alarm);
    if (!parsed.ok()) continue;
    saved[alarm["asset"].get<std::string>()] = *parsed;
  }
}

AlarmStateStore::AlarmStateStore(const std::filesystem::path& data_dir)
    : path_(data_dir / "alarm_state.json") {}

SavedAlarms AlarmStateStore::Load(storage::Outbox& outbox) const {
  SavedAlarms saved;
  ReadStateFile(path_, kMaxFileBytes, [&saved](std::string_view text) {
    EDGE_ASSIGN_OR_RETURN(saved, ParseAlarmStateFile(text));
    return Status::Ok();
  });
  StatusOr<std::vector<storage::OutboxMessage>> history =
      outbox.AlarmHistory(outbox.history_rows());
  if (!history.ok()) {
    GetLogger("pipeline")
        ->error("alarm history: {}; alarm states come from {} only", history.status().message(),
                path_.string());
    return saved;
  }
  ApplyAlarmHistory(*history, saved);
  return saved;
}

Status AlarmStateStore::Save(const SavedAlarms& states) const {
  nlohmann::json doc = nlohmann::json::object();
  for (const auto& [asset, saved] : states) {
    doc[asset] = {{"state", AlarmStateName(saved.state)}, {"peak_score", saved.peak_score}};
  }
  return WriteFileDurably(path_, doc.dump() + "\n");
}

}  // namespace edge::agent
