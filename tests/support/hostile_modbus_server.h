// HostileModbusServer: a Modbus TCP peer written with raw POSIX sockets that misbehaves on
// purpose, for tests of what the agent does with peers no well-behaved library would imitate:
// answers dripped one byte at a time, endless streams, MBAP headers that lie, answers for another
// unit or transaction, a listening socket that never accepts.
//
// It listens on 127.0.0.1 on an ephemeral port. Each accepted connection gets a thread that reads
// 12-byte Modbus TCP read requests and hands each to the test's Handler, which writes whatever
// it likes with the helpers below. Every helper returns early once the server is being
// destroyed, so a handler that drips for minutes does not hold up the test's end.
//
// Thread-safety: port(), requests() and the helpers are safe from any thread; handlers run on
// the connection threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace edge::testing {

// One Modbus TCP read request as received.
struct ModbusRequest {
  uint16_t tid = 0;
  uint8_t unit = 0;
  uint8_t function = 0;
  uint16_t start = 0;
  uint16_t count = 0;
};

// The well-formed answer to a register read `req`: every register holds `value`. Tests edit
// the bytes to make it hostile (index 2-3 protocol id, 4-5 length field, 6 unit id).
std::vector<uint8_t> RegisterAnswer(const ModbusRequest& req, uint16_t value);

class HostileModbusServer {
 public:
  using Handler = std::function<void(HostileModbusServer&, int fd, const ModbusRequest&)>;

  enum class Accept {
    kYes,
    // listen() with a backlog of 0, filled by two connections of its own that are never
    // accepted: a further SYN is dropped and the client's connect() never completes.
    kNeverWithFullBacklog,
  };

  explicit HostileModbusServer(Handler handler, Accept accept = Accept::kYes);
  HostileModbusServer(const HostileModbusServer&) = delete;
  HostileModbusServer& operator=(const HostileModbusServer&) = delete;
  ~HostileModbusServer();

  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }

  // Writes all of `bytes` (blocking); false once stopping or on a write error.
  bool Write(int fd, std::span<const uint8_t> bytes);
  // Writes `bytes` one at a time, `interval` apart; false if cut short.
  bool Drip(int fd, std::span<const uint8_t> bytes, std::chrono::milliseconds interval);
  // Sleeps `d`, or less if stopping; false if stopping.
  bool Pause(std::chrono::milliseconds d);
  bool stopping() const { return stopping_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);

  const Handler handler_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd, readable once stopping
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::vector<int> fillers_;  // kNeverWithFullBacklog: the connections that fill the backlog
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> connections_;  // guarded by mu_
  std::vector<int> fds_;                  // guarded by mu_; closed at destruction
};

}  // namespace edge::testing
