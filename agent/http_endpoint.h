// The HTTP endpoint of `http.listen` (DESIGN §6): GET /metrics and GET /health (agent/metrics.h),
// each request rendered from a fresh snapshot of the pipeline it is attached to. Anything else is
// 404; only GET and HEAD are answered (405 otherwise). The listener outlives a reload: the daemon
// detaches the pipeline it stops (/health then answers 503, "restarting") and attaches the new
// one, so a reload neither waits for clients nor drops the address.
//
// Hostile clients (issue #23): agent/http_connections.h bounds the connections, the time and
// bytes of every request and response, and ends every connection at once on stop; destroying the
// endpoint takes well under a second whatever its clients do.
//
// DESIGN: threads. cpp-httplib's listener thread and one thread per connection
// (agent/http_connections.h); they only read the attached pipeline (Snapshot, Stuck), which is
// safe from any thread, under mu_, so that Attach can wait for the requests reading the old one.
// Thread-safety: Start, Attach and the destructor from the owner thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "agent/http_connections.h"
#include "agent/pipeline.h"
#include "core/mutex.h"
#include "core/status.h"
#include "core/thread_annotations.h"

namespace edge::agent {

class HttpEndpoint {
 public:
  // Binds `listen` ("host:port") and serves until destroyed, with no pipeline attached yet.
  // Unavailable naming the address if it cannot be bound (in use, or not an address of this
  // machine). `stuck_limit` is what /health calls a stuck stage.
  [[nodiscard]] static StatusOr<std::unique_ptr<HttpEndpoint>> Start(
      const std::string& listen, std::chrono::milliseconds stuck_limit,
      const HttpLimits& limits = HttpLimits());
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // What /metrics and /health read from now on (nullptr: nothing, 503). Returns once no request
  // reads the previous pipeline, which may then be destroyed.
  void Attach(const Pipeline* pipeline) EXCLUDES(mu_);

 private:
  explicit HttpEndpoint(std::chrono::milliseconds stuck_limit) : stuck_limit_(stuck_limit) {}
  void AddRoutes();

  const std::chrono::milliseconds stuck_limit_;
  Mutex mu_;
  const Pipeline* pipeline_ GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<BoundedHttpServer> server_;
  std::thread thread_;
};

}  // namespace edge::agent
