#include "agent/alarm_engine.h"

#include <algorithm>
#include <cmath>

#include "core/status.h"

namespace edge::agent {

std::string_view AlarmStateName(AlarmState state) {
  return state == AlarmState::kRaised ? "raised" : "cleared";
}

AlarmEngine::AlarmEngine(const AlarmSettings& settings, AlarmState initial, double initial_peak)
    : settings_(settings), state_(initial), episode_peak_(initial_peak) {
  EDGE_CHECK(settings.raise_after >= 1 && settings.clear_after >= 1);
}

std::optional<AlarmTransition> AlarmEngine::OnScore(double score, Timestamp window_end) {
  if (!std::isfinite(score)) {
    OnUnscorable();
    return std::nullopt;
  }
  ++counters_.windows_scored;
  const bool anomalous = score > settings_.threshold;
  if (anomalous) ++counters_.windows_anomalous;

  if (state_ == AlarmState::kNormal) {
    if (!anomalous) {
      anomalous_run_ = 0;
      return std::nullopt;
    }
    run_peak_ = anomalous_run_ == 0 ? score : std::max(run_peak_, score);
    if (++anomalous_run_ < settings_.raise_after) return std::nullopt;
    state_ = AlarmState::kRaised;
    anomalous_run_ = 0;
    normal_run_ = 0;
    episode_peak_ = run_peak_;
    ++counters_.raised;
    return AlarmTransition{AlarmState::kRaised, score, episode_peak_, window_end};
  }

  episode_peak_ = std::max(episode_peak_, score);
  if (anomalous) {
    normal_run_ = 0;
    return std::nullopt;
  }
  if (++normal_run_ < settings_.clear_after) return std::nullopt;
  state_ = AlarmState::kNormal;
  normal_run_ = 0;
  ++counters_.cleared;
  return AlarmTransition{AlarmState::kNormal, score, episode_peak_, window_end};
}

void AlarmEngine::OnUnscorable() {
  ++counters_.windows_unscorable;
  anomalous_run_ = 0;
  normal_run_ = 0;
}

}  // namespace edge::agent
