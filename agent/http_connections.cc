#include "agent/http_connections.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <list>
#include <map>
#include <string_view>
#include <thread>

#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace edge::agent {
namespace {

using Clock = std::chrono::steady_clock;

// Linux takes a second listen() on a listening socket as its new backlog.
constexpr int kListenBacklog = 128;
// How long a new connection over the limit waits for the one it evicted to end.
constexpr auto kEvictionWait = std::chrono::milliseconds(200);
// What a closing connection still reads and drops (Linger).
constexpr auto kLingerTime = std::chrono::milliseconds(200);
constexpr size_t kLingerBytes = 256 * 1024;

constexpr std::string_view kTooBusy =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
    "Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n";

// Set on the listener thread while it refuses a connection (ConnectionThreads::enqueue): the
// task httplib enqueued runs there and answers kTooBusy instead of serving.
thread_local bool t_refuse_connection = false;

// Until `fd` is ready for `events` (or hung up, or shut down) or `deadline` passes; false then.
bool PollUntil(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
    if (ready > 0) return true;  // the recv or send that follows tells data from an error
    if (ready < 0 && errno != EINTR) return false;
  }
}

// Before close: a client may still be sending (a body nobody read), and closing a socket with
// unread data answers with a reset, which can destroy the response before the client reads it.
// So the write side is shut and what still arrives is dropped, for a moment at most.
void Linger(int fd) {
  ::shutdown(fd, SHUT_WR);
  const auto deadline = Clock::now() + kLingerTime;
  char buf[4096];
  size_t drained = 0;
  while (drained < kLingerBytes && PollUntil(fd, POLLIN, deadline)) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
    if (n > 0) drained += static_cast<size_t>(n);
  }
}

void NumericAddress(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0) return;
  char host[NI_MAXHOST];
  char serv[NI_MAXSERV];
  if (::getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(serv);
  }
}

// Only GET and HEAD are served. Anything else, and anything announcing a body over the cap, is
// answered before its body is read; true when `res` holds that answer.
bool Refuse(const httplib::Request& req, httplib::Response& res, size_t max_body_bytes) {
  const bool too_large = req.has_header("Content-Length") &&
                         req.get_header_value<uint64_t>("Content-Length") > max_body_bytes;
  if (!too_large && (req.method == "GET" || req.method == "HEAD")) return false;
  res.status = too_large ? 413 : 405;
  res.set_header("Allow", "GET, HEAD");
  res.set_content(too_large ? "request body too large\n" : "only GET and HEAD are served\n",
                  "text/plain");
  return true;
}

}  // namespace

// Every open connection's socket, so that stop and eviction can shut it down from another
// thread. A socket leaves the table before it is closed, so a shutdown never reaches a number
// the kernel has given to something else.
class ConnectionTable {
 public:
  // False once stopping: the caller closes the socket.
  [[nodiscard]] bool Add(int fd) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (stopping_) return false;
    open_[fd] = Entry{Clock::now(), false, false};
    return true;
  }

  // Answering: its request head is in, and it is being answered (not evicted then).
  void SetAnswering(int fd, bool answering) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    auto it = open_.find(fd);
    if (it == open_.end()) return;
    it->second.answering = answering;
    if (!answering) it->second.waiting_since = Clock::now();
  }

  void Remove(int fd) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    open_.erase(fd);
  }

  // Shuts down the connection that has waited longest for a request; false when every one is
  // being answered (or already evicted).
  bool EvictLongestWaiting() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    auto victim = open_.end();
    for (auto it = open_.begin(); it != open_.end(); ++it) {
      if (it->second.answering || it->second.evicted) continue;
      if (victim == open_.end() || it->second.waiting_since < victim->second.waiting_since) {
        victim = it;
      }
    }
    if (victim == open_.end()) return false;
    victim->second.evicted = true;
    ::shutdown(victim->first, SHUT_RDWR);
    return true;
  }

  // Stop: every open connection ends at once, and no new one is served.
  void ShutdownAll() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    stopping_ = true;
    for (const auto& [fd, entry] : open_) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  struct Entry {
    Clock::time_point waiting_since;
    bool answering;
    bool evicted;
  };
  Mutex mu_;
  std::map<int, Entry> open_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
};

