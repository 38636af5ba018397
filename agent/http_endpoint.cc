#include "agent/http_endpoint.h"

#include <fmt/format.h>

#include "agent/metrics.h"
#include "core/version.h"

namespace edge::agent {

StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& listen,
                                                            std::chrono::milliseconds stuck_limit,
                                                            const HttpLimits& limits) {
  const size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const int port = std::stoi(listen.substr(colon + 1));  // validated by the config loader

  std::unique_ptr<HttpEndpoint> endpoint(new HttpEndpoint(stuck_limit));
  endpoint->server_ = std::make_unique<BoundedHttpServer>(limits);
  endpoint->AddRoutes();
  BoundedHttpServer& server = *endpoint->server_;
  if (!server.Bind(host, port)) {
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

void HttpEndpoint::AddRoutes() {
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    MutexLock lock(&mu_);
    if (pipeline_ == nullptr) {
      res.status = 503;
      res.set_content("the pipeline is restarting\n", "text/plain");
      return;
    }
    res.set_content(PrometheusText(pipeline_->Snapshot(), kAgentVersion),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    MutexLock lock(&mu_);
    Health health;
    if (pipeline_ == nullptr) {
      health.problems.push_back("the pipeline is restarting");
    } else {
      health = AssessHealth(pipeline_->Snapshot(), pipeline_->Stuck(stuck_limit_));
    }
    res.status = health.ok() ? 200 : 503;
    res.set_content(HealthJson(health), "application/json");
  });
}

void HttpEndpoint::Attach(const Pipeline* pipeline) {
  MutexLock lock(&mu_);
  pipeline_ = pipeline;
}

HttpEndpoint::~HttpEndpoint() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace edge::agent
