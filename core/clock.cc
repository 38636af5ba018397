#include "core/clock.h"

#include <stop_token>

#include "core/status.h"

namespace edge {

Timestamp SystemClock::Now() const {
  return std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::chrono::steady_clock::time_point SystemClock::SteadyNow() const {
  return std::chrono::steady_clock::now();
}

bool SystemClock::SleepUntil(std::chrono::steady_clock::time_point deadline,
                             const StopSignal& stop) const {
  return stop.WaitUntil(deadline);
}

Clock& SystemClockInstance() {
  static SystemClock clock;
  return clock;
}

FakeClock::FakeClock()
    : FakeClock(Timestamp{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}}) {}

FakeClock::FakeClock(Timestamp wall_start)
    : wall_(wall_start), steady_(std::chrono::steady_clock::time_point{std::chrono::hours{1}}) {}

Timestamp FakeClock::Now() const {
  MutexLock lock(&mu_);
  return wall_;
}

std::chrono::steady_clock::time_point FakeClock::SteadyNow() const {
  MutexLock lock(&mu_);
  return steady_;
}

bool FakeClock::SleepUntil(std::chrono::steady_clock::time_point deadline,
                           const StopSignal& stop) const {
  // Registered before taking mu_: the callback takes mu_ itself, and runs at once, in this
  // thread, if the stop is already requested. Destroyed after mu_ is released (declaration
  // order), since its destructor waits for a callback running in another thread.
  std::stop_callback wake_on_stop(stop.token(), [this] {
    { MutexLock lock(&mu_); }
    cv_.NotifyAll();
  });
  MutexLock lock(&mu_);
  ++sleepers_;
  cv_.NotifyAll();  // for WaitForSleepers
  while (!stop.requested() && steady_ < deadline) cv_.Wait(&mu_);
  --sleepers_;
  return stop.requested();
}

void FakeClock::Advance(std::chrono::microseconds d) {
  EDGE_CHECK(d >= std::chrono::microseconds::zero());
  {
    MutexLock lock(&mu_);
    wall_ += d;
    steady_ += d;
  }
  cv_.NotifyAll();
}

void FakeClock::SetWallTime(Timestamp t) {
  MutexLock lock(&mu_);
  wall_ = t;
}

size_t FakeClock::sleepers() const {
  MutexLock lock(&mu_);
  return sleepers_;
}

bool FakeClock::WaitForSleepers(size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  while (sleepers_ < n) {
    if (!cv_.WaitUntil(&mu_, deadline)) return sleepers_ >= n;
  }
  return true;
}

}  // namespace edge