namespace {

// httplib's task queue (Server::new_task_queue): one thread per admitted connection, at most
// `max`; see the DESIGN note in the header.
class ConnectionThreads : public httplib::TaskQueue {
 public:
  ConnectionThreads(std::shared_ptr<ConnectionTable> table, size_t max)
      : table_(std::move(table)), max_(max) {}
  ~ConnectionThreads() override { shutdown(); }

  // On the listener thread, once per accepted connection.
  void enqueue(std::function<void()> fn) override {
    std::list<Worker> finished;
    bool admitted = false;
    {
      MutexLock lock(&mu_);
      if (live_ >= max_ && table_->EvictLongestWaiting()) {
        const auto deadline = Clock::now() + kEvictionWait;
        while (live_ >= max_) {
          if (!cv_.WaitUntil(&mu_, deadline)) break;
        }
      }
      for (auto it = workers_.begin(); it != workers_.end();) {
        auto next = std::next(it);
        if (it->done) finished.splice(finished.end(), workers_, it);
        it = next;
      }
      if (live_ < max_) {
        ++live_;
        Worker& worker = workers_.emplace_back();
        worker.thread = std::thread([this, &worker, fn = std::move(fn)] {
          fn();
          MutexLock done_lock(&mu_);
          worker.done = true;
          --live_;
          cv_.NotifyAll();
        });
        admitted = true;
      }
    }
    for (Worker& worker : finished) worker.thread.join();
    if (!admitted) {
      t_refuse_connection = true;
      fn();
      t_refuse_connection = false;
    }
  }

  // After the listener's last accept: ends every connection and joins its thread.
  void shutdown() override {
    table_->ShutdownAll();
    std::list<Worker> all;
    {
      MutexLock lock(&mu_);
      all.swap(workers_);  // elements keep their addresses: a running thread's `worker` stays
    }
    for (Worker& worker : all) worker.thread.join();
  }

 private:
  struct Worker {
    std::thread thread;
    bool done = false;  // guarded by mu_ (as part of workers_)
  };

  const std::shared_ptr<ConnectionTable> table_;
  const size_t max_;
  Mutex mu_;
  CondVar cv_;
  std::list<Worker> workers_ GUARDED_BY(mu_);
  size_t live_ GUARDED_BY(mu_) = 0;
};

}  // namespace

// A connection's socket as httplib reads and writes it: buffered reads that end at the request's
// deadline or after its byte budget, writes that end at the response's deadline. Every wait is a
// poll() that the table's shutdown() ends.
class DeadlineStream : public httplib::Stream {
 public:
  explicit DeadlineStream(int fd) : fd_(fd) {}

  // A new request: its reads end at `deadline` and after `head_bytes`; an error answer to it,
  // `response_time` after the deadline.
  void BeginRequest(Clock::time_point deadline, size_t head_bytes,
                    std::chrono::milliseconds response_time) {
    read_deadline_ = deadline;
    write_deadline_ = deadline + response_time;
    budget_ = head_bytes;
  }
  // Its head is in: what may follow is a body of `body_bytes`, and the answer must be taken by
  // `deadline`.
  void BeginResponse(Clock::time_point deadline, size_t body_bytes) {
    write_deadline_ = deadline;
    budget_ = body_bytes;
  }
  // Until the next request's first byte, for `idle` at most; false when none comes.
  bool AwaitRequest(std::chrono::milliseconds idle) {
    return start_ < end_ || Fill(Clock::now() + idle) > 0;
  }

  bool is_readable() const override {
    return start_ < end_ || PollUntil(fd_, POLLIN, read_deadline_);
  }
  bool is_writable() const override { return PollUntil(fd_, POLLOUT, write_deadline_); }

