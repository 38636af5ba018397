#include "drivers/modbus_link.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "core/logging.h"

namespace edge::drivers {
namespace {

using Kind = ModbusLink::Result::Kind;
using std::chrono::milliseconds;

ModbusLink::Result Fail(Kind kind, std::string fault = {}) {
  ModbusLink::Result r;
  r.kind = kind;
  r.fault = std::move(fault);
  return r;
}

std::string ErrnoText(int err) { return std::strerror(err); }

}  // namespace

// True if the wait ended with the stream ready; otherwise `*failed` says why it ended.
bool ModbusLink::Ready(Wait w, Result* failed) {
  switch (w) {
    case Wait::kReady:
      return true;
    case Wait::kTimeout:
      *failed = Fail(Kind::kTimeout);
      return false;
    case Wait::kInterrupted:
      *failed = Fail(Kind::kInterrupted);
      return false;
    case Wait::kError:
      *failed = Fail(Kind::kConnection, "poll failed");
      return false;
  }
  return false;
}

StatusOr<std::unique_ptr<ModbusLink>> ModbusLink::Create(const config::ModbusDevice& device) {
  modbus_t* rtu = nullptr;
  if (device.serial) {
    const config::SerialConfig& s = *device.serial;
    rtu = modbus_new_rtu(s.device.c_str(), s.baud, s.parity, s.data_bits, s.stop_bits);
    if (rtu == nullptr) {
      return Status::InvalidArgument(
          fmt::format("modbus device '{}': cannot create a context for serial port {}: {}",
                      device.name, s.device, modbus_strerror(errno)));
    }
  }
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    if (rtu != nullptr) modbus_free(rtu);
    return Status::Internal(fmt::format("modbus: eventfd: {}", ErrnoText(errno)));
  }
  return std::unique_ptr<ModbusLink>(
      new ModbusLink(device.serial ? Framing::kRtu : Framing::kTcp, device.host, device.port, rtu,
                     wake));
}

ModbusLink::ModbusLink(Framing framing, std::string host, uint16_t port, modbus_t* rtu,
                       int wake_fd)
    : framing_(framing), host_(std::move(host)), port_(port), rtu_(rtu), wake_fd_(wake_fd) {}

ModbusLink::~ModbusLink() {
  Close();
  if (rtu_ != nullptr) modbus_free(rtu_);
  close(wake_fd_);
}

void ModbusLink::Interrupt() {
  const uint64_t one = 1;
  // Cannot fail short of the counter overflowing (2^64 - 2 calls); nothing to do if it did.
  [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof(one));
}

ModbusLink::Wait ModbusLink::WaitFor(int fd, short events, Steady::time_point deadline) const {
  for (;;) {
    // Checked before waiting too: a peer that is always ready (an endless stream) must not keep
    // the caller past its deadline.
    const auto left = deadline - Steady::now();
    if (left <= Steady::duration::zero()) {
      pollfd wake = {wake_fd_, POLLIN, 0};
      return poll(&wake, 1, 0) > 0 ? Wait::kInterrupted : Wait::kTimeout;
    }
    // Rounded up: poll() waits whole milliseconds, and waking early would only loop.
    const auto ms = std::chrono::ceil<milliseconds>(left);
    pollfd fds[2] = {{fd, events, 0}, {wake_fd_, POLLIN, 0}};
    const int rc = poll(fds, 2, static_cast<int>(ms.count()));
    if (rc < 0) {
      if (errno == EINTR) continue;
      return Wait::kError;
    }
    if ((fds[1].revents & POLLIN) != 0) return Wait::kInterrupted;
    // An error or hang-up is "ready" too: the read or write that follows says which.
    if (fds[0].revents != 0) return Wait::kReady;
  }
}

Status ModbusLink::Connect(milliseconds timeout) {
  Close();
  const auto deadline = Steady::now() + timeout;
  if (framing_ == Framing::kTcp) return ConnectTcp(deadline);
  // Opening a serial port does not wait for anything (libmodbus opens it O_NDELAY).
  if (modbus_connect(rtu_) != 0) return Status::Unavailable(modbus_strerror(errno));
  fd_ = modbus_get_socket(rtu_);
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  tcflush(fd_, TCIOFLUSH);
  return Status::Ok();
}

