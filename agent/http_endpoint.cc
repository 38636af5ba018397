#include "agent/http_endpoint.h"

#include <fmt/format.h>
#include <httplib.h>

#include "agent/metrics.h"
#include "core/version.h"

namespace edge::agent {

StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& listen,
                                                            const Pipeline& pipeline,
                                                            std::chrono::milliseconds stuck_limit) {
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const int port = std::stoi(listen.substr(colon + 1));  // validated by the config loader

  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint());
  endpoint->server_ = std::make_unique<httplib::Server>();
  httplib::Server& server = *endpoint->server_;
  server.Get("/metrics", [&pipeline](const httplib::Request&, httplib::Response& res) {
    res.set_content(PrometheusText(pipeline.Snapshot(), kAgentVersion),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/health", [&pipeline, stuck_limit](const httplib::Request&, httplib::Response& res) {
    const Health health = AssessHealth(pipeline.Snapshot(), pipeline.Stuck(stuck_limit));
    res.status = health.ok() ? 200 : 503;
    res.set_content(HealthJson(health), "application/json");
  });
  if (!server.bind_to_port(host, port)) {
    return Status::Unavailable(fmt::format(
        "http.listen {}: cannot listen there (in use, or not an address of this machine)", listen));
  }
  endpoint->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // httplib's stop() does nothing until the listening thread has marked the server running, so
  // a stop right after the start (a SIGTERM during start-up) would leave it listening for good.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server.is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return endpoint;
}

HttpEndpoint::~HttpEndpoint() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace edge::agent