  ssize_t read(char* ptr, size_t size) override {
    if (budget_ == 0) return -1;
    if (start_ == end_) {
      const ssize_t filled = Fill(read_deadline_);
      if (filled <= 0) return filled;
    }
    const size_t n = std::min({size, budget_, end_ - start_});
    std::memcpy(ptr, buf_ + start_, n);
    start_ += n;
    budget_ -= n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    for (;;) {
      const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !PollUntil(fd_, POLLOUT, write_deadline_)) {
        return -1;
      }
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    NumericAddress(fd_, /*peer=*/true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    NumericAddress(fd_, /*peer=*/false, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  // Refills the empty buffer: its size, 0 at end of stream, -1 on error or at `deadline`.
  ssize_t Fill(Clock::time_point deadline) {
    start_ = end_ = 0;
    for (;;) {
      const ssize_t n = ::recv(fd_, buf_, sizeof(buf_), MSG_DONTWAIT);
      if (n >= 0) {
        end_ = static_cast<size_t>(n);
        return n;
      }
      if (errno == EINTR) continue;
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !PollUntil(fd_, POLLIN, deadline)) {
        return -1;
      }
    }
  }

  const int fd_;
  Clock::time_point read_deadline_{};
  Clock::time_point write_deadline_{};
  size_t budget_ = 0;
  char buf_[4096];
  size_t start_ = 0;
  size_t end_ = 0;
};

BoundedHttpServer::BoundedHttpServer(const HttpLimits& limits)
    : limits_(limits), table_(std::make_shared<ConnectionTable>()) {
  new_task_queue = [table = table_, max = limits.max_connections]() -> httplib::TaskQueue* {
    return new ConnectionThreads(table, max);
  };
  set_payload_max_length(limits.max_body_bytes);
  set_keep_alive_max_count(limits.max_requests_per_connection);
  // Only what the Keep-Alive header announces; the connection loop below enforces it.
  set_keep_alive_timeout(std::chrono::ceil<std::chrono::seconds>(limits.keep_alive_idle).count());
  const size_t max_body = limits.max_body_bytes;
  set_pre_routing_handler([max_body](const httplib::Request& req, httplib::Response& res) {
    return Refuse(req, res, max_body) ? HandlerResponse::Handled : HandlerResponse::Unhandled;
  });
  // A client that asks before sending its body gets the refusal instead of "100 Continue".
  set_expect_100_continue_handler([max_body](const httplib::Request& req,
                                             httplib::Response& res) {
    return Refuse(req, res, max_body) ? res.status : 100;
  });
}

BoundedHttpServer::~BoundedHttpServer() = default;

bool BoundedHttpServer::Bind(const std::string& host, int port) {
  if (!bind_to_port(host, port)) return false;
  ::listen(svr_sock_, kListenBacklog);  // a failure leaves httplib's backlog, which still works
  return true;
}

bool BoundedHttpServer::process_and_close_socket(socket_t sock) {
  if (t_refuse_connection || !table_->Add(sock)) {
    if (t_refuse_connection) {
      [[maybe_unused]] ssize_t sent =
          ::send(sock, kTooBusy.data(), kTooBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::close(sock);
    return false;
  }
  DeadlineStream stream(sock);
  // The first request's time runs from accept; a later one's from its first byte.
  stream.BeginRequest(Clock::now() + limits_.request_timeout, limits_.max_head_bytes,
                      limits_.response_timeout);
  for (size_t served = 1;; ++served) {
    const bool last = served >= limits_.max_requests_per_connection;
    if (!ServeOne(stream, last) || last) break;
    if (!stream.AwaitRequest(limits_.keep_alive_idle)) break;
    stream.BeginRequest(Clock::now() + limits_.request_timeout, limits_.max_head_bytes,
                        limits_.response_timeout);
  }
  Linger(sock);
  table_->Remove(sock);
  ::close(sock);
  return true;
}

bool BoundedHttpServer::ServeOne(DeadlineStream& stream, bool last) {
  const int fd = stream.socket();
  bool head_in = false;
  bool keep_open = true;
  bool client_closes = false;
  const bool answered =
      process_request(stream, last, client_closes, [&](httplib::Request& req) {
        head_in = true;
        table_->SetAnswering(fd, true);
        stream.BeginResponse(Clock::now() + limits_.response_timeout, limits_.max_body_bytes);
        // A body nobody reads would be taken for the next request: such a connection ends
        // after its answer, and the answer says so.
        const bool has_body =
            (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0") ||
            req.has_header("Transfer-Encoding");
        if (has_body || (req.method != "GET" && req.method != "HEAD")) {
          keep_open = false;
          req.headers.erase("Connection");
          req.set_header("Connection", "close");
        }
      });
  table_->SetAnswering(fd, false);
  // A head that did not parse (answered 400) leaves the stream at an unknown place: close.
  return answered && head_in && keep_open && !client_closes;
}

}  // namespace edge::agent
