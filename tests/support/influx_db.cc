#include "tests/support/influx_db.h"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/support/mosquitto_broker.h"

namespace edge::testing {

InfluxDb::InfluxDb() {
  port_ = FreeLoopbackPort();
  const int rpc_port = FreeLoopbackPort();
  const std::string root = dir_.path().string();
  const std::string config = root + "/influxdb.conf";
  std::ofstream(config) << fmt::format(
      "reporting-disabled = true\n"
      "bind-address = \"127.0.0.1:{1}\"\n"
      "[meta]\n  dir = \"{0}/meta\"\n"
      "[data]\n  dir = \"{0}/data\"\n  wal-dir = \"{0}/wal\"\n  query-log-enabled = false\n"
      "[monitor]\n  store-enabled = false\n"
      "[continuous_queries]\n  enabled = false\n"
      "[http]\n  bind-address = \"127.0.0.1:{2}\"\n  log-enabled = false\n"
      "  max-body-size = 0\n",
      root, rpc_port, port_);
  process_ = std::make_unique<Subprocess>(
      SubprocessOptions{.argv = {"influxd", "-config", config}});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!LoopbackPortAccepts(port_)) {
    if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
      error_ = "influxd did not start: " + process_->Stderr();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string why;
  if (Query("CREATE DATABASE edge", &why).is_null()) error_ = "CREATE DATABASE edge: " + why;
}

InfluxDb::~InfluxDb() {
  if (process_ != nullptr && process_->running()) {
    process_->Signal(SIGTERM);
    if (!process_->Wait(std::chrono::seconds(10))) process_->Signal(SIGKILL);
  }
}

std::string InfluxDb::Write(const std::string& lines) {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(std::chrono::seconds(60));
  httplib::Result r = client.Post("/write?db=edge&precision=ns", lines, "text/plain");
  if (!r) return "no answer from influxd: " + httplib::to_string(r.error());
  if (r->status != 204) return fmt::format("HTTP {}: {}", r->status, r->body);
  return "";
}

nlohmann::json InfluxDb::Query(const std::string& q, std::string* error) {
  httplib::Client client("127.0.0.1", port_);
  client.set_read_timeout(std::chrono::seconds(60));
  httplib::Params params{{"db", "edge"}, {"epoch", "ns"}, {"q", q}};
  httplib::Result r = client.Post("/query", params);
  if (!r) {
    *error = "no answer from influxd: " + httplib::to_string(r.error());
    return nullptr;
  }
  if (r->status != 200) {
    *error = fmt::format("HTTP {}: {}", r->status, r->body);
    return nullptr;
  }
  nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    *error = "not JSON: " + r->body.substr(0, 200);
    return nullptr;
  }
  return j;
}

}  // namespace edge::testing
