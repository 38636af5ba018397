// MqttCollector: a subscriber written with paho-mqtt-cpp for tests whose payloads are not one
// line each (InfluxDB line protocol), which mosquitto_sub's "topic payload" lines cannot carry.
// It keeps a persistent QoS 1 session (clean_session = false, a fixed client id) and reconnects
// by itself, so the broker queues for it while it is away, as a real consumer's would.
//
// Thread-safety: Messages() and Count() from any thread; paho's thread appends.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace edge::testing {

class MqttCollector {
 public:
  struct Message {
    std::string topic;
    std::string payload;
  };

  // Connects to 127.0.0.1:port as `client_id` and subscribes to `filter` with QoS 1. ok() tells
  // whether that worked; error() says why not.
  MqttCollector(int port, const std::string& client_id, const std::string& filter);
  ~MqttCollector();
  MqttCollector(const MqttCollector&) = delete;
  MqttCollector& operator=(const MqttCollector&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  std::vector<Message> Messages() const EXCLUDES(mu_);
  size_t Count() const EXCLUDES(mu_);

 private:
  class Client;
  std::unique_ptr<Client> client_;
  std::string error_;
  mutable Mutex mu_;
  std::vector<Message> messages_ GUARDED_BY(mu_);
};

}  // namespace edge::testing
