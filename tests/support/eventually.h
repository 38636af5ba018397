// The one wait-until helper of the tests: poll a condition until it holds or a deadline passes.
// Tests against real peers (a broker, plc-sim, the agent binary) see effects arrive at their own
// pace, so every check of "this happens" is a bounded wait rather than a fixed sleep.
//
// Thread-safety: no shared state; `predicate` runs on the calling thread.
#pragma once

#include <chrono>
#include <thread>

namespace edge::testing {

// Polls `predicate` every `every` until it holds or `timeout` passes; returns its last value
// (it is asked once more at the deadline, so a condition met during the last sleep counts).
template <typename Predicate>
bool Eventually(Predicate predicate, std::chrono::steady_clock::duration timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() >= deadline) return predicate();
    std::this_thread::sleep_for(every);
  }
  return true;
}

}  // namespace edge::testing
