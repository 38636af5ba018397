#include "drivers/mqtt_publisher.h"

namespace edge::drivers {

StatusOr<std::unique_ptr<MqttPublisher>> MqttPublisher::Create(const config::BrokerConfig& broker,
                                                               Options options) {
  if (options.will &&
      (options.will->topic.empty() || options.will->qos < 0 || options.will->qos > 2)) {
    return Status::InvalidArgument(options.name + ": a Last Will needs a topic and QoS 0..2");
  }
  MqttConnection::Options co;
  co.name = options.name;
  co.clean_session = false;
  co.will = std::move(options.will);
  co.max_inflight = options.max_inflight;
  co.backoff_initial = options.backoff_initial;
  co.backoff_max = options.backoff_max;
  co.on_connected = std::move(options.on_connected);
  StatusOr<std::unique_ptr<MqttConnection>> c = MqttConnection::Create(broker, std::move(co));
  if (!c.ok()) return c.status();
  for (std::string& filter : options.subscriptions) (*c)->AddSubscription(std::move(filter), 1);
  if (options.on_message) (*c)->SetMessageHandler(std::move(options.on_message));
  return std::unique_ptr<MqttPublisher>(new MqttPublisher(std::move(*c)));
}

}  // namespace edge::drivers
