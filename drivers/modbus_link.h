// ModbusLink: the byte stream to one Modbus endpoint (a TCP connection, or a serial port for
// RTU) and one read transaction on it at a time: send the request frame, wait for its answer,
// check it (drivers/modbus_frame.h).
//
// Why not libmodbus's read functions: libmodbus 3.1.6 bounds the first byte of an answer by the
// response timeout and every later byte by a byte timeout that each byte restarts, so a peer that
// drips one byte every 0.4 s holds one request for about 100 s; it cannot be interrupted; and it
// accepts malformed MBAP headers (see modbus_frame.h). Here:
//   - `timeout` bounds the whole transaction, from sending the request to the last byte of the
//     answer, whatever the peer sends or withholds (a drip, an endless stream, a half answer);
//   - Connect is bounded the same way (a peer whose SYN backlog is full never completes it);
//   - Interrupt() ends a Connect or Read in progress at once, and every later one, from any
//     thread: stopping a source never waits for a peer;
//   - only exactly one frame is read per answer, so bytes after it stay for Drain().
// libmodbus is kept for what it does well: opening and configuring a serial port (termios).
// Host names are resolved with getaddrinfo, which blocks and cannot be interrupted (a numeric
// address does not resolve anything).
//
// Thread-safety: Interrupt() may be called from any thread at any time; everything else by one
// owner thread at a time.
#pragma once

#include <modbus/modbus.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "config/config.h"
#include "core/status.h"
#include "drivers/modbus_frame.h"

namespace edge::drivers {

class ModbusLink {
 public:
  // TCP to device.host:device.port, or RTU on device.serial. InvalidArgument if the serial
  // port's libmodbus context cannot be made; Internal if no eventfd.
  [[nodiscard]] static StatusOr<std::unique_ptr<ModbusLink>> Create(
      const config::ModbusDevice& device);

  ModbusLink(const ModbusLink&) = delete;
  ModbusLink& operator=(const ModbusLink&) = delete;
  ~ModbusLink();

  // Opens the stream within `timeout`. Unavailable (saying why) on failure or interrupt.
  [[nodiscard]] Status Connect(std::chrono::milliseconds timeout);
  void Close();
  bool open() const { return fd_ >= 0; }

  struct Result {
    enum class Kind {
      kData,         // registers / bits filled
      kException,    // the device answered with an exception response
      kTimeout,      // no whole answer within the timeout
      kMalformed,    // an answer that breaks the protocol (fault says how)
      kConnection,   // the stream broke or the peer closed it (fault says how)
      kInterrupted,  // Interrupt() was called
    };
    Kind kind = Kind::kTimeout;
    uint8_t exception_code = 0;  // kException
    std::string fault;           // kMalformed, kConnection
    uint32_t other_transactions = 0;  // answers for other transaction ids discarded meanwhile
  };

  // Reads `count` registers (into registers) or bits (into bits, 0 / 1) of `table` at `start`
  // from unit `unit`; the whole transaction takes at most `timeout`. REQUIRES: open().
  Result Read(uint8_t unit, config::ModbusTable table, uint16_t start, uint16_t count,
              std::chrono::milliseconds timeout, std::span<uint16_t> registers,
              std::span<uint8_t> bits);

  // Discards what has arrived and not been read (a late or overlong answer), without waiting
  // and at most 64 KiB (an endless stream must not hold the poll thread here instead).
  void Drain();

  // Makes the Connect / Read in progress, and every later one, return at once (kInterrupted /
  // Unavailable). Not undone: a stopped source is not restarted.
  void Interrupt();

 private:
  using Steady = std::chrono::steady_clock;
  enum class Wait { kReady, kTimeout, kInterrupted, kError };

  ModbusLink(Framing framing, std::string host, uint16_t port, modbus_t* rtu, int wake_fd);

  // Waits until fd_ is ready for `events` (POLLIN / POLLOUT), the deadline passes or Interrupt().
  Wait WaitFor(int fd, short events, Steady::time_point deadline) const;
  static bool Ready(Wait w, Result* failed);
  Status ConnectTcp(Steady::time_point deadline);
  // Writes the whole frame before the deadline: kData if it did, else what stopped it.
  Result Send(std::span<const uint8_t> frame, Steady::time_point deadline);
  // Reads exactly `n` more bytes into buf_[have..have+n).
  Result ReadExactly(size_t have, size_t n, Steady::time_point deadline);

  const Framing framing_;
  const std::string host_;
  const uint16_t port_;
  modbus_t* const rtu_;  // RTU only: opens and configures the serial port; null for TCP
  const int wake_fd_;    // eventfd, readable once Interrupt() was called
  int fd_ = -1;
  uint16_t next_tid_ = 1;
  uint8_t buf_[kMaxAduBytes] = {};
};

}  // namespace edge::drivers
