// Heartbeat: when a thread last went round its loop, for the watchdog (agent/daemon.cc) to ask
// whether it is stuck. Beat() is one relaxed atomic store of the steady clock; BeatFor(d) is for
// a thread about to block on purpose for up to d (a sleep, a request with a timeout): it counts
// as beating until then.
//
// Thread-safety: Beat from the owning thread, last() and Age() from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>

namespace edge {

class Heartbeat {
 public:
  using Clock = std::chrono::steady_clock;

  Heartbeat() { Beat(); }

  void Beat() { BeatFor(Clock::duration::zero()); }
  void BeatFor(Clock::duration d) {
    ticks_.store((Clock::now() + std::max(d, Clock::duration::zero())).time_since_epoch().count(),
                 std::memory_order_relaxed);
  }
  Clock::time_point last() const {
    return Clock::time_point(Clock::duration(ticks_.load(std::memory_order_relaxed)));
  }
  // Negative while a BeatFor lasts.
  Clock::duration Age() const { return Clock::now() - last(); }

 private:
  std::atomic<Clock::rep> ticks_{0};
};

}  // namespace edge
