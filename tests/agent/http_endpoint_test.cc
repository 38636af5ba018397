// The HTTP endpoint against hostile clients (issue #23 items 2 and 3), written here with raw
// POSIX sockets: tricklers, idle connections, huge and endless bodies, garbage, a 1 MiB header.
// In each case a fresh client must still get /health within a second, the process's resident
// memory must not grow by more than a few MiB, and destroying the endpoint must take under a
// second. The endpoint runs with no pipeline attached (/health answers 503 "restarting"): what
// is tested is the connection handling, which does not depend on what the handlers render.
#include "agent/http_endpoint.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/mosquitto_broker.h"
#include "tests/support/proc_status.h"

namespace edge::agent {
namespace {

using Clock = std::chrono::steady_clock;
using edge::testing::ConnectLoopback;
using edge::testing::FreeLoopbackPort;
using edge::testing::ProcStatusKiB;
using std::chrono::milliseconds;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

int64_t ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

// A raw client socket, connected; -1 if the connection failed.
int Connect(int port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return -1;
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

struct Received {
  std::string data;
  bool closed = false;  // the server closed (or reset) the connection
};

// What the server sends until it closes, for `timeout` at most.
Received ReadUntilClosed(int fd, milliseconds timeout) {
  Received r;
  const auto deadline = Clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return r;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      r.closed = true;
      return r;
    }
    r.data.append(buf, static_cast<size_t>(n));
  }
}

// A fresh, well-behaved client asks for /health; returns the answer's status line ("" if none
// came within `timeout`) and how long it took.
std::string HealthStatusLine(int port, milliseconds timeout, int64_t* took_ms) {
  const auto start = Clock::now();
  const int fd = Connect(port);
  if (fd < 0) return "";
  std::string line;
  if (SendAll(fd, "GET /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")) {
    const Received r = ReadUntilClosed(fd, timeout);
    line = r.data.substr(0, r.data.find("\r\n"));
  }
  ::close(fd);
  if (took_ms != nullptr) *took_ms = ElapsedMs(start);
  return line;
}

class HttpEndpointHostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    limits_.max_connections = 16;
    limits_.request_timeout = milliseconds(600);
    limits_.response_timeout = milliseconds(600);
    limits_.keep_alive_idle = milliseconds(500);
    port_ = FreeLoopbackPort();
    ASSERT_NE(port_, 0) << "no free port on 127.0.0.1";
    auto started = HttpEndpoint::Start("127.0.0.1:" + std::to_string(port_), milliseconds(3000),
                                       limits_);
    ASSERT_TRUE(started.ok()) << started.status().message();
    endpoint_ = std::move(*started);
    rss_before_kib_ = ProcStatusKiB("VmRSS");
  }

  void TearDown() override {
    for (int fd : clients_) ::close(fd);
  }

  // /health must be answered (503: no pipeline attached) within a second.
  void ExpectHealthAnswered(const char* during) {
    int64_t took = 0;
    const std::string line = HealthStatusLine(port_, milliseconds(1000), &took);
    EXPECT_EQ(line, "HTTP/1.1 503 Service Unavailable") << during;
    EXPECT_LT(took, 1000) << during;
    std::printf("[ figure ] %s: a fresh /health answered in %lld ms\n", during,
                static_cast<long long>(took));
  }

  // The sanitizers' shadow memory and per-thread state (TSan: some 150 KiB for each connection
  // thread) grow the RSS by themselves: there the bound is four times larger.
  void ExpectRssGrowthBelowMiB(int64_t mib, const char* during) {
    if (kSanitized) mib *= 4;
    const int64_t grown = ProcStatusKiB("VmRSS") - rss_before_kib_;
    EXPECT_LT(grown, mib * 1024) << during;
    std::printf("[ figure ] %s: RSS grew by %lld KiB\n", during, static_cast<long long>(grown));
  }

  // Destroying the endpoint (stop) must take under a second whatever the clients still do.
  void ExpectQuickStop(const char* during) {
    const auto start = Clock::now();
    endpoint_.reset();
    const int64_t took = ElapsedMs(start);
    EXPECT_LT(took, 1000) << during;
    std::printf("[ figure ] %s: stop took %lld ms\n", during, static_cast<long long>(took));
  }

  int OpenClient() {
    const int fd = Connect(port_);
    if (fd >= 0) clients_.push_back(fd);
    return fd;
  }

  HttpLimits limits_;
  int port_ = 0;
  std::unique_ptr<HttpEndpoint> endpoint_;
  int64_t rss_before_kib_ = 0;
  std::vector<int> clients_;
};

