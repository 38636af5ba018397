// The agent's configuration as plain structs: the result of parsing and validating the YAML
// file (config/config_loader.h). Every value here has already been checked (types, ranges,
// names, references), so consumers need no further validation. Keys are those of DESIGN §6
// plus the additions documented in README.md ("Configuration reference").
//
// Library layering: config depends on core only; drivers, storage, inference and agent read
// these structs directly, so the schema is defined once.
//
// Every struct compares member by member (operator==), so that tests can tell whether two files
// mean the same configuration (tests/config/reference_test.cc checks the documented defaults so).
//
// Thread-safety: plain values. A reload parses into a fresh AgentConfig and swaps it whole.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace edge::config {

using Duration = std::chrono::milliseconds;

// Where a value came from, for messages raised after validation (e.g. a device that fails to
// start names the config line that defines it).
struct SourcePos {
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based

  bool operator==(const SourcePos&) const = default;
};

struct GatewayConfig {
  std::string id;        // [A-Za-z0-9_.-]+
  std::string data_dir = "/var/lib/edge-agent";
  std::string log_level = "info";  // trace debug info warn error critical off

  bool operator==(const GatewayConfig&) const = default;
};

struct TlsConfig {
  std::string ca_file;    // empty: the system CA store
  std::string cert_file;  // client certificate (optional; with key_file)
  std::string key_file;
  bool verify_hostname = true;

  bool operator==(const TlsConfig&) const = default;
};

// A broker URI taken apart (config/value_syntax.h ParseBrokerUri).
struct BrokerAddress {
  bool tls = false;  // ssl://
  std::string host;  // without brackets for IPv6
  uint16_t port = 0;

  bool operator==(const BrokerAddress&) const = default;
};

// One MQTT broker connection's settings (upstream, and each MQTT source).
struct BrokerConfig {
  std::string uri;        // tcp://host:port or ssl://host:port, as written (messages, paho)
  BrokerAddress address;  // uri, parsed once by the loader: the drivers do not parse it again
  std::string client_id;
  std::string username;       // empty: no authentication
  std::string password_file;  // file whose first line is the password
  std::optional<TlsConfig> tls;  // required for ssl://
  Duration keepalive{std::chrono::seconds(30)};

  // A BrokerConfig for `uri` with its address parsed and every other setting at its default,
  // for code that builds one without a configuration file (tests, benchmarks). The error is
  // ParseBrokerUri's.
  [[nodiscard]] static StatusOr<BrokerConfig> FromUri(std::string_view uri);

  bool operator==(const BrokerConfig&) const = default;
};

struct UpstreamConfig {
  BrokerConfig broker;
  std::string topic_prefix;  // alarms go to <prefix>/<gateway.id>/alarms/<asset>

  bool operator==(const UpstreamConfig&) const = default;
};

enum class ModbusTable { kCoil, kDiscreteInput, kInputRegister, kHoldingRegister };

enum class ModbusType {
  kBool,    // a coil / discrete input, or bit `bit` of a register
  kInt16,
  kUInt16,
  kInt32,
  kUInt32,
  kInt64,
  kUInt64,
  kFloat32,
  kFloat64,
  kString,  // `length` registers, two ASCII characters per register
};

// Order of the 16-bit words and of the bytes within them, named by where the most significant
// byte of a 32-bit value A B C D ends up: ABCD big endian (Modbus default), CDAB word-swapped,
// BADC byte-swapped, DCBA little endian. Applied by analogy to 64-bit values.
enum class WordOrder { kABCD, kCDAB, kBADC, kDCBA };

struct ModbusTag {
  std::string name;
  ModbusTable table = ModbusTable::kHoldingRegister;
  uint16_t address = 0;  // 0-based protocol address
  ModbusType type = ModbusType::kUInt16;
  WordOrder word_order = WordOrder::kABCD;
  std::optional<uint8_t> bit;  // 0..15: bit of a register (type bool on a register table)
  uint16_t length = 0;         // registers, for type string
  double scale = 1.0;          // value = raw * scale + offset
  double offset = 0.0;
  SourcePos pos;

