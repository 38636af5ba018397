// DESIGN: threads — an acceptor thread, plus one thread per accepted connection running the
// handler. The destructor raises stopping_, makes stop_fd_ readable (wakes every poll) and shuts
// down every connection socket (a handler blocked in a write to a client that stopped reading
// gets EPIPE), then joins them all.
#include "tests/support/hostile_modbus_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>

namespace edge::testing {
namespace {

void Die(const char* what) {
  std::perror(what);
  std::abort();
}

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return addr;
}

}  // namespace

std::vector<uint8_t> RegisterAnswer(const ModbusRequest& req, uint16_t value) {
  const size_t data = 2u * req.count;
  const size_t length = 3 + data;  // unit, function, byte count, data
  std::vector<uint8_t> out = {static_cast<uint8_t>(req.tid >> 8),
                              static_cast<uint8_t>(req.tid & 0xFF),
                              0,
                              0,
                              static_cast<uint8_t>(length >> 8),
                              static_cast<uint8_t>(length & 0xFF),
                              req.unit,
                              req.function,
                              static_cast<uint8_t>(data)};
  for (size_t i = 0; i < req.count; ++i) {
    out.push_back(static_cast<uint8_t>(value >> 8));
    out.push_back(static_cast<uint8_t>(value & 0xFF));
  }
  return out;
}

HostileModbusServer::HostileModbusServer(Handler handler, Accept accept)
    : handler_(std::move(handler)) {
  stop_fd_ = eventfd(0, EFD_CLOEXEC);
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (stop_fd_ < 0 || listen_fd_ < 0) Die("hostile modbus server: socket");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, accept == Accept::kYes ? 16 : 0) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("hostile modbus server: bind/listen");
  }
  port_ = ntohs(addr.sin_port);
  if (accept == Accept::kYes) {
    acceptor_ = std::thread([this] { AcceptLoop(); });
    return;
  }
  // Backlog 0 holds one completed connection; the second filler's SYN is already dropped.
  for (int i = 0; i < 2; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const sockaddr_in to = Loopback(port_);
    connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to));  // EINPROGRESS
    fillers_.push_back(fd);
  }
}

HostileModbusServer::~HostileModbusServer() {
  stopping_ = true;
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) != sizeof(one)) Die("hostile modbus server: eventfd");
  {
    std::lock_guard lock(mu_);
    for (const int fd : fds_) shutdown(fd, SHUT_RDWR);
  }
  if (acceptor_.joinable()) acceptor_.join();
  // No new connection threads after the acceptor is gone.
  for (std::thread& t : connections_) t.join();
  for (const int fd : fds_) close(fd);
  for (const int fd : fillers_) close(fd);
  close(listen_fd_);
  close(stop_fd_);
}

void HostileModbusServer::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) Die("hostile modbus server: poll");
    if (fds[1].revents != 0) return;
    if (fds[0].revents == 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    if (stopping_) {
      close(fd);
      return;
    }
    fds_.push_back(fd);
    connections_.emplace_back([this, fd] { Serve(fd); });
  }
}

void HostileModbusServer::Serve(int fd) {
  for (;;) {
    uint8_t req[12];
    size_t have = 0;
    while (have < sizeof(req)) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
      if (fds[1].revents != 0) return;
      const ssize_t n = read(fd, req + have, sizeof(req) - have);
      if (n <= 0) return;  // the client closed (or reset) the connection
      have += static_cast<size_t>(n);
    }
    ModbusRequest r;
    r.tid = static_cast<uint16_t>(req[0] << 8 | req[1]);
    r.unit = req[6];
    r.function = req[7];
    r.start = static_cast<uint16_t>(req[8] << 8 | req[9]);
    r.count = static_cast<uint16_t>(req[10] << 8 | req[11]);
    ++requests_;
    handler_(*this, fd, r);
  }
}

bool HostileModbusServer::Write(int fd, std::span<const uint8_t> bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    if (stopping_) return false;
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

bool HostileModbusServer::Drip(int fd, std::span<const uint8_t> bytes,
                               std::chrono::milliseconds interval) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i > 0 && !Pause(interval)) return false;
    if (!Write(fd, bytes.subspan(i, 1))) return false;
  }
  return true;
}

bool HostileModbusServer::Pause(std::chrono::milliseconds d) {
  pollfd fds[1] = {{stop_fd_, POLLIN, 0}};
  poll(fds, 1, static_cast<int>(d.count()));
  return !stopping_;
}

}  // namespace edge::testing
