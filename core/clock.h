// Clock: where time comes from, so that pollers, the window assembler, retention and the rate
// limiter can be driven by a FakeClock in tests instead of real sleeps.
//
// Two time lines: Now() is the wall clock (UTC, may jump when NTP steps it) and stamps samples;
// SteadyNow() is monotonic and is what deadlines, poll cadences and timeouts are computed from.
// SleepUntil() sleeps to a steady deadline but returns at once when the StopSignal is raised,
// so a thread's loop reads:
//
//   auto next = clock.SteadyNow();
//   while (true) {
//     Poll();
//     next += interval;
//     if (clock.SleepUntil(next, stop)) break;  // stop requested
//   }
//
// Thread-safety: all methods of SystemClock and FakeClock are safe from any thread.
#pragma once

#include <chrono>
#include <cstddef>

#include "core/mutex.h"
#include "core/sample.h"
#include "core/stop_signal.h"
#include "core/thread_annotations.h"

namespace edge {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time, UTC, microseconds.
  virtual Timestamp Now() const = 0;
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;

  // Blocks until SteadyNow() >= deadline or `stop` is requested. Returns true if a stop was
  // requested (also when it already was on entry), false when the deadline was reached.
  virtual bool SleepUntil(std::chrono::steady_clock::time_point deadline,
                          const StopSignal& stop) const = 0;
};

// The real clocks: std::chrono::system_clock and steady_clock.
class SystemClock final : public Clock {
 public:
  Timestamp Now() const override;
  std::chrono::steady_clock::time_point SteadyNow() const override;
  bool SleepUntil(std::chrono::steady_clock::time_point deadline,
                  const StopSignal& stop) const override;
};

// The process-wide SystemClock, for code that is not handed a Clock.
Clock& SystemClockInstance();

// A clock for tests: time stands still until the test calls Advance(). Sleepers wake when
// Advance() carries the steady time to their deadline, or at once on stop.
class FakeClock final : public Clock {
 public:
  // Wall time starts at 2026-01-01T00:00:00Z, steady time at an arbitrary fixed point.
  FakeClock();
  explicit FakeClock(Timestamp wall_start);

  Timestamp Now() const override EXCLUDES(mu_);
  std::chrono::steady_clock::time_point SteadyNow() const override EXCLUDES(mu_);
  bool SleepUntil(std::chrono::steady_clock::time_point deadline,
                  const StopSignal& stop) const override EXCLUDES(mu_);

  // Moves wall and steady time forward by `d` and wakes the sleepers whose deadline it reaches.
  // REQUIRES: d >= 0 (steady time never goes back).
  void Advance(std::chrono::microseconds d) EXCLUDES(mu_);

  // Sets the wall time only, as an NTP step would; steady time is untouched.
  void SetWallTime(Timestamp t) EXCLUDES(mu_);

  // Threads blocked in SleepUntil now.
  size_t sleepers() const EXCLUDES(mu_);

  // Blocks (in real time, up to `timeout`) until at least `n` threads sleep in SleepUntil. Lets a
  // test Advance() only once the thread under test has reached its sleep, without real sleeps.
  // Returns false on timeout.
  bool WaitForSleepers(size_t n, std::chrono::milliseconds timeout) const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  // Signalled when time advances, a stop is requested, or sleepers_ changes.
  mutable CondVar cv_;
  Timestamp wall_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point steady_ GUARDED_BY(mu_);
  mutable size_t sleepers_ GUARDED_BY(mu_) = 0;
};

}  // namespace edge