// Clients that send a request head one byte every 200 ms, more of them than the connection
// limit (and than httplib's eight workers): each recv comes well within any per-read timeout,
// so only a bound on the whole head ends them.
class Tricklers {
 public:
  Tricklers(int port, int count) {
    for (int i = 0; i < count; ++i) {
      const int fd = Connect(port);
      if (fd >= 0) {
        fds_.push_back(fd);
        closed_after_ms_.push_back(-1);
      }
    }
    thread_ = std::thread([this] { Run(); });
  }
  ~Tricklers() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  // How long after the start each one was closed by the server (-1: still open).
  std::vector<int64_t> ClosedAfterMs() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return closed_after_ms_;
  }

 private:
  void Run() {
    const std::string head = "GET /health HTTP/1.1\r\nX-Slow: ";
    size_t i = 0;
    while (!stop_) {
      for (size_t c = 0; c < fds_.size(); ++c) {
        if (closed_after_ms_[c] >= 0) continue;
        const char byte = i < head.size() ? head[i] : 'a';
        pollfd p{fds_[c], POLLIN, 0};
        const bool hung_up = ::poll(&p, 1, 0) > 0;  // the server closed it (EOF or reset)
        if (hung_up || ::send(fds_[c], &byte, 1, MSG_NOSIGNAL) != 1) {
          closed_after_ms_[c] = ElapsedMs(start_);
        }
      }
      ++i;
      std::this_thread::sleep_for(milliseconds(200));
    }
  }

  const Clock::time_point start_ = Clock::now();
  std::vector<int> fds_;
  std::vector<int64_t> closed_after_ms_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(HttpEndpointHostileTest, TricklersAreCutAtTheRequestTimeoutAndHealthIsStillAnswered) {
  Tricklers tricklers(port_, 24);
  std::this_thread::sleep_for(milliseconds(300));  // let them occupy whatever they can
  ExpectHealthAnswered("24 tricklers");
  std::this_thread::sleep_for(milliseconds(1200));
  // request_timeout (600 ms) plus the linger (200 ms) and a poll round: every one is cut,
  // although each sends a byte every 200 ms.
  for (int64_t closed_after : tricklers.ClosedAfterMs()) {
    EXPECT_GE(closed_after, 0) << "a trickler was still connected after 1.5 s";
    EXPECT_LT(closed_after, 1500);
  }
  ExpectRssGrowthBelowMiB(4, "24 tricklers");
}

TEST_F(HttpEndpointHostileTest, TricklersDoNotDelayStop) {
  Tricklers tricklers(port_, 24);
  std::this_thread::sleep_for(milliseconds(300));
  ExpectQuickStop("24 tricklers");
}

TEST_F(HttpEndpointHostileTest, TwoHundredIdleConnectionsLeaveHealthAnswered) {
  for (int i = 0; i < 200; ++i) ASSERT_GE(OpenClient(), 0) << "connection " << i;
  std::this_thread::sleep_for(milliseconds(100));
  ExpectHealthAnswered("200 idle connections");
  ExpectRssGrowthBelowMiB(4, "200 idle connections");
  for (int i = 0; i < 50; ++i) ASSERT_GE(OpenClient(), 0);
  ExpectQuickStop("250 idle connections");
}

TEST_F(HttpEndpointHostileTest, AKeptAliveConnectionIsClosedWhenIdle) {
  const int fd = OpenClient();
  ASSERT_TRUE(SendAll(fd, "GET /health HTTP/1.1\r\nHost: gw\r\n\r\n"));
  const auto start = Clock::now();
  const Received r = ReadUntilClosed(fd, milliseconds(3000));
  EXPECT_EQ(r.data.rfind("HTTP/1.1 503", 0), 0u) << r.data;
  EXPECT_TRUE(r.closed);
  EXPECT_LT(ElapsedMs(start), 1200);  // keep_alive_idle is 500 ms
}

TEST_F(HttpEndpointHostileTest, AHugeContentLengthIsRefusedWithoutReadingTheBody) {
  const int fd = OpenClient();
  ASSERT_TRUE(
      SendAll(fd, "POST /metrics HTTP/1.1\r\nHost: gw\r\nContent-Length: 104857600\r\n\r\n"));
  // As much of the body as the socket takes, without waiting for the server to read it.
  const std::string chunk(64 * 1024, 'x');
  size_t offered = 0;
  while (offered < 8u * 1024 * 1024 &&
         ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT) > 0) {
    offered += chunk.size();
  }
  const Received r = ReadUntilClosed(fd, milliseconds(1000));
  EXPECT_EQ(r.data.rfind("HTTP/1.1 413", 0), 0u) << r.data.substr(0, 200);
  EXPECT_TRUE(r.closed);
  ExpectHealthAnswered("a 100 MiB POST");
  ExpectRssGrowthBelowMiB(4, "a 100 MiB POST");
}

TEST_F(HttpEndpointHostileTest, AnyMethodButGetAndHeadIsRefusedAndTheBodyNotRead) {
  const int fd = OpenClient();
  ASSERT_TRUE(SendAll(fd, "DELETE /health HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nabcde"));
  const Received r = ReadUntilClosed(fd, milliseconds(1000));
  EXPECT_EQ(r.data.rfind("HTTP/1.1 405", 0), 0u) << r.data;
  EXPECT_NE(r.data.find("Allow: GET, HEAD"), std::string::npos) << r.data;
  EXPECT_TRUE(r.closed);
}