  bool operator==(const ModbusTag&) const = default;
};

// Registers (or bits, for coil / discrete tables) a tag occupies.
uint16_t RegisterCount(const ModbusTag& tag);

// Registers a numeric type occupies: 1, 2 or 4. REQUIRES: not kString (its length is per tag).
uint16_t FixedRegisterCount(ModbusType type);

// The spellings used in the YAML file: "holding", "float32", "CDAB".
std::string_view ModbusTableName(ModbusTable table);
std::string_view ModbusTypeName(ModbusType type);
std::string_view WordOrderName(WordOrder order);

struct SerialConfig {
  std::string device;  // e.g. /dev/ttyUSB0
  int baud = 19200;
  char parity = 'E';   // N E O
  int data_bits = 8;   // 7 8
  int stop_bits = 1;   // 1 2

  bool operator==(const SerialConfig&) const = default;
};

struct ModbusDevice {
  std::string name;
  // Exactly one of host (Modbus TCP) or serial (Modbus RTU) is set.
  std::string host;
  uint16_t port = 502;
  std::optional<SerialConfig> serial;
  uint8_t unit_id = 1;  // 0..247 (255 accepted for TCP gateways)
  Duration poll_interval{std::chrono::seconds(1)};
  Duration timeout{std::chrono::milliseconds(500)};
  uint16_t max_registers_per_request = 125;  // 1..125; bits: 2000 for coil tables
  uint16_t max_gap = 16;  // unused registers a merged request may bridge
  std::vector<ModbusTag> tags;
  SourcePos pos;

  bool operator==(const ModbusDevice&) const = default;
};

struct MqttSourceTag {
  // May use topic levels matched by wildcards: "{2}.vib_rms" takes topic level 2 (0-based).
  std::string name;
  std::string field;  // JSON pointer ("/rms"); empty: the payload is a plain number
  SourcePos pos;

  bool operator==(const MqttSourceTag&) const = default;
};

struct MqttSource {
  std::string name;
  BrokerConfig broker;  // uri defaults to upstream.broker, client_id to <gateway.id>-<name>
  std::string topic;    // filter; + and # allowed
  int qos = 1;          // 0 1 2
  std::vector<MqttSourceTag> tags;
  std::string timestamp_field;  // JSON pointer; empty: arrival time
  SourcePos pos;

  bool operator==(const MqttSource&) const = default;
};

struct StorageConfig {
  Duration retention{std::chrono::hours(24 * 7)};
  uint64_t max_size_bytes = 2ull << 30;
  // How far ahead of the agent's own clock a reading may be dated; later ones are refused
  // (storage/timestamp_bounds.h).
  Duration max_clock_skew{std::chrono::minutes(5)};

  bool operator==(const StorageConfig&) const = default;
};

struct RepositoryConfig {
  std::string url;  // http:// or https://, ends with '/'
  Duration poll_interval{std::chrono::minutes(5)};
  std::vector<std::string> trusted_keys;  // PEM ed25519 public keys
  std::string ca_file;                    // optional, for https with a private CA
  // Accept a latest.json without latest.json.sig (a repository from before signed latest.json):
  // no expiry, no pin, so a stale mirror can hold the gateway back. Off by default.
  bool allow_unsigned_latest = false;

  bool operator==(const RepositoryConfig&) const = default;
};

struct AlarmConfig {
  std::optional<double> threshold;  // default: the manifest's output.threshold
  int raise_after = 3;              // consecutive anomalous windows to raise
  int clear_after = 10;             // consecutive normal windows to clear

  bool operator==(const AlarmConfig&) const = default;
};

struct Deployment {
  std::string asset;    // [A-Za-z0-9_.-]+, unique
  std::string model;    // name in the repository, or
  std::string package;  // a local package directory
  std::map<std::string, std::string> inputs;  // manifest feature -> tag name
  AlarmConfig alarm;
  Duration max_input_age{0};  // 0: three model steps
  SourcePos pos;

