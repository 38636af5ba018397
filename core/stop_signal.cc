#include "core/stop_signal.h"

namespace edge {

void StopSignal::Request() {
  source_.request_stop();
  // Taking mu_ after raising the flag orders this with a waiter that has checked the flag but
  // not yet blocked: it either sees the flag or is already waiting when we notify.
  { MutexLock lock(&mu_); }
  cv_.NotifyAll();
}

bool StopSignal::WaitUntil(std::chrono::steady_clock::time_point deadline) const {
  MutexLock lock(&mu_);
  while (!requested()) {
    if (!cv_.WaitUntil(&mu_, deadline)) return requested();
  }
  return true;
}

bool StopSignal::WaitFor(std::chrono::steady_clock::duration timeout) const {
  const auto now = std::chrono::steady_clock::now();
  if (timeout >= std::chrono::steady_clock::time_point::max() - now) {
    MutexLock lock(&mu_);
    while (!requested()) cv_.Wait(&mu_);
    return true;
  }
  return WaitUntil(now + timeout);
}

}  // namespace edge
