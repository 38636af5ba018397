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
  std::lock_guard lock(mu_);
  return wall_;
}

std::chrono::steady_clock::time_point FakeClock::SteadyNow() const {
  std::lock_guard lock(mu_);
  return steady_;
}

bool FakeClock::SleepUntil(std::chrono::steady_clock::time_point deadline,
                           const StopSignal& stop) const {
  // Registered before taking mu_: the callback takes mu_ itself, and runs at once, in this
  // thread, if the stop is already requested. Destroyed after mu_ is released (declaration
  // order), since its destructor waits for a callback running in another thread.
  std::stop_callback wake_on_stop(stop.token(), [this] {
    { std::lock_guard lock(mu_); }
    cv_.notify_all();
  });
  std::unique_lock lock(mu_);
  ++sleepers_;
  cv_.notify_all();  // for WaitForSleepers
  cv_.wait(lock, [&] { return stop.requested() || steady_ >= deadline; });
  --sleepers_;
  return stop.requested();
}

void FakeClock::Advance(std::chrono::microseconds d) {
  EDGE_CHECK(d >= std::chrono::microseconds::zero());
  {
    std::lock_guard lock(mu_);
    wall_ += d;
    steady_ += d;
  }
  cv_.notify_all();
}

void FakeClock::SetWallTime(Timestamp t) {
  std::lock_guard lock(mu_);
  wall_ = t;
}

size_t FakeClock::sleepers() const {
  std::lock_guard lock(mu_);
  return sleepers_;
}

bool FakeClock::WaitForSleepers(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return sleepers_ >= n; });
}

}  // namespace edge
