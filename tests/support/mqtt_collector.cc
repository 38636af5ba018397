#include "tests/support/mqtt_collector.h"

#include <fmt/format.h>

#include <chrono>
#include <mqtt/async_client.h>

namespace edge::testing {

class MqttCollector::Client {
 public:
  Client(int port, const std::string& client_id)
      : client(fmt::format("tcp://127.0.0.1:{}", port), client_id) {}
  mqtt::async_client client;
};

MqttCollector::MqttCollector(int port, const std::string& client_id, const std::string& filter)
    : client_(std::make_unique<Client>(port, client_id)) {
  client_->client.set_message_callback([this](mqtt::const_message_ptr m) {
    MutexLock lock(&mu_);
    messages_.push_back({m->get_topic(), m->get_payload_str()});
  });
  try {
    client_->client
        .connect(mqtt::connect_options_builder()
                     .clean_session(false)
                     .automatic_reconnect(std::chrono::milliseconds(100), std::chrono::seconds(2))
                     .finalize())
        ->wait();
    client_->client.subscribe(filter, 1)->wait();
  } catch (const mqtt::exception& e) {
    error_ = e.what();
  }
}

MqttCollector::~MqttCollector() {
  try {
    if (client_->client.is_connected()) client_->client.disconnect()->wait();
  } catch (const mqtt::exception&) {
    // The test is over either way.
  }
}

std::vector<MqttCollector::Message> MqttCollector::Messages() const {
  MutexLock lock(&mu_);
  return messages_;
}

size_t MqttCollector::Count() const {
  MutexLock lock(&mu_);
  return messages_.size();
}

}  // namespace edge::testing