TEST_F(HttpEndpointHostileTest, AClientThatAsksBeforeSendingItsBodyIsRefusedAtOnce) {
  const int fd = OpenClient();
  ASSERT_TRUE(SendAll(fd,
                      "PUT /metrics HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\n"
                      "Content-Length: 1073741824\r\n\r\n"));
  const Received r = ReadUntilClosed(fd, milliseconds(1000));
  EXPECT_EQ(r.data.rfind("HTTP/1.1 413", 0), 0u) << r.data;  // not "100 Continue"
  EXPECT_TRUE(r.closed);
}

TEST_F(HttpEndpointHostileTest, HeadIsAnsweredWithoutABody) {
  const int fd = OpenClient();
  ASSERT_TRUE(SendAll(fd, "HEAD /health HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n"));
  const Received r = ReadUntilClosed(fd, milliseconds(1000));
  EXPECT_EQ(r.data.rfind("HTTP/1.1 503", 0), 0u) << r.data;
  EXPECT_EQ(r.data.find("restarting"), std::string::npos) << r.data;
  EXPECT_TRUE(r.closed);
}

TEST_F(HttpEndpointHostileTest, AChunkedBodyThatNeverEndsIsRefusedAndClosed) {
  for (const char* method : {"POST", "GET"}) {
    const int fd = OpenClient();
    ASSERT_TRUE(SendAll(fd, std::string(method) +
                                " /health HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"));
    std::atomic<bool> stop{false};
    std::thread feeder([&] {
      const std::string chunk = "1000\r\n" + std::string(4096, 'y') + "\r\n";
      while (!stop && SendAll(fd, chunk)) std::this_thread::sleep_for(milliseconds(5));
    });
    const Received r = ReadUntilClosed(fd, milliseconds(1500));
    stop = true;
    feeder.join();
    EXPECT_EQ(r.data.rfind(std::string("HTTP/1.1 ") +
                               (std::string(method) == "GET" ? "503" : "405"), 0), 0u)
        << method << ": " << r.data.substr(0, 200);
    EXPECT_TRUE(r.closed) << method;
  }
  ExpectHealthAnswered("endless chunked bodies");
  ExpectRssGrowthBelowMiB(4, "endless chunked bodies");
}

TEST_F(HttpEndpointHostileTest, GarbageIsAnswered400OrClosed) {
  const std::vector<std::string> garbage = {
      std::string("\x00\x01\x02\xff garbage\r\n\r\n", 15),
      "GET\r\n\r\n",
      "GET /health\r\n\r\n",
      "GET /health HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "\r\n\r\n\r\n",
      std::string(100 * 1024, 'Z'),  // a request line with no end
      "GET /../../etc/passwd HTTP/1.1\r\n\r\n",
  };
  for (const std::string& g : garbage) {
    const int fd = OpenClient();
    ASSERT_TRUE(SendAll(fd, g) || true);
    const Received r = ReadUntilClosed(fd, milliseconds(1500));
    EXPECT_TRUE(r.closed) << g.substr(0, 40);
    std::printf("[ garbage ] %zu bytes -> %s\n", g.size(),
                r.data.substr(0, r.data.find('\r')).c_str());
    if (!r.data.empty()) {
      EXPECT_EQ(r.data.rfind("HTTP/1.1 4", 0), 0u) << r.data.substr(0, 100);
    }
  }
  ExpectHealthAnswered("garbage requests");
}

TEST_F(HttpEndpointHostileTest, AOneMiBHeaderIsRefusedWithoutGrowingMemory) {
  const int fd = OpenClient();
  std::atomic<bool> done{false};
  std::thread sender([&] {
    SendAll(fd, "GET /health HTTP/1.1\r\nX-Big: " + std::string(1024 * 1024, 'h') + "\r\n\r\n");
    done = true;
  });
  const Received r = ReadUntilClosed(fd, milliseconds(1500));
  ::shutdown(fd, SHUT_RDWR);  // the sender may still be blocked on a full socket
  sender.join();
  EXPECT_TRUE(r.closed);
  if (!r.data.empty()) {
    EXPECT_EQ(r.data.rfind("HTTP/1.1 4", 0), 0u) << r.data.substr(0, 100);
  }
  ExpectHealthAnswered("a 1 MiB header");
  ExpectRssGrowthBelowMiB(4, "a 1 MiB header");
}

TEST_F(HttpEndpointHostileTest, APipelinedFloodEndsAfterTheRequestsPerConnection) {
  const int fd = OpenClient();
  std::string many;
  for (int i = 0; i < 2000; ++i) many += "GET /health HTTP/1.1\r\nHost: gw\r\n\r\n";
  ASSERT_TRUE(SendAll(fd, many));
  const Received r = ReadUntilClosed(fd, milliseconds(2000));
  EXPECT_TRUE(r.closed);
  size_t answers = 0;
  for (size_t at = r.data.find("HTTP/1.1 503"); at != std::string::npos;
       at = r.data.find("HTTP/1.1 503", at + 1)) {
    ++answers;
  }
  EXPECT_EQ(answers, limits_.max_requests_per_connection);
  ExpectQuickStop("after a pipelined flood");
}

}  // namespace
}  // namespace edge::agent
