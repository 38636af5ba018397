#include "agent/signals.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

namespace edge::agent {
namespace {

// Atomic, not volatile sig_atomic_t: the handler may run on any thread (the pipeline's threads do
// not block these signals), and only a lock-free atomic is both async-signal-safe and ordered
// between threads (ThreadSanitizer reported the volatile flags as a data race).
std::atomic<int> g_stop_requested{0};
std::atomic<int> g_reload_requested{0};
static_assert(std::atomic<int>::is_always_lock_free);
int g_wake_pipe[2] = {-1, -1};

extern "C" void OnSignal(int signo) {
  const int saved_errno = errno;
  if (signo == SIGHUP) {
    g_reload_requested = 1;
  } else {
    g_stop_requested = 1;
  }
  const char byte = 1;
  // A full pipe already holds a wake-up; the result can be ignored.
  [[maybe_unused]] ssize_t n = write(g_wake_pipe[1], &byte, 1);
  errno = saved_errno;
}

}  // namespace

Status SignalWatcher::Install() {
  if (pipe2(g_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Status::Internal(std::string("cannot create the signal pipe: ") + std::strerror(errno));
  }
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signo : {SIGTERM, SIGINT, SIGHUP}) {
    if (sigaction(signo, &action, nullptr) != 0) {
      return Status::Internal(std::string("sigaction: ") + std::strerror(errno));
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  installed_ = true;
  return Status::Ok();
}

SignalWatcher::~SignalWatcher() {
  if (!installed_) return;
  for (int signo : {SIGTERM, SIGINT, SIGHUP}) std::signal(signo, SIG_DFL);
  close(g_wake_pipe[0]);
  close(g_wake_pipe[1]);
  g_wake_pipe[0] = g_wake_pipe[1] = -1;
}

SignalEvent SignalWatcher::Wait(std::chrono::milliseconds timeout) {
  if (!g_stop_requested && !g_reload_requested) {
    pollfd pfd{g_wake_pipe[0], POLLIN, 0};
    poll(&pfd, 1, static_cast<int>(timeout.count()));  // EINTR: fall through to the flags
    char drain[64];
    while (read(g_wake_pipe[0], drain, sizeof(drain)) > 0) {
    }
  }
  if (g_stop_requested) return SignalEvent::kStop;
  if (g_reload_requested.exchange(0) != 0) {
    return SignalEvent::kReload;
  }
  return SignalEvent::kNone;
}

}  // namespace edge::agent
