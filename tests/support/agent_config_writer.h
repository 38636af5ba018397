// The agent's configuration file as the end-to-end and reliability tests write it: a struct with
// the sections those tests use (gateway, upstream, Modbus devices, MQTT sources, storage, the model
// repository and deployments, http, uplink), rendered as the YAML a user would write. Tests fill in
// the ports of their own peers and change what their scenario needs, instead of each keeping a copy
// of the template. Only what a test sets is written (an empty string or an unset optional is left
// out), so everything else keeps the agent's defaults.
//
// Thread-safety: a plain value; no shared state.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace edge::testing {

struct AgentYaml {
  struct Tag {
    std::string name{};
    int address = 0;
    std::string type = "float32";
    std::string table = "holding";
  };
  struct ModbusDevice {
    std::string name = "plc";
    int port = 0;  // on 127.0.0.1
    std::string poll_interval = "100ms";
    std::string timeout{};
    std::vector<Tag> tags{};
  };
  struct Tls {
    std::string ca_file{};
    std::string cert_file{};
    std::string key_file{};
  };
  struct Upstream {
    std::string broker{};  // URI
    std::string topic_prefix = "plant1";
    std::string keepalive{};
    std::string username{};
    std::string password_file{};
    std::optional<Tls> tls{};
  };
  struct MqttSource {
    std::string name{};
    std::string broker{};  // URI; empty: the upstream broker
    std::string topic{};
    std::vector<std::string> tags{};
    std::string field{};            // the JSON pointer of every tag; empty: a plain number payload
    std::string timestamp_field{};  // empty: arrival time
  };
  struct Repository {
    std::string url{};
    std::string poll_interval{};
    std::string trusted_key{};
    std::string ca_file{};
  };
  // A deployment of the last-value model (tests/support/last_value_model.h): its one feature,
  // "pressure", is fed by `pressure_tag`.
  struct Deployment {
    std::string asset = "pump1";
    std::string package{};  // a package directory, or
    std::string model{};    // a model of the repository
    std::string pressure_tag = "pump1.pressure";
    std::string max_input_age{};
    int raise_after = 3;
    int clear_after = 3;
    std::optional<double> threshold{};  // unset: the package's
  };

  std::string gateway_id{};
  std::string data_dir{};
  std::optional<Upstream> upstream{};
  std::vector<ModbusDevice> modbus{};
  std::vector<MqttSource> mqtt_sources{};
  std::string retention{};  // storage.retention, e.g. "1h"
  std::string max_clock_skew{};  // storage.max_clock_skew, e.g. "2h"
  std::optional<Repository> repository{};
  std::vector<Deployment> deployments{};
  std::string http_listen{};
  // The body of the `uplink:` section (DESIGN §10), already indented by two spaces, e.g.
  // "  telemetry:\n    - {name: raw, tags: [\"*\"]}\n"; empty: no section.
  std::string uplink{};

  // The YAML text, sections in the order above.
  std::string Text() const;
};

}  // namespace edge::testing
