#include "core/rate_limited_log.h"

#include <vector>

#include "core/status.h"

namespace edge {

RateLimitedLog::RateLimitedLog(std::shared_ptr<spdlog::logger> logger, uint32_t burst,
                               std::chrono::steady_clock::duration interval, const Clock& clock)
    : logger_(std::move(logger)), burst_(burst), interval_(interval), clock_(clock) {
  EDGE_CHECK(logger_ != nullptr);
  EDGE_CHECK(burst_ > 0);
  EDGE_CHECK(interval_ > std::chrono::steady_clock::duration::zero());
}

RateLimitedLog::Admission RateLimitedLog::Admit(std::string_view key,
                                                spdlog::level::level_enum level) {
  const auto now = clock_.SteadyNow();
  MutexLock lock(&mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) {
    it = keys_.emplace(std::string(key), KeyState{now, 0, 0, level}).first;
  } else if (now - it->second.window_start >= interval_) {
    it->second.window_start = now;  // a new window: the budget is full again
    it->second.emitted_in_window = 0;
  }
  KeyState& state = it->second;
  state.last_level = level;
  if (state.emitted_in_window >= burst_) {
    ++state.suppressed;
    return {};
  }
  ++state.emitted_in_window;
  Admission admission{true, state.suppressed};
  state.suppressed = 0;
  return admission;
}

void RateLimitedLog::Flush() {
  struct Pending {
    std::string key;
    uint64_t suppressed;
    spdlog::level::level_enum level;
  };
  std::vector<Pending> pending;
  {
    MutexLock lock(&mu_);
    for (auto& [key, state] : keys_) {
      if (state.suppressed == 0) continue;
      pending.push_back({key, state.suppressed, state.last_level});
      state.suppressed = 0;
    }
  }
  for (const Pending& p : pending) {
    logger_->log(p.level, "{}: suppressed {} similar messages", p.key, p.suppressed);
  }
}

uint64_t RateLimitedLog::pending_suppressed(std::string_view key) const {
  MutexLock lock(&mu_);
  auto it = keys_.find(key);
  return it == keys_.end() ? 0 : it->second.suppressed;
}

}  // namespace edge
