// The HTTP endpoint of `http.listen` (DESIGN §6): GET /metrics and GET /health (agent/metrics.h),
// served by cpp-httplib on its own threads, each request rendered from a fresh snapshot of the
// pipeline. Anything else is 404; only GET and HEAD are answered.
//
// DESIGN: threads. cpp-httplib's listener thread and its worker pool; they only read the
// pipeline (Snapshot, Stuck), which is safe from any thread.
// Thread-safety: Start and the destructor from the owner thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "agent/pipeline.h"
#include "core/status.h"

namespace httplib {
class Server;
}

namespace edge::agent {

class HttpEndpoint {
 public:
  // Binds `listen` ("host:port") and serves until destroyed. Unavailable naming the address if
  // it cannot be bound (in use, or not an address of this machine). `stuck_limit` is what
  // /health calls a stuck stage.
  [[nodiscard]] static StatusOr<std::unique_ptr<HttpEndpoint>> Start(
      const std::string& listen, const Pipeline& pipeline, std::chrono::milliseconds stuck_limit);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

 private:
  HttpEndpoint() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace edge::agent
