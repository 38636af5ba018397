// StopSignal: the one "please stop" flag a pipeline shares with all its threads, plus a way to
// sleep that ends at once when the flag is raised (a poller sleeping 10 s until its next poll
// must not hold up shutdown for 10 s).
//
// Request() is not async-signal-safe (it takes a mutex): a signal handler sets its own flag and
// the main loop calls Request() (STYLE "Signal handlers only set flags").
//
// token() exposes the underlying std::stop_token, for std::stop_callback (e.g. to close a socket
// a thread is blocked on, or to wake a condition variable of one's own, as FakeClock does).
//
// Thread-safety: all methods are safe from any thread. Request() is idempotent.
#pragma once

#include <chrono>
#include <stop_token>

#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace edge {

class StopSignal {
 public:
  StopSignal() = default;
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Raises the flag, wakes every WaitUntil/WaitFor, and runs the registered stop callbacks (in
  // this thread, before returning).
  void Request() EXCLUDES(mu_);

  bool requested() const { return source_.stop_requested(); }

  // Blocks until `deadline` or until a stop is requested, whichever comes first. Returns true
  // if a stop was requested (also when it already was on entry), false at the deadline.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) const EXCLUDES(mu_);
  bool WaitFor(std::chrono::steady_clock::duration timeout) const EXCLUDES(mu_);

  std::stop_token token() const { return source_.get_token(); }

 private:
  std::stop_source source_;
  // Guards no data (the flag is in source_, atomic): it pairs with cv_ so that a Request()
  // cannot slip between a waiter's check of the flag and its wait.
  mutable Mutex mu_;
  mutable CondVar cv_;  // signalled by Request()
};

}  // namespace edge
