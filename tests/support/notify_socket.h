// What systemd sees of the agent: the datagrams sent to $NOTIFY_SOCKET (READY=1, STATUS=...,
// WATCHDOG=1), received on a test-owned unix datagram socket.
//
// Thread-safety: one owner thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace edge::testing {

class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool ok() const { return bound_; }
  const std::filesystem::path& path() const { return path_; }
  // Every message received within `duration`, in order.
  std::vector<std::string> Receive(std::chrono::milliseconds duration);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool bound_ = false;
};

// How many of `messages` contain `needle`.
int CountContaining(const std::vector<std::string>& messages, const std::string& needle);

}  // namespace edge::testing
