// RateLimitedLog: logs runtime faults that can repeat quickly (a PLC timing out every 100 ms, a
// broker refusing every reconnect) at a bounded rate, per key, so they cannot flood the journal.
//
// Per key: at most `burst` messages in each `interval`; further messages in that interval are
// only counted. The first message let through after that carries the count:
//   "press-plc: read timeout (suppressed 37 similar messages)".
// Flush() writes the pending counts of keys that went quiet (call it when a fault clears or at
// shutdown, so the tally is never lost).
//
// Keys name a fault source, e.g. "press-plc/timeout": pick them from a small fixed set (device x
// fault kind), never from data values; each new key costs one allocation and stays in the map.
// Formatting uses a stack buffer: an emitted message allocates only if it exceeds 500 bytes, a
// suppressed one does not format at all.
//
// Thread-safety: all methods are safe from any thread; one instance can serve all threads of a
// driver. The counts are guarded by one mutex (mu_); logging happens outside it, so a slow sink
// never holds up another thread's count.
#pragma once

#include <fmt/format.h>
#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/clock.h"
#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace edge {

class RateLimitedLog {
 public:
  // REQUIRES: logger != nullptr, burst > 0, interval > 0. `clock` must outlive this object.
  RateLimitedLog(std::shared_ptr<spdlog::logger> logger, uint32_t burst,
                 std::chrono::steady_clock::duration interval,
                 const Clock& clock = SystemClockInstance());

  RateLimitedLog(const RateLimitedLog&) = delete;
  RateLimitedLog& operator=(const RateLimitedLog&) = delete;

  template <typename... Args>
  void Log(spdlog::level::level_enum level, std::string_view key,
           fmt::format_string<Args...> format, Args&&... args) {
    if (!logger_->should_log(level)) return;
    const Admission admission = Admit(key, level);
    if (!admission.emit) return;
    fmt::memory_buffer buf;
    fmt::format_to(std::back_inserter(buf), format, std::forward<Args>(args)...);
    if (admission.suppressed > 0) {
      fmt::format_to(std::back_inserter(buf), " (suppressed {} similar messages)",
                     admission.suppressed);
    }
    logger_->log(level, spdlog::string_view_t(buf.data(), buf.size()));
  }

  template <typename... Args>
  void Warn(std::string_view key, fmt::format_string<Args...> format, Args&&... args) {
    Log(spdlog::level::warn, key, format, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void Error(std::string_view key, fmt::format_string<Args...> format, Args&&... args) {
    Log(spdlog::level::err, key, format, std::forward<Args>(args)...);
  }

  // For every key with suppressed messages not yet reported, logs
  // "<key>: suppressed K similar messages" at the level of the last one and resets the count.
  void Flush() EXCLUDES(mu_);

  // Messages suppressed and not yet reported, for `key` (0 for an unknown key).
  uint64_t pending_suppressed(std::string_view key) const EXCLUDES(mu_);

 private:
  struct Admission {
    bool emit = false;
    uint64_t suppressed = 0;  // to report with this message
  };
  struct KeyState {
    std::chrono::steady_clock::time_point window_start;
    uint32_t emitted_in_window = 0;
    uint64_t suppressed = 0;
    spdlog::level::level_enum last_level = spdlog::level::info;
  };
  // Heterogeneous lookup: find(std::string_view) without building a std::string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Admission Admit(std::string_view key, spdlog::level::level_enum level) EXCLUDES(mu_);

  const std::shared_ptr<spdlog::logger> logger_;
  const uint32_t burst_;
  const std::chrono::steady_clock::duration interval_;
  const Clock& clock_;

  mutable Mutex mu_;
  std::unordered_map<std::string, KeyState, KeyHash, std::equal_to<>> keys_ GUARDED_BY(mu_);
};

}  // namespace edge