Status ModbusLink::ConnectTcp(Steady::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(port_);
  if (const int rc = getaddrinfo(host_.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Status::Unavailable(fmt::format("cannot resolve '{}': {}", host_, gai_strerror(rc)));
  }
  std::string why = "no address";
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int s = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         ai->ai_protocol);
    if (s < 0) {
      why = ErrnoText(errno);
      continue;
    }
    // Requests are small and each waits for its answer: Nagle would only delay them.
    const int on = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    int err = connect(s, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      const Wait w = WaitFor(s, POLLOUT, deadline);
      if (w == Wait::kReady) {
        socklen_t len = sizeof(err);
        if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      } else {
        close(s);
        freeaddrinfo(found);
        if (w == Wait::kInterrupted) return Status::Unavailable("interrupted (stopping)");
        return Status::Unavailable(w == Wait::kTimeout ? "no connection within the timeout"
                                                       : "poll failed");
      }
    }
    if (err == 0) {
      fd_ = s;
      freeaddrinfo(found);
      return Status::Ok();
    }
    why = ErrnoText(err);
    close(s);
  }
  freeaddrinfo(found);
  return Status::Unavailable(why);
}

void ModbusLink::Close() {
  if (fd_ < 0) return;
  if (rtu_ != nullptr) {
    modbus_close(rtu_);  // closes fd_ (and restores the port's settings)
  } else {
    close(fd_);
  }
  fd_ = -1;
}

ModbusLink::Result ModbusLink::Send(std::span<const uint8_t> frame, Steady::time_point deadline) {
  size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n = framing_ == Framing::kTcp
                          ? send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL)
                          : write(fd_, frame.data() + sent, frame.size() - sent);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return Fail(Kind::kConnection, ErrnoText(errno));
    if (Result failed; !Ready(WaitFor(fd_, POLLOUT, deadline), &failed)) return failed;
  }
  return Fail(Kind::kData);
}

ModbusLink::Result ModbusLink::ReadExactly(size_t have, size_t n, Steady::time_point deadline) {
  EDGE_CHECK(have + n <= sizeof(buf_));
  while (n > 0) {
    if (Result failed; !Ready(WaitFor(fd_, POLLIN, deadline), &failed)) return failed;
    const ssize_t got = read(fd_, buf_ + have, n);
    if (got == 0) return Fail(Kind::kConnection, "the peer closed the connection");
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Fail(Kind::kConnection, ErrnoText(errno));
    }
    have += static_cast<size_t>(got);
    n -= static_cast<size_t>(got);
  }
  return Fail(Kind::kData);
}

ModbusLink::Result ModbusLink::Read(uint8_t unit, config::ModbusTable table, uint16_t start,
                                    uint16_t count, milliseconds timeout,
                                    std::span<uint16_t> registers, std::span<uint8_t> bits) {
  EDGE_CHECK(open());
  const auto deadline = Steady::now() + timeout;
  const ExpectedAnswer expected{next_tid_++, unit, table, count};
  // On a serial line nothing tells an old answer from a new one: bytes still unread belong to
  // an earlier request.
  if (framing_ == Framing::kRtu) tcflush(fd_, TCIFLUSH);
  uint8_t request[kMaxAduBytes];
  const size_t length =
      BuildReadRequest(framing_, expected.tid, unit, table, start, count, std::span(request));
  if (Result r = Send(std::span(request, length), deadline); r.kind != Kind::kData) return r;

  const size_t head = HeadBytes(framing_);
  uint32_t others = 0;
  for (;;) {
    Result r = ReadExactly(0, head, deadline);
    if (r.kind != Kind::kData) {
      r.other_transactions = others;
      return r;
    }
    const char* fault = "";
    const size_t total = AnswerLength(framing_, std::span(buf_, head), &fault);
    if (total == 0) r = Fail(Kind::kMalformed, fault);
    if (r.kind == Kind::kData) r = ReadExactly(head, total - head, deadline);
    if (r.kind != Kind::kData) {
      r.other_transactions = others;
      return r;
    }
    const AnswerVerdict v =
        CheckAnswer(framing_, expected, std::span(buf_, total), registers, bits);
    switch (v.kind) {
      case AnswerVerdict::Kind::kOtherTransaction:
        ++others;  // a late answer to an earlier request: not ours, keep waiting
        continue;
      case AnswerVerdict::Kind::kData:
        break;
      case AnswerVerdict::Kind::kException:
        r.kind = Kind::kException;
        r.exception_code = v.exception_code;
        break;
      case AnswerVerdict::Kind::kMalformed:
        r = Fail(Kind::kMalformed, v.fault);
        break;
    }
    r.other_transactions = others;
    return r;
  }
}

void ModbusLink::Drain() {
  if (fd_ < 0) return;
  uint8_t scratch[4096];
  for (size_t total = 0; total < 64 * 1024;) {
    const ssize_t n = read(fd_, scratch, sizeof(scratch));
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
}

}  // namespace edge::drivers
