// Shared by the MQTT driver tests: log capture, a queue collector and mosquitto_pub.
#pragma once

#include <spdlog/sinks/ringbuffer_sink.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/bounded_queue.h"
#include "core/logging.h"
#include "core/mutex.h"
#include "core/sample.h"
#include "core/tag_registry.h"
#include "core/thread_annotations.h"
#include "tests/support/eventually.h"
#include "tests/support/mosquitto_broker.h"

namespace edge::testing {

// Routes every logger into a ring buffer the test can search.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096)) {
    LogOptions o;
    o.level = "debug";
    o.format = LogFormat::kConsole;
    o.sink = sink_;
    EDGE_CHECK(InitLogging(o).ok());
  }
  ~LogCapture() { (void)InitLogging(LogOptions()); }
  std::string Text() const {
    std::string all;
    for (const std::string& line : sink_->last_formatted()) all += line;
    return all;
  }
  bool Contains(const std::string& needle) const {
    return Text().find(needle) != std::string::npos;
  }
  bool WaitFor(const std::string& needle, std::chrono::milliseconds timeout) const {
    return Eventually([&] { return Contains(needle); }, timeout);
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

// Drains a queue on its own thread and keeps every sample, by tag name.
class SampleCollector {
 public:
  SampleCollector(BoundedQueue<Sample>& queue, const TagRegistry& registry)
      : queue_(queue), registry_(registry) {
    thread_ = std::thread([this] {
      std::vector<Sample> batch;
      while (!stop_) {
        batch.clear();
        queue_.PopBatch(batch, 4096, std::chrono::milliseconds(20));
        if (batch.empty()) continue;
        MutexLock lock(&mu_);
        for (const Sample& s : batch) by_name_[std::string(registry_.Name(s.tag))].push_back(s);
      }
    });
  }
  ~SampleCollector() {
    stop_ = true;
    thread_.join();
  }
  std::vector<Sample> Of(const std::string& name) {
    MutexLock lock(&mu_);
    return by_name_[name];
  }
  size_t Total() {
    MutexLock lock(&mu_);
    size_t n = 0;
    for (const auto& [name, v] : by_name_) n += v.size();
    return n;
  }
  bool WaitFor(const std::string& name, size_t count, std::chrono::milliseconds timeout) {
    return Eventually([&] { return Of(name).size() >= count; }, timeout);
  }

 private:
  BoundedQueue<Sample>& queue_;
  const TagRegistry& registry_;  // thread-safe
  std::atomic<bool> stop_{false};
  Mutex mu_;
  std::map<std::string, std::vector<Sample>> by_name_ GUARDED_BY(mu_);
  std::thread thread_;
};

// mosquitto_pub one message; `extra` e.g. {"-q", "1"}, {"-r"} or TLS options. Returns the exit
// code (0: published).
inline int MosquittoPub(int port, const std::string& topic, const std::string& payload,
                        std::vector<std::string> extra = {}) {
  SubprocessOptions o;
  o.argv = {"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port), "-t",
            topic,           "-m", payload};
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  return RunCommand(o, std::chrono::seconds(20)).exit_code;
}

}  // namespace edge::testing
