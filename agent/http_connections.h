// The connection layer of the HTTP endpoint (agent/http_endpoint.h, issue #23 items 2 and 3):
// cpp-httplib parses requests, routes them and writes responses; this file decides how many
// connections are served, how long each may take and how many bytes it may send, so that no
// client, however slow or hostile, can occupy the endpoint, grow the agent's memory, or delay
// stop and reload.
//
// Why a subclass of httplib::Server and not its settings alone: cpp-httplib 0.11 (Debian's)
// bounds each recv() by its read timeout but not a whole request (a byte every 0.9 s passes a
// 1 s timeout for ever), serves connections from a fixed pool of eight workers fed by an
// unbounded queue (eight tricklers leave every other client waiting), reads chunked bodies and
// bodies without a length with no cap, and its stop() joins workers still waiting on their
// clients. It offers no accept hook, but its per-connection entry point
// (process_and_close_socket) is virtual and its request parser (process_request) takes any
// httplib::Stream. So BoundedHttpServer overrides the entry point with its own connection loop
// and hands process_request a DeadlineStream: a socket whose reads and writes end at one
// deadline per request (the whole head, and any body, from its first byte; from accept for the
// first request) and whose reads end after a byte budget. A connection table knows every open
// socket, so that stop (and eviction) can shut it down at once: every wait in this file is a
// poll() on that socket, which a shutdown() ends.
//
// Limits (HttpLimits, documented in config/REFERENCE.md "http"): at most max_connections open;
// one more evicts the connection that has waited longest for its next request (a slow or idle
// client), or, when every one is being answered, is answered 503 at once. Nothing but GET and
// HEAD is served; a request with a body is answered (405, or 413 over max_body_bytes) without
// reading the body, and its connection closed.
//
// DESIGN: threads. cpp-httplib's listener thread accepts and calls ConnectionThreads::enqueue,
// which starts one thread per admitted connection (at most max_connections) or refuses the
// connection on the listener thread itself. A connection thread owns its socket and ends when the
// client closes, a limit is reached, or the table shuts its socket down (stop, eviction).
// httplib::Server::stop() closes the listening socket; the listener then calls shutdown(), which
// shuts every socket down and joins every connection thread.
// Thread-safety: the table and the thread list are guarded by their own mutexes; the rest
// belongs to one connection thread.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace edge::agent {

struct HttpLimits {
  size_t max_connections = 32;
  // The whole request head (and any body) must arrive within this, from its first byte (from
  // accept for a connection's first request).
  std::chrono::milliseconds request_timeout{2000};
  // The whole response must be taken by the client within this.
  std::chrono::milliseconds response_timeout{5000};
  // A kept-alive connection is closed after this long without a new request.
  std::chrono::milliseconds keep_alive_idle{5000};
  size_t max_requests_per_connection = 100;
  size_t max_head_bytes = 16 * 1024;  // request line and headers
  size_t max_body_bytes = 64 * 1024;  // none is read today: only GET and HEAD are served
};

class ConnectionTable;
class DeadlineStream;

class BoundedHttpServer : public httplib::Server {
 public:
  explicit BoundedHttpServer(const HttpLimits& limits);
  ~BoundedHttpServer() override;
  BoundedHttpServer(const BoundedHttpServer&) = delete;
  BoundedHttpServer& operator=(const BoundedHttpServer&) = delete;

  // bind_to_port, with a listen backlog large enough that a burst of connections does not make
  // the kernel drop a fresh client's SYN (httplib's is 5).
  [[nodiscard]] bool Bind(const std::string& host, int port);

 private:
  bool process_and_close_socket(socket_t sock) override;
  // One request on `stream`; false when the connection must close after it.
  bool ServeOne(DeadlineStream& stream, bool last);

  const HttpLimits limits_;
  std::shared_ptr<ConnectionTable> table_;
};

}  // namespace edge::agent
