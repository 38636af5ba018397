#include "core/stop_signal.h"

namespace edge {

void StopSignal::Request() {
  source_.request_stop();
  // Taking mu_ after raising the flag orders this with a waiter that has checked the flag but
  // not yet blocked: it either sees the flag or is already waiting when we notify.
  { std::lock_guard lock(mu_); }
  cv_.notify_all();
}

bool StopSignal::WaitUntil(std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [this] { return requested(); });
}

bool StopSignal::WaitFor(std::chrono::steady_clock::duration timeout) const {
  const auto now = std::chrono::steady_clock::now();
  if (timeout >= std::chrono::steady_clock::time_point::max() - now) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return requested(); });
    return true;
  }
  return WaitUntil(now + timeout);
}

}  // namespace edge
