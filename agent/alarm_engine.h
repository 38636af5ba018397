// Turns one deployment's stream of window scores into alarm transitions (DESIGN §3, §8).
//
// A window is anomalous when its score is strictly above the threshold (DESIGN §5). The alarm is
// raised after `raise_after` consecutive anomalous windows and cleared after `clear_after`
// consecutive normal ones (hysteresis), and each change of state gives exactly one Transition.
//
// A window that cannot be scored (stale, missing or bad-quality inputs, or a score that is not a
// finite number) breaks both runs: windows on either side of a data gap are not consecutive, so a
// gap can neither complete a raise nor a clear. The alarm state itself is kept across the gap: a
// raised alarm stays raised until enough good windows say otherwise, and no data is never "normal".
//
// The peak score of an episode is kept: from the first window of the run that raised the alarm to
// the window that cleared it.
//
// Thread-safety: none; one owner (the scoring stage) per engine.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "core/sample.h"

namespace edge::agent {

enum class AlarmState { kNormal, kRaised };

std::string_view AlarmStateName(AlarmState state);  // "cleared" for kNormal, "raised"

struct AlarmSettings {
  double threshold = 0.0;
  int raise_after = 3;   // REQUIRES: >= 1
  int clear_after = 10;  // REQUIRES: >= 1
};

struct AlarmTransition {
  AlarmState state = AlarmState::kNormal;  // the new state
  double score = 0.0;                      // the score of the window that completed the transition
  double peak_score = 0.0;                 // the highest score of the episode so far
  Timestamp window_end{};                  // end of that window
};

struct AlarmCounters {
  uint64_t windows_scored = 0;
  uint64_t windows_anomalous = 0;
  uint64_t windows_unscorable = 0;
  uint64_t raised = 0;
  uint64_t cleared = 0;
};

class AlarmEngine {
 public:
  // `initial` restores the state persisted before a restart, so that a restart neither forgets a
  // raised alarm (which would never be cleared) nor raises it a second time.
  explicit AlarmEngine(const AlarmSettings& settings, AlarmState initial = AlarmState::kNormal,
                       double initial_peak = 0.0);

  // One scored window. Returns the transition it completes, if any.
  std::optional<AlarmTransition> OnScore(double score, Timestamp window_end);

  // One window that could not be scored.
  void OnUnscorable();

  // A new model brought a new threshold; the state and the runs so far are kept.
  void SetThreshold(double threshold) { settings_.threshold = threshold; }

  AlarmState state() const { return state_; }
  const AlarmCounters& counters() const { return counters_; }
  const AlarmSettings& settings() const { return settings_; }
  // The highest score since the alarm was raised (for persisting a raised alarm's episode).
  double episode_peak() const { return episode_peak_; }

 private:
  AlarmSettings settings_;
  AlarmState state_;
  int anomalous_run_ = 0;
  int normal_run_ = 0;
  double run_peak_ = 0.0;      // peak of the current anomalous run (before a raise)
  double episode_peak_ = 0.0;  // peak since the alarm was raised
  AlarmCounters counters_;
};

}  // namespace edge::agent
