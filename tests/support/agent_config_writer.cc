#include "tests/support/agent_config_writer.h"

#include <fmt/format.h>

namespace edge::testing {
namespace {

// `key: value` at `indent`, or nothing when value is empty.
std::string Line(int indent, const std::string& key, const std::string& value) {
  return value.empty() ? "" : fmt::format("{:{}}{}: {}\n", "", indent, key, value);
}

std::string FlowTls(const AgentYaml::Tls& tls) {
  std::string items;
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string&>{"ca_file", tls.ca_file},
        {"cert_file", tls.cert_file},
        {"key_file", tls.key_file}}) {
    if (!value.empty()) items += fmt::format("{}{}: {}", items.empty() ? "" : ", ", key, value);
  }
  return "{" + items + "}";
}

std::string UpstreamText(const AgentYaml::Upstream& u) {
  std::string text = "upstream:\n" + Line(2, "broker", u.broker) + Line(2, "username", u.username) +
                     Line(2, "password_file", u.password_file) +
                     Line(2, "topic_prefix", u.topic_prefix) + Line(2, "keepalive", u.keepalive);
  if (u.tls) text += Line(2, "tls", FlowTls(*u.tls));
  return text;
}

std::string ModbusText(const std::vector<AgentYaml::ModbusDevice>& devices) {
  std::string text = "modbus:\n";
  for (const AgentYaml::ModbusDevice& d : devices) {
    text += fmt::format("  - name: {}\n    host: 127.0.0.1\n    port: {}\n", d.name, d.port) +
            Line(4, "poll_interval", d.poll_interval) + Line(4, "timeout", d.timeout) +
            "    tags:\n";
    for (const AgentYaml::Tag& t : d.tags) {
      text += fmt::format("      - {{name: {}, table: {}, address: {}, type: {}}}\n", t.name,
                          t.table, t.address, t.type);
    }
  }
  return text;
}

std::string MqttSourcesText(const std::vector<AgentYaml::MqttSource>& sources) {
  std::string text = "mqtt_sources:\n";
  for (const AgentYaml::MqttSource& s : sources) {
    text += fmt::format("  - name: {}\n", s.name) + Line(4, "broker", s.broker) +
            fmt::format("    topic: {}\n", s.topic) +
            Line(4, "timestamp_field", s.timestamp_field) + "    tags:\n";
    for (const std::string& tag : s.tags) {
      text += "      - name: " + tag + "\n" + Line(8, "field", s.field);
    }
  }
  return text;
}

std::string ModelsText(const std::optional<AgentYaml::Repository>& repository,
                       const std::vector<AgentYaml::Deployment>& deployments) {
  std::string text = "models:\n";
  if (repository) {
    text += "  repository:\n" + Line(4, "url", repository->url) +
            Line(4, "poll_interval", repository->poll_interval) +
            Line(4, "trusted_keys", "[" + repository->trusted_key + "]") +
            Line(4, "ca_file", repository->ca_file);
  }
  if (!deployments.empty()) text += "  deployments:\n";
  for (const AgentYaml::Deployment& d : deployments) {
    const std::string threshold =
        d.threshold ? fmt::format(", threshold: {}", *d.threshold) : std::string();
    text += "    - asset: " + d.asset + "\n" + Line(6, "package", d.package) +
            Line(6, "model", d.model) + Line(6, "inputs", "{pressure: " + d.pressure_tag + "}") +
            Line(6, "max_input_age", d.max_input_age) +
            fmt::format("      alarm: {{raise_after: {}, clear_after: {}{}}}\n", d.raise_after,
                        d.clear_after, threshold);
  }
  return text;
}

}  // namespace

std::string AgentYaml::Text() const {
  std::string text = "gateway:\n" + Line(2, "id", gateway_id) + Line(2, "data_dir", data_dir);
  if (upstream) text += UpstreamText(*upstream);
  if (!modbus.empty()) text += ModbusText(modbus);
  if (!mqtt_sources.empty()) text += MqttSourcesText(mqtt_sources);
  if (!retention.empty() || !max_clock_skew.empty()) {
    text += "storage:\n" + Line(2, "retention", retention) +
            Line(2, "max_clock_skew", max_clock_skew);
  }
  if (repository || !deployments.empty()) text += ModelsText(repository, deployments);
  if (!http_listen.empty()) text += "http:\n" + Line(2, "listen", http_listen);
  if (!uplink.empty()) text += "uplink:\n" + uplink;
  return text;
}

}  // namespace edge::testing
