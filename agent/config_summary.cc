#include "agent/config_summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string_view>
#include <vector>

#include "config/units.h"

namespace edge::agent {
namespace {

std::string Plural(size_t n, const char* singular, const char* plural) {
  return fmt::format("{} {}", n, n == 1 ? singular : plural);
}

std::string Endpoint(const config::ModbusDevice& device) {
  if (device.serial) {
    const config::SerialConfig& s = *device.serial;
    return fmt::format("rtu {} {} {}{}{}", s.device, s.baud, s.data_bits, s.parity, s.stop_bits);
  }
  return fmt::format("tcp {}:{}", device.host, device.port);
}

// "aggregate every 10s", "deadband 0.5% (at least every 60s)", "raw".
std::string ModeText(const config::TelemetryStream& s) {
  using Mode = config::TelemetryStream::Mode;
  switch (s.mode) {
    case Mode::kRaw:
      break;
    case Mode::kDeadband:
      return fmt::format("deadband {}{}{}", s.deadband, s.deadband_percent ? "%" : "",
                         s.max_interval.count() == 0
                             ? ""
                             : " (at least every " + config::FormatDuration(s.max_interval) + ")");
    case Mode::kAggregate:
      return "aggregate every " + config::FormatDuration(s.period);
  }
  return std::string(config::TelemetryModeName(s.mode));
}

// ", 2 telemetry streams (raw, pumps-10s), alarm context"; "" without an uplink.
std::string UplinkSummary(const config::UplinkConfig& uplink) {
  std::string out;
  if (!uplink.telemetry.empty()) {
    std::vector<std::string_view> names;
    for (const auto& s : uplink.telemetry) names.push_back(s.name);
    out += fmt::format(", {} ({})",
                       Plural(uplink.telemetry.size(), "telemetry stream", "telemetry streams"),
                       fmt::join(names, ", "));
  }
  if (uplink.alarm_context.enabled) out += ", alarm context";
  return out;
}

}  // namespace

std::string SummarizeConfig(const config::AgentConfig& config) {
  size_t modbus_tags = 0;
  for (const auto& device : config.modbus) modbus_tags += device.tags.size();
  size_t mqtt_tags = 0;
  for (const auto& source : config.mqtt_sources) mqtt_tags += source.tags.size();
  return fmt::format(
      "{} ({}), {} ({}), {}{}", Plural(config.modbus.size(), "Modbus device", "Modbus devices"),
      Plural(modbus_tags, "tag", "tags"),
      Plural(config.mqtt_sources.size(), "MQTT source", "MQTT sources"),
      Plural(mqtt_tags, "tag", "tags"),
      Plural(config.models.deployments.size(), "model deployment", "model deployments"),
      UplinkSummary(config.uplink));
}

void LogConfiguration(const config::AgentConfig& config, spdlog::logger& log) {
  log.info("gateway {}: {}", config.gateway.id, SummarizeConfig(config));
  if (config.upstream) {
    log.info("upstream broker {} (client id {}), topics under {}/{}/", config.upstream->broker.uri,
             config.upstream->broker.client_id, config.upstream->topic_prefix, config.gateway.id);
  }
  for (const auto& device : config.modbus) {
    log.info("modbus device {}: {} unit {}, {}, poll every {}, timeout {}", device.name,
             Endpoint(device), device.unit_id, Plural(device.tags.size(), "tag", "tags"),
             config::FormatDuration(device.poll_interval), config::FormatDuration(device.timeout));
  }
  for (const auto& source : config.mqtt_sources) {
    log.info("mqtt source {}: {} topic '{}' qos {}, {}", source.name, source.broker.uri,
             source.topic, source.qos, Plural(source.tags.size(), "tag", "tags"));
  }
  for (const auto& d : config.models.deployments) {
    log.info("deployment {}: {} {}, {}, raise after {}, clear after {}", d.asset,
             d.package.empty() ? "model" : "package", d.package.empty() ? d.model : d.package,
             Plural(d.inputs.size(), "input", "inputs"), d.alarm.raise_after, d.alarm.clear_after);
  }
  for (const auto& s : config.uplink.telemetry) {
    log.info(
        "telemetry stream {}: tags {}, {}, {}, up to {} readings a message, rate {}, start {} "
        "(when first created)",
        s.name, fmt::join(s.tags, " "), ModeText(s), config::TelemetryEncodingName(s.encoding),
        s.max_batch, s.max_rate_bytes == 0 ? "unlimited" : config::FormatRate(s.max_rate_bytes),
        s.start_oldest ? "oldest" : "now");
  }
  if (config.uplink.alarm_context.enabled) {
    log.info("alarm context: readings from {} before to {} after each alarm",
             config::FormatDuration(config.uplink.alarm_context.before),
             config::FormatDuration(config.uplink.alarm_context.after));
  }
  if (!config.http.listen.empty()) log.info("http endpoint {}", config.http.listen);
  log.info("storage: retention {}, size cap {} MiB",
           config::FormatDuration(config.storage.retention), config.storage.max_size_bytes >> 20);
}

}  // namespace edge::agent