  bool operator==(const Deployment&) const = default;
};

struct ModelsConfig {
  std::optional<RepositoryConfig> repository;
  // What each loaded model may hold (inference/memory_budget.h), 1MiB..1TiB.
  uint64_t memory_budget = 256ull << 20;
  std::vector<Deployment> deployments;

  bool operator==(const ModelsConfig&) const = default;
};

struct HttpConfig {
  std::string listen;  // host:port; empty: no HTTP endpoint

  bool operator==(const HttpConfig&) const = default;
};

// One telemetry stream (DESIGN §10): the readings of the tags its globs match, sent upstream
// on <prefix>/<gateway.id>/telemetry/<name> from a durable cursor in samples.db.
struct TelemetryStream {
  std::string name;               // [A-Za-z0-9_.-]+, unique, not "alarm-context"
  std::vector<std::string> tags;  // globs (* and ?) over whole tag names; at least one
  enum class Mode { kRaw, kDeadband, kAggregate } mode = Mode::kRaw;
  double deadband = 0;            // deadband mode: the band, >= 0, absolute or
  bool deadband_percent = false;  //   a percentage of |last sent value|
  Duration max_interval{0};       // deadband mode: send at least this often; 0: no such send
  Duration period{0};             // aggregate mode: >= 1s, aligned to the Unix epoch
  enum class Encoding { kJson, kInflux, kSparkplugB } encoding = Encoding::kJson;
  int max_batch = 1000;         // readings per message, 1..100000
  uint64_t max_rate_bytes = 0;  // payload bytes per second; 0: unlimited
  bool start_oldest = false;    // where a new stream starts: false now, true the oldest reading
  SourcePos pos;

  bool operator==(const TelemetryStream&) const = default;
};

// The spellings used in the YAML file. constexpr: the loader builds its tables of accepted
// values from them, so each spelling is written once.
constexpr std::string_view TelemetryModeName(TelemetryStream::Mode mode) {
  switch (mode) {
    case TelemetryStream::Mode::kRaw:
      return "raw";
    case TelemetryStream::Mode::kDeadband:
      return "deadband";
    case TelemetryStream::Mode::kAggregate:
      return "aggregate";
  }
  return "?";
}

constexpr std::string_view TelemetryEncodingName(TelemetryStream::Encoding encoding) {
  switch (encoding) {
    case TelemetryStream::Encoding::kJson:
      return "json";
    case TelemetryStream::Encoding::kInflux:
      return "influx";
    case TelemetryStream::Encoding::kSparkplugB:
      return "sparkplug_b";
  }
  return "?";
}

// The stream name of the alarm context messages (DESIGN §10): reserved, no telemetry stream
// may take it.
inline constexpr std::string_view kAlarmContextStream = "alarm-context";

// The raw readings of a deployment's inputs around each raised alarm, sent as stream
// kAlarmContextStream. Present in the file = enabled.
struct AlarmContextConfig {
  bool enabled = false;
  Duration before{std::chrono::seconds(60)};  // 0..1h before the alarm
  Duration after{std::chrono::seconds(30)};   // 0..1h after it

  bool operator==(const AlarmContextConfig&) const = default;
};

// The uplink section; needs an upstream broker.
struct UplinkConfig {
  std::vector<TelemetryStream> telemetry;
  AlarmContextConfig alarm_context;

  bool operator==(const UplinkConfig&) const = default;
};

struct AgentConfig {
  std::string path;  // the file this was loaded from
  GatewayConfig gateway;
  std::optional<UpstreamConfig> upstream;
  std::vector<ModbusDevice> modbus;
  std::vector<MqttSource> mqtt_sources;
  StorageConfig storage;
  ModelsConfig models;
  HttpConfig http;
  UplinkConfig uplink;

  bool operator==(const AgentConfig&) const = default;
};

}  // namespace edge::config
