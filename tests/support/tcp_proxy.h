// TcpProxy: a TCP proxy for the fault-injection tests (issue #11) and the end-to-end tests that
// take a link away (tests/integration/uplink_e2e_test.cc). It listens on an ephemeral
// 127.0.0.1 port and forwards every connection to 127.0.0.1:<target port>, in one of four modes
// switched at run time:
//   kPass   bytes go through as they come;
//   kDelay  every chunk read from either side is held `delay` before it is written on (order is
//           kept: a chunk never overtakes an earlier one of the same direction);
//   kDrop   every current connection is reset (RST to both sides), and new ones are accepted and
//           closed at once;
//   kStall  a black hole: connections are accepted and held, nothing is read, forwarded or closed
//           in either direction (what is sent piles up in the kernel's buffers). Connections
//           accepted during a stall reach the target only when it is lifted.
// Leaving kStall or kDelay resumes the held connections with their bytes in order, as a network
// that heals does; leaving kDrop simply accepts connections again.
//
// DESIGN: threads. One thread, started by the constructor and joined by the destructor, owns the
// listening socket and every connection (both sockets and the bytes in transit); it waits in
// poll() on them and on a wake-up pipe. SetMode hands the new mode over under mu_, wakes the
// thread and waits until it has applied the mode, so that when SetMode returns a drop has reset
// every connection and a stall holds every byte. The destructor raises stop_ the same way; the
// thread closes every socket on its way out.
//
// Thread-safety: SetMode and counters() from any thread; one thread should own the object.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace edge::testing {

class TcpProxy {
 public:
  enum class Mode { kPass, kDelay, kDrop, kStall };

  struct Counters {
    uint64_t accepted = 0;         // client connections accepted (in every mode)
    uint64_t refused = 0;          // closed at once: in kDrop, or the target refused
    uint64_t reset = 0;            // connections reset by a switch to kDrop
    uint64_t open = 0;             // connections open now (held ones included)
    uint64_t bytes_to_target = 0;  // bytes written to the target side
    uint64_t bytes_to_client = 0;  // bytes written to the client side
  };

  // Starts in kPass. ok() is false (error() says why) if the socket or the thread could not be
  // set up.
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  bool ok() const { return port_ != 0; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }  // where clients connect

  // Switches the mode and returns once the proxy thread has applied it. `delay` counts in
  // kDelay only.
  void SetMode(Mode mode, std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      EXCLUDES(mu_);

  Counters counters() const;

 private:
  void Run() EXCLUDES(mu_);

  const int target_port_;
  int port_ = 0;
  std::string error_;
  int listen_fd_ = -1;
  int wake_read_ = -1;
  int wake_write_ = -1;

  Mutex mu_;
  CondVar applied_cv_;                       // signalled when applied_ catches up
  Mode mode_ GUARDED_BY(mu_) = Mode::kPass;  // the requested mode
  std::chrono::milliseconds delay_ GUARDED_BY(mu_){0};
  uint64_t requested_ GUARDED_BY(mu_) = 0;  // mode changes asked for
  uint64_t applied_ GUARDED_BY(mu_) = 0;    // mode changes applied by the thread
  bool stop_ GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> reset_{0};
  std::atomic<uint64_t> open_{0};
  std::atomic<uint64_t> bytes_to_target_{0};
  std::atomic<uint64_t> bytes_to_client_{0};

  std::thread thread_;
};

}  // namespace edge::testing
