// Process signals for the daemon, the mosquitto way (src/signals.c, loop.c): the handlers only
// set flags and write one byte to a self-pipe; the main loop waits on the pipe and acts.
//
// SIGTERM and SIGINT request a stop, SIGHUP a configuration reload. SIGPIPE is ignored (a
// broker or PLC socket closing under a write is a runtime fault handled where it happens).
//
// Thread-safety: one SignalWatcher per process, installed and waited on by the main thread.
#pragma once

#include <chrono>

#include "core/status.h"

namespace edge::agent {

enum class SignalEvent { kNone, kStop, kReload };

class SignalWatcher {
 public:
  SignalWatcher() = default;
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  ~SignalWatcher();  // restores the default dispositions

  [[nodiscard]] Status Install();

  // Waits up to `timeout` for a signal. A pending stop wins over a pending reload.
  SignalEvent Wait(std::chrono::milliseconds timeout);

 private:
  bool installed_ = false;
};

}  // namespace edge::agent
