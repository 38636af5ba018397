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
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace edge {

class StopSignal {
 public:
  StopSignal() = default;
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Raises the flag, wakes every WaitUntil/WaitFor, and runs the registered stop callbacks (in
  // this thread, before returning).
  void Request();

  bool requested() const { return source_.stop_requested(); }

  // Blocks until `deadline` or until a stop is requested, whichever comes first. Returns true
  // if a stop was requested (also when it already was on entry), false at the deadline.
  bool WaitUntil(std::chrono::steady_clock::time_point deadline) const;
  bool WaitFor(std::chrono::steady_clock::duration timeout) const;

  std::stop_token token() const { return source_.get_token(); }

 private:
  std::stop_source source_;
  mutable std::mutex mu_;               // pairs with cv_; the flag itself is in source_
  mutable std::condition_variable cv_;  // signalled by Request()
};

}  // namespace edge
