// AlarmStateStore: the alarm state of every deployment across a restart, so that a restart
// neither forgets a raised alarm (it would never be cleared) nor raises it again.
//
// <data_dir>/alarm_state.json, {"<asset>": {"state": "raised", "peak_score": 0.93}, ...} ("state"
// is "raised" or "cleared"), is rewritten durably after each transition (transitions are rare),
// after the transition's message is in the outbox. At start the outbox's alarm history,
// committed in the same transaction as the message itself, overrides it: a transition queued
// just before a kill, before alarm_state.json was rewritten, must not be raised a second time.
// The file still holds the states of a gateway without upstream, and of assets whose last
// transition has left the history.
//
// The file is type-checked in full at start: a damaged one (not JSON, a field of the wrong type,
// an unknown state) is moved aside, logged and counted (core/state_file.h), and the states come
// from the alarm history alone. Alarm history rows of the wrong shape are skipped.
//
// Thread-safety: none; one owner (Pipeline::Create, then the scoring thread).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/alarm_engine.h"
#include "core/status.h"
#include "storage/outbox.h"

namespace edge::agent {

struct SavedAlarm {
  AlarmState state = AlarmState::kNormal;
  double peak_score = 0.0;  // the highest score of a raised alarm's episode
};

using SavedAlarms = std::map<std::string, SavedAlarm>;  // by asset

// The content of alarm_state.json, or why it is damaged.
[[nodiscard]] StatusOr<SavedAlarms> ParseAlarmStateFile(std::string_view text);

// Overrides `saved` with the last transition of each asset in `history` (oldest first), the
// outbox's alarm messages (DESIGN §8 payloads); rows that are not such a message are skipped.
void ApplyAlarmHistory(const std::vector<storage::OutboxMessage>& history, SavedAlarms& saved);

class AlarmStateStore {
 public:
  explicit AlarmStateStore(const std::filesystem::path& data_dir);

  const std::filesystem::path& path() const { return path_; }

  // The states as of the start: alarm_state.json overridden by `outbox`'s alarm history. Never
  // fails: what cannot be read is logged, and the rest is used.
  SavedAlarms Load(storage::Outbox& outbox) const;

  // Rewrites the file durably (core/file_util.h) with `states`.
  [[nodiscard]] Status Save(const SavedAlarms& states) const;

 private:
  std::filesystem::path path_;
};

}  // namespace edge::agent
