// DESIGN: threads — see tcp_proxy.h. The proxy thread (Run) owns every socket but the wake-up
// pipe's write end; it stops when the destructor raises stop_ and wakes it.
#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <vector>

namespace edge::testing {
namespace {

using Steady = std::chrono::steady_clock;

constexpr size_t kMaxQueued = 256 * 1024;  // per direction: reading pauses beyond this
constexpr size_t kReadSize = 64 * 1024;

struct Chunk {
  Steady::time_point due;
  std::string bytes;
  size_t sent = 0;
};

// One direction of a connection: bytes read from one side, waiting to be written to the other.
struct Direction {
  std::deque<Chunk> chunks;
  size_t queued = 0;  // bytes in `chunks` not yet written
  bool eof = false;   // the sending side has closed its end
  bool shut = false;  // ... and that was passed on (shutdown(SHUT_WR) of the receiving side)
};

struct Connection {
  int client = -1;
  int target = -1;  // -1 while a connection accepted during a stall is held
  Direction up;     // client -> target
  Direction down;   // target -> client
  bool broken = false;
};

// Closes with an RST rather than a FIN.
void Reset(int fd) {
  if (fd < 0) return;
  const linger hard{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  ::close(fd);
}

void Prepare(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // the proxy adds no Nagle delay
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// A connection to the target, or -1 (refused). A loopback connect completes at once.
int ConnectTarget(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const sockaddr_in addr = Loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  Prepare(fd);
  return fd;
}

// Reads what `fd` has into `dir`, each chunk due `delay` from now (never before the previous
// one). False if the connection broke.
bool ReadInto(int fd, Direction& dir, std::chrono::milliseconds delay) {
  char buf[kReadSize];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  if (n == 0) {
    dir.eof = true;
    return true;
  }
  Steady::time_point due = Steady::now() + delay;
  if (!dir.chunks.empty()) due = std::max(due, dir.chunks.back().due);
  dir.chunks.push_back({due, std::string(buf, static_cast<size_t>(n)), 0});
  dir.queued += static_cast<size_t>(n);
  return true;
}

// Writes the chunks of `dir` that are due to `fd`. False if the connection broke.
bool WriteFrom(int fd, Direction& dir, std::atomic<uint64_t>& counter) {
  const Steady::time_point now = Steady::now();
  while (!dir.chunks.empty() && dir.chunks.front().due <= now) {
    Chunk& chunk = dir.chunks.front();
    const ssize_t n =
        ::send(fd, chunk.bytes.data() + chunk.sent, chunk.bytes.size() - chunk.sent, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    chunk.sent += static_cast<size_t>(n);
    dir.queued -= static_cast<size_t>(n);
    counter += static_cast<uint64_t>(n);
    if (chunk.sent < chunk.bytes.size()) return true;  // the socket buffer is full
    dir.chunks.pop_front();
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  const sockaddr_in addr = Loopback(0);
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  int pipe_fds[2] = {-1, -1};
  if (listen_fd_ < 0 ||
      ::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) != 0 ||
      ::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    error_ = std::string("tcp proxy: cannot listen on 127.0.0.1: ") + std::strerror(errno);
    return;
  }
  wake_read_ = pipe_fds[0];
  wake_write_ = pipe_fds[1];
  port_ = ntohs(bound.sin_port);
  thread_ = std::thread([this] { Run(); });
}

TcpProxy::~TcpProxy() {
  if (thread_.joinable()) {
    {
      MutexLock lock(&mu_);
      stop_ = true;
    }
    const char byte = 's';
    (void)!::write(wake_write_, &byte, 1);
    thread_.join();
  }
  for (const int fd : {listen_fd_, wake_read_, wake_write_}) {
    if (fd >= 0) ::close(fd);
  }
}

void TcpProxy::SetMode(Mode mode, std::chrono::milliseconds delay) {
  if (!thread_.joinable()) return;
  MutexLock lock(&mu_);
  mode_ = mode;
  delay_ = delay;
  const uint64_t wanted = ++requested_;
  const char byte = 'm';
  (void)!::write(wake_write_, &byte, 1);
  while (applied_ < wanted) applied_cv_.Wait(&mu_);
}

TcpProxy::Counters TcpProxy::counters() const {
  Counters c;
  c.accepted = accepted_;
  c.refused = refused_;
  c.reset = reset_;
  c.open = open_;
  c.bytes_to_target = bytes_to_target_;
  c.bytes_to_client = bytes_to_client_;
  return c;
}

void TcpProxy::Run() {
  std::list<Connection> connections;
  Mode mode = Mode::kPass;
  std::chrono::milliseconds delay{0};

  const auto close_all = [&](bool hard) {
    for (Connection& c : connections) {
      if (hard) {
        Reset(c.client);
        Reset(c.target);
      } else {
        ::close(c.client);
        if (c.target >= 0) ::close(c.target);
      }
      --open_;
    }
    connections.clear();
  };

  for (;;) {
    {
      MutexLock lock(&mu_);
      if (stop_) break;
      if (applied_ != requested_) {
        mode = mode_;
        delay = mode == Mode::kDelay ? delay_ : std::chrono::milliseconds(0);
        if (mode == Mode::kDrop) {
          reset_ += connections.size();
          close_all(/*hard=*/true);
        } else if (mode != Mode::kStall) {
          // Connections held by a stall reach the target now.
          for (auto it = connections.begin(); it != connections.end();) {
            if (it->target < 0) it->target = ConnectTarget(target_port_);
            if (it->target < 0) {
              Reset(it->client);
              ++refused_;
              --open_;
              it = connections.erase(it);
            } else {
              ++it;
            }
          }
        }
        applied_ = requested_;
        applied_cv_.NotifyAll();
      }
    }

    // What to wait for. In a stall, nothing but new connections.
    std::vector<pollfd> fds = {{wake_read_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    std::vector<std::pair<Connection*, bool>> owners;  // fds[i + 2]: connection, client side
    Steady::time_point next_due = Steady::time_point::max();
    if (mode != Mode::kStall) {
      const Steady::time_point now = Steady::now();
      for (Connection& c : connections) {
        short client_events = 0;
        short target_events = 0;
        if (!c.up.eof && c.up.queued < kMaxQueued) client_events |= POLLIN;
        if (!c.down.eof && c.down.queued < kMaxQueued) target_events |= POLLIN;
        if (!c.down.chunks.empty()) {
          if (c.down.chunks.front().due <= now) {
            client_events |= POLLOUT;
          } else {
            next_due = std::min(next_due, c.down.chunks.front().due);
          }
        }
        if (!c.up.chunks.empty()) {
          if (c.up.chunks.front().due <= now) {
            target_events |= POLLOUT;
          } else {
            next_due = std::min(next_due, c.up.chunks.front().due);
          }
        }
        if (client_events != 0) {
          fds.push_back({c.client, client_events, 0});
          owners.emplace_back(&c, true);
        }
        if (target_events != 0) {
          fds.push_back({c.target, target_events, 0});
          owners.emplace_back(&c, false);
        }
      }
    }
    int timeout_ms = -1;
    if (next_due != Steady::time_point::max()) {
      timeout_ms = static_cast<int>(std::max<int64_t>(
          1, std::chrono::ceil<std::chrono::milliseconds>(next_due - Steady::now()).count()));
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) break;

    if (fds[0].revents != 0) {
      char buf[64];
      while (::read(wake_read_, buf, sizeof buf) > 0) {
      }
    }
    if (fds[1].revents != 0) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        ++accepted_;
        if (mode == Mode::kDrop) {
          ::close(fd);
          ++refused_;
          continue;
        }
        Prepare(fd);
        Connection c;
        c.client = fd;
        if (mode != Mode::kStall) {
          c.target = ConnectTarget(target_port_);
          if (c.target < 0) {
            Reset(fd);
            ++refused_;
            continue;
          }
        }
        connections.push_back(std::move(c));
        ++open_;
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      const short revents = fds[i].revents;
      Connection& c = *owners[i - 2].first;
      if (revents == 0 || c.broken) continue;
      const bool client_side = owners[i - 2].second;
      Direction& in = client_side ? c.up : c.down;   // read from this side
      Direction& out = client_side ? c.down : c.up;  // written to this side
      const int fd = client_side ? c.client : c.target;
      if ((fds[i].events & POLLIN) != 0 && (revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        if (!ReadInto(fd, in, delay)) c.broken = true;
      }
      if (!c.broken && (fds[i].events & POLLOUT) != 0 &&
          (revents & (POLLOUT | POLLHUP | POLLERR)) != 0) {
        if (!WriteFrom(fd, out, client_side ? bytes_to_client_ : bytes_to_target_)) {
          c.broken = true;
        }
      }
    }

    // A broken side breaks the whole connection (RST to the other side too); a closed side is
    // passed on once the bytes before it are written; both closed: the connection is done.
    for (auto it = connections.begin(); it != connections.end();) {
      Connection& c = *it;
      if (mode != Mode::kStall && !c.broken) {
        if (c.up.eof && c.up.chunks.empty() && !c.up.shut) {
          ::shutdown(c.target, SHUT_WR);
          c.up.shut = true;
        }
        if (c.down.eof && c.down.chunks.empty() && !c.down.shut) {
          ::shutdown(c.client, SHUT_WR);
          c.down.shut = true;
        }
      }
      if (c.broken || (c.up.shut && c.down.shut)) {
        if (c.broken) {
          Reset(c.client);
          Reset(c.target);
        } else {
          ::close(c.client);
          ::close(c.target);
        }
        --open_;
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }
  close_all(/*hard=*/false);
}

}  // namespace edge::testing
