#include "config/config_loader.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/units.h"
#include "config/value_syntax.h"
#include "tests/support/test_files.h"

namespace edge::config {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using edge::testing::ScratchDir;

constexpr char kPublicKey[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEA0dUrrjiRIDPZOleWncg/8dcZDFa7UgDIHU5AhnxviHI=\n"
    "-----END PUBLIC KEY-----\n";

LoadResult Load(std::string_view yaml, const std::string& base_dir = "/nonexistent") {
  return LoadConfigString(yaml, "agent.yaml", base_dir);
}

std::string Errors(const LoadResult& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += d.ToString() + "\n";
  return out;
}

// Loads `yaml`, expecting success.
AgentConfig LoadOk(std::string_view yaml, const std::string& base_dir = "/nonexistent") {
  LoadResult r = Load(yaml, base_dir);
  EXPECT_TRUE(r.ok()) << Errors(r);
  EXPECT_EQ(r.config.has_value(), r.ok());
  return r.config.value_or(AgentConfig{});
}

// The messages (without file and position) of loading `yaml`.
std::vector<std::string> Messages(std::string_view yaml, const std::string& base_dir = "/") {
  std::vector<std::string> out;
  for (const Diagnostic& d : Load(yaml, base_dir).errors) out.push_back(d.message);
  return out;
}

// A one-device configuration; `device` and `tag` are extra "key: value" lines.
std::string Device(const std::string& device, const std::string& tag = "") {
  std::string y = "gateway:\n  id: gw1\nmodbus:\n  - name: plc\n";
  if (device.find("serial:") == std::string::npos) y += "    host: 10.0.0.1\n";
  if (!device.empty()) y += "    " + device + "\n";
  y += "    tags:\n      - name: t1\n";
  if (tag.find("address:") == std::string::npos) y += "        address: 0\n";
  if (!tag.empty()) y += "        " + tag + "\n";
  return y;
}

TEST(Diagnostic, PrintsFileLineColumnAndMessage) {
  Diagnostic d{"agent.yaml", 12, 5, "modbus[0].port: 70000 is out of range (1..65535)"};
  EXPECT_EQ(d.ToString(),
            "agent.yaml:12:5: error: modbus[0].port: 70000 is out of range (1..65535)");
}

TEST(LoadConfig, MinimalConfigGetsTheDocumentedDefaults) {
  const AgentConfig c = LoadOk("gateway:\n  id: line3-pc1\n");
  EXPECT_EQ(c.path, "agent.yaml");
  EXPECT_EQ(c.gateway.id, "line3-pc1");
  EXPECT_EQ(c.gateway.data_dir, "/var/lib/edge-agent");
  EXPECT_EQ(c.gateway.log_level, "info");
  EXPECT_FALSE(c.upstream.has_value());
  EXPECT_TRUE(c.modbus.empty());
  EXPECT_TRUE(c.mqtt_sources.empty());
  EXPECT_EQ(c.storage.retention, std::chrono::hours(24 * 7));
  EXPECT_EQ(c.storage.max_size_bytes, 2ull << 30);
  EXPECT_FALSE(c.models.repository.has_value());
  EXPECT_TRUE(c.models.deployments.empty());
  EXPECT_EQ(c.http.listen, "");
}

TEST(LoadConfig, ModbusDefaults) {
  const AgentConfig c = LoadOk(Device(""));
  ASSERT_EQ(c.modbus.size(), 1u);
  const ModbusDevice& d = c.modbus[0];
  EXPECT_EQ(d.host, "10.0.0.1");
  EXPECT_FALSE(d.serial.has_value());
  EXPECT_EQ(d.port, 502);
  EXPECT_EQ(d.unit_id, 1);
  EXPECT_EQ(d.poll_interval, 1s);
  EXPECT_EQ(d.timeout, 500ms);
  EXPECT_EQ(d.max_registers_per_request, 125);
  EXPECT_EQ(d.max_gap, 16);
  EXPECT_EQ(d.pos.line, 4);
  EXPECT_EQ(d.pos.column, 5);
  ASSERT_EQ(d.tags.size(), 1u);
  const ModbusTag& t = d.tags[0];
  EXPECT_EQ(t.name, "t1");
  EXPECT_EQ(t.table, ModbusTable::kHoldingRegister);
  EXPECT_EQ(t.type, ModbusType::kUInt16);
  EXPECT_EQ(t.word_order, WordOrder::kABCD);
  EXPECT_FALSE(t.bit.has_value());
  EXPECT_EQ(t.scale, 1.0);
  EXPECT_EQ(t.offset, 0.0);
  EXPECT_EQ(t.pos.line, 7);
  EXPECT_EQ(t.pos.column, 9);
}

TEST(LoadConfig, SerialDefaults) {
  const AgentConfig c = LoadOk(Device("serial: {device: /dev/ttyUSB0}"));
  ASSERT_EQ(c.modbus.size(), 1u);
  ASSERT_TRUE(c.modbus[0].serial.has_value());
  const SerialConfig& s = *c.modbus[0].serial;
  EXPECT_EQ(s.device, "/dev/ttyUSB0");
  EXPECT_EQ(s.baud, 19200);
  EXPECT_EQ(s.parity, 'E');
  EXPECT_EQ(s.data_bits, 8);
  EXPECT_EQ(s.stop_bits, 1);
  EXPECT_EQ(c.modbus[0].host, "");
}

TEST(LoadConfig, TypeDefaultsToBoolOnBitTablesAndWithBit) {
  const AgentConfig c = LoadOk(
      "gateway: {id: gw1}\n"
      "modbus:\n"
      "  - name: plc\n"
      "    host: plc.local\n"
      "    tags:\n"
      "      - {name: a, table: coil, address: 0}\n"
      "      - {name: b, table: discrete, address: 0}\n"
      "      - {name: c, table: input, address: 7, bit: 15}\n"
      "      - {name: d, address: 0x10, type: string, length: 125}\n"
      "      - {name: e, address: 65534, type: float32, word_order: DCBA}\n");
  ASSERT_EQ(c.modbus.size(), 1u);
  const auto& tags = c.modbus[0].tags;
  ASSERT_EQ(tags.size(), 5u);
  EXPECT_EQ(tags[0].type, ModbusType::kBool);
  EXPECT_EQ(tags[0].table, ModbusTable::kCoil);
  EXPECT_EQ(tags[1].type, ModbusType::kBool);
  EXPECT_EQ(tags[1].table, ModbusTable::kDiscreteInput);
  EXPECT_EQ(tags[2].type, ModbusType::kBool);
  EXPECT_EQ(tags[2].bit, 15);
  EXPECT_EQ(tags[3].address, 16);
  EXPECT_EQ(tags[3].length, 125);
  EXPECT_EQ(RegisterCount(tags[3]), 125);
  EXPECT_EQ(tags[4].word_order, WordOrder::kDCBA);
  EXPECT_EQ(RegisterCount(tags[4]), 2);
}

TEST(RegisterCount, CountsRegistersPerType) {
  ModbusTag t;
  const std::pair<ModbusType, int> kCases[] = {
      {ModbusType::kBool, 1},  {ModbusType::kInt16, 1},  {ModbusType::kUInt16, 1},
      {ModbusType::kInt32, 2}, {ModbusType::kUInt32, 2}, {ModbusType::kFloat32, 2},
      {ModbusType::kInt64, 4}, {ModbusType::kUInt64, 4}, {ModbusType::kFloat64, 4}};
  for (const auto& [type, count] : kCases) {
    t.type = type;
    EXPECT_EQ(RegisterCount(t), count) << ModbusTypeName(type);
  }
  t.type = ModbusType::kString;
  t.length = 10;
  EXPECT_EQ(RegisterCount(t), 10);
}

// Values on the edge of their documented range are accepted.
TEST(LoadConfig, AcceptsBoundaryValues) {
  const std::vector<std::pair<std::string, std::string>> kCases = {
      {"port: 1", ""},
      {"port: 65535", ""},
      {"unit_id: 0", ""},
      {"unit_id: 247", ""},
      {"unit_id: 255", ""},
      {"poll_interval: 10ms", ""},
      {"poll_interval: 1h", ""},
      {"timeout: 1ms", ""},
      {"timeout: 60s", ""},
      {"max_registers_per_request: 1", ""},
      {"max_registers_per_request: 125", "type: string\n        length: 125"},
      {"max_gap: 0", ""},
      {"max_gap: 125", ""},
      {"serial: {device: /dev/ttyS0, baud: 1200, parity: N, data_bits: 7, stop_bits: 2}", ""},
      {"serial: {device: /dev/ttyS0, baud: 230400, parity: O}\n    unit_id: 247", ""},
      {"", "address: 65535"},
      {"", "address: 65532\n        type: float64"},
      {"", "bit: 0"},
      {"", "type: bool\n        bit: 15"},
      {"", "type: int16\n        word_order: ABCD"},
      {"", "type: uint16\n        word_order: BADC"},
      {"", "type: int16\n        word_order: DCBA"},
      {"", "type: string\n        length: 4\n        word_order: BADC"},
      {"", "type: int64\n        word_order: BADC"},
      {"", "scale: -0.5\n        offset: 1e3"},
      {"", "type: bool\n        bit: 1\n        scale: 1\n        offset: 0"},
  };
  for (const auto& [device, tag] : kCases) {
    const std::string yaml = Device(device, tag);
    LoadResult r = Load(yaml);
    EXPECT_TRUE(r.ok()) << yaml << Errors(r);
  }
}

// Values just outside their range are rejected with a message naming the key.
TEST(LoadConfig, RejectsValuesJustOutOfRange) {
  const std::vector<std::tuple<std::string, std::string, std::string>> kCases = {
      {"port: 0", "", "modbus[0].port: 0 is out of range (1..65535)"},
      {"port: 65536", "", "modbus[0].port: 65536 is out of range (1..65535)"},
      {"unit_id: 248", "",
       "modbus[0].unit_id: 248 is out of range (0..247, or 255 for a TCP gateway)"},
      {"unit_id: -1", "",
       "modbus[0].unit_id: -1 is out of range (0..247, or 255 for a TCP gateway)"},
      {"serial: {device: /dev/ttyS0}\n    unit_id: 255", "",
       "modbus[0].unit_id: 255 is out of range (1..247)"},
      {"poll_interval: 9ms", "", "modbus[0].poll_interval: 9ms is out of range (10ms..1h)"},
      {"poll_interval: 3600001ms", "",
       "modbus[0].poll_interval: 3600001ms is out of range (10ms..1h)"},
      {"timeout: 0ms", "", "modbus[0].timeout: 0ms is out of range (1ms..1m)"},
      {"timeout: 61s", "", "modbus[0].timeout: 61s is out of range (1ms..1m)"},
      {"max_registers_per_request: 0", "",
       "modbus[0].max_registers_per_request: 0 is out of range (1..125)"},
      {"max_registers_per_request: 126", "",
       "modbus[0].max_registers_per_request: 126 is out of range (1..125)"},
      {"max_gap: -1", "", "modbus[0].max_gap: -1 is out of range (0..125)"},
      {"", "address: 65536", "modbus[0].tags[0].address: 65536 is out of range (0..65535)"},
      {"", "address: 65533\n        type: float64",
       "modbus[0].tags[0].address: 65533 + 4 registers exceeds the holding table (max address "
       "65535)"},
      {"", "type: bool\n        bit: -1", "modbus[0].tags[0].bit: -1 is out of range (0..15)"},
      {"", "type: string\n        length: 0",
       "modbus[0].tags[0].length: 0 is out of range (1..125)"},
      {"", "type: string\n        length: 126",
       "modbus[0].tags[0].length: 126 is out of range (1..125)"},
      {"", "scale: .inf", "modbus[0].tags[0].scale: .inf is not a finite number"},
      {"", "offset: 1e999", "modbus[0].tags[0].offset: 1e999 is not a finite number"},
      {"", "length: 4", "modbus[0].tags[0].length: applies to type string only, not uint16"},
      {"", "type: string\n        length: 2\n        word_order: CDAB",
       "modbus[0].tags[0].word_order: CDAB swaps 16-bit words, which string does not have (use "
       "BADC for low byte first)"},
      {"", "type: string\n        length: 2\n        offset: 3",
       "modbus[0].tags[0].offset: applies to numeric types, not string"},
      {"", "table: input\n        type: bool",
       "modbus[0].tags[0].type: bool on an input register needs bit: 0..15 (which bit of the "
       "register)"},
      {"max_registers_per_request: 10", "type: string\n        length: 11",
       "modbus[0].tags[0].length: string needs 11 registers in one request, but "
       "max_registers_per_request is 10"},
  };
  for (const auto& [device, tag, message] : kCases) {
    const std::string yaml = Device(device, tag);
    EXPECT_EQ(Messages(yaml), std::vector<std::string>{message}) << yaml;
  }
}

TEST(LoadConfig, ReportsAllErrorsSortedByPosition) {
  // Faults in sections that are read in another order than they appear.
  const LoadResult r = Load(
      "http:\n"
      "  listen: nowhere\n"
      "storage:\n"
      "  retention: 5\n"
      "gateway:\n"
      "  id: bad id\n"
      "  log_levl: info\n");
  EXPECT_EQ(Errors(r),
            "agent.yaml:2:11: error: http.listen: 'nowhere': missing port, e.g. nowhere:9108\n"
            "agent.yaml:4:14: error: storage.retention: '5' needs a unit (ms, s, m, h, d), e.g. "
            "5ms or 5s\n"
            "agent.yaml:6:7: error: gateway.id: 'bad id' is not a valid id (letters, digits, '_', "
            "'.', '-')\n"
            "agent.yaml:7:3: error: gateway.log_levl: unknown key; did you mean 'log_level'?\n");
  EXPECT_FALSE(r.config.has_value());
}

TEST(LoadConfig, UnknownKeySuggestsOrListsValidKeys) {
  EXPECT_EQ(Messages(Device("timout: 1s")),
            std::vector<std::string>{"modbus[0].timout: unknown key; did you mean 'timeout'?"});
  EXPECT_EQ(Messages(Device("", "wordorder: CDAB")),
            std::vector<std::string>{
                "modbus[0].tags[0].wordorder: unknown key; did you mean 'word_order'?"});
  EXPECT_EQ(Messages("gateway:\n  id: gw1\n  location: hall 3\n"),
            std::vector<std::string>{
                "gateway.location: unknown key (valid here: id, data_dir, log_level)"});
}

TEST(LoadConfig, MisspeltRequiredKeyIsReportedOnce) {
  // 'adress' is suggested as 'address'; "address: required key is missing" would repeat it.
  EXPECT_EQ(Messages("gateway:\n  idd: gw1\n"),
            std::vector<std::string>{"gateway.idd: unknown key; did you mean 'id'?"});
}

TEST(LoadConfig, DuplicateKeyPointsAtTheSecondKey) {
  const LoadResult r = Load("gateway:\n  id: a\n  id: b\n");
  EXPECT_EQ(Errors(r),
            "agent.yaml:3:3: error: gateway.id: duplicate key; first defined at line 2\n");
}

TEST(LoadConfig, EmptyDocumentAndNonMappingRoot) {
  EXPECT_EQ(Errors(Load("")),
            "agent.yaml:1:1: error: empty configuration; gateway.id is required\n");
  EXPECT_EQ(Errors(Load("# nothing\n\n")),
            "agent.yaml:1:1: error: empty configuration; gateway.id is required\n");
  EXPECT_EQ(Errors(Load("just text\n")),
            "agent.yaml:1:1: error: expected the sections (gateway:, modbus:, ...) at the top "
            "level, got 'just text'\n");
  EXPECT_EQ(Errors(Load("gateway:\n")),
            "agent.yaml:1:1: error: gateway.id: required key is missing\n");
}

TEST(LoadConfig, SyntaxErrorIsOneDiagnosticAtItsMark) {
  EXPECT_EQ(Errors(Load("gateway:\n  id: gw1\n  data_dir: /var/lib/x: y\n")),
            "agent.yaml:3:23: error: invalid YAML: unexpected ':' (a key indented wrongly, or a "
            "value containing ': ' that needs quotes)\n");
  // yaml-cpp notices an unclosed bracket lines later; the diagnostic points at the bracket.
  EXPECT_EQ(Errors(Load("gateway:\n  id: [a, b\n  data_dir: /x\n")),
            "agent.yaml:2:7: error: invalid YAML: '[' is not closed by ']'\n");
  EXPECT_EQ(Errors(Load("gateway:\n\tid: gw1\n")),
            "agent.yaml:2:1: error: invalid YAML: tab character in indentation; indent with "
            "spaces\n");
}

TEST(LoadConfig, TrailingDocumentMarkerIsHarmless) { LoadOk("gateway:\n  id: gw1\n---\n"); }

// Found by tests/fuzz/config_loader_fuzzer: yaml-cpp 0.7's LoadAll never returned on a ','
// outside [ ] or { } (it produced empty documents until memory ran out), so check-config hung.
TEST(LoadConfig, StrayCommaIsASyntaxErrorNotAHang) {
  EXPECT_EQ(Errors(Load("gateway:\n  id: gw1\n---\n,\n")),
            "agent.yaml:4:1: error: invalid YAML: ',' outside [ ] or { } (a stray comma?)\n");
  EXPECT_EQ(Errors(Load(",\n")),
            "agent.yaml:1:1: error: invalid YAML: ',' outside [ ] or { } (a stray comma?)\n");
  EXPECT_EQ(Errors(Load("  - 1\n ,\n")),
            "agent.yaml:2:2: error: invalid YAML: ',' outside [ ] or { } (a stray comma?)\n");
  // Several empty documents are still harmless, and a second real one is still reported.
  LoadOk("gateway:\n  id: gw1\n---\n---\n...\n");
  EXPECT_EQ(Errors(Load("gateway:\n  id: gw1\n---\n---\nx: 1\n")),
            "agent.yaml:5:1: error: a second YAML document (after '---') is not supported; keep "
            "one document\n");
}

TEST(LoadConfig, MergeKeysAndExtensionSections) {
  const AgentConfig c = LoadOk(
      "x-float: &float {table: input, type: float32, word_order: CDAB}\n"
      "gateway: {id: gw1}\n"
      "modbus:\n"
      "  - name: meter\n"
      "    host: 10.0.0.9\n"
      "    tags:\n"
      "      - {<<: *float, name: meter.voltage, address: 0}\n"
      "      - {<<: *float, name: meter.count, address: 2, type: uint32}\n");
  ASSERT_EQ(c.modbus.size(), 1u);
  ASSERT_EQ(c.modbus[0].tags.size(), 2u);
  EXPECT_EQ(c.modbus[0].tags[0].table, ModbusTable::kInputRegister);
  EXPECT_EQ(c.modbus[0].tags[0].type, ModbusType::kFloat32);
  EXPECT_EQ(c.modbus[0].tags[0].word_order, WordOrder::kCDAB);
  EXPECT_EQ(c.modbus[0].tags[1].type, ModbusType::kUInt32);  // the tag's own key wins
  EXPECT_EQ(Messages("gateway: {id: gw1}\nmodbus:\n  - {<<: 5, name: x}\n"),
            (std::vector<std::string>{
                "modbus[0]: needs host (Modbus TCP) or serial (Modbus RTU)",
                "modbus[0].tags: required key is missing",
                "modbus[0].<<: a merge key takes an alias of a mapping, e.g. <<: *defaults"}));
}

TEST(LoadConfig, QuotedNumbersAreStrings) {
  EXPECT_EQ(Messages(Device("port: '502'")),
            std::vector<std::string>{
                "modbus[0].port: expected an integer, got the string \"502\" (remove the quotes)"});
  EXPECT_EQ(Messages(Device("", "scale: \"0.1\"")),
            std::vector<std::string>{"modbus[0].tags[0].scale: expected a number, got the "
                                     "string \"0.1\" (remove the quotes)"});
}

TEST(LoadConfig, RtuDevicesOnOneBusShareSettingsAndNotUnitIds) {
  const std::string ok =
      "gateway: {id: gw1}\n"
      "modbus:\n"
      "  - {name: a, serial: {device: /dev/ttyUSB0, baud: 9600}, unit_id: 1,"
      " tags: [{name: a1, address: 0}]}\n"
      "  - {name: b, serial: {device: /dev/ttyUSB0, baud: 9600}, unit_id: 2,"
      " tags: [{name: b1, address: 0}]}\n"
      "  - {name: c, serial: {device: /dev/ttyUSB1, baud: 19200}, unit_id: 1,"
      " tags: [{name: c1, address: 0}]}\n";
  LoadOk(ok);
}

TEST(LoadConfig, UpstreamAndSourceConnectionDefaults) {
  ScratchDir dir;
  fs::permissions(dir.Write("mqtt.pass", "secret\n"),
                  fs::perms::owner_read | fs::perms::owner_write);
  dir.Write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  const AgentConfig c = LoadOk(
      "gateway: {id: line3-pc1}\n"
      "upstream:\n"
      "  broker: ssl://broker.plant.local:8883\n"
      "  username: agent\n"
      "  password_file: mqtt.pass\n"
      "  topic_prefix: plant1/line3\n"
      "mqtt_sources:\n"
      "  - name: vib\n"
      "    topic: a/+/vib\n"
      "    tags: [{name: '{1}.rms', field: /rms}]\n"
      "  - name: other\n"
      "    broker: tcp://10.0.0.5:1883\n"
      "    topic: b/#\n"
      "    qos: 2\n"
      "    tags: [{name: other.value}]\n"
      "  - name: own-tls\n"
      "    username: sensor\n"
      "    tls: {ca_file: ca.pem, verify_hostname: false}\n"
      "    topic: c\n"
      "    tags: [{name: c.value}]\n",
      dir.path().string());
  ASSERT_TRUE(c.upstream.has_value());
  const BrokerConfig& up = c.upstream->broker;
  EXPECT_EQ(up.uri, "ssl://broker.plant.local:8883");
  EXPECT_EQ(up.client_id, "line3-pc1");
  EXPECT_EQ(up.password_file, (dir.path() / "mqtt.pass").string());
  ASSERT_TRUE(up.tls.has_value());  // ssl:// without tls: the system CA store
  EXPECT_EQ(up.tls->ca_file, "");
  EXPECT_TRUE(up.tls->verify_hostname);
  EXPECT_EQ(up.keepalive, 30s);
  EXPECT_EQ(c.upstream->topic_prefix, "plant1/line3");

  ASSERT_EQ(c.mqtt_sources.size(), 3u);
  const MqttSource& vib = c.mqtt_sources[0];
  EXPECT_EQ(vib.broker.uri, up.uri);  // shares the upstream connection settings
  EXPECT_EQ(vib.broker.username, "agent");
  EXPECT_EQ(vib.broker.password_file, up.password_file);
  EXPECT_EQ(vib.broker.client_id, "line3-pc1-vib");
  EXPECT_EQ(vib.qos, 1);
  EXPECT_EQ(vib.tags[0].name, "{1}.rms");
  EXPECT_EQ(vib.tags[0].field, "/rms");
  EXPECT_EQ(vib.timestamp_field, "");

  const MqttSource& other = c.mqtt_sources[1];
  EXPECT_EQ(other.broker.uri, "tcp://10.0.0.5:1883");  // its own broker: nothing inherited
  EXPECT_EQ(other.broker.username, "");
  EXPECT_FALSE(other.broker.tls.has_value());
  EXPECT_EQ(other.qos, 2);
  EXPECT_EQ(other.tags[0].field, "");

  const MqttSource& own = c.mqtt_sources[2];
  EXPECT_EQ(own.broker.username, "sensor");
  ASSERT_TRUE(own.broker.tls.has_value());
  EXPECT_EQ(own.broker.tls->ca_file, (dir.path() / "ca.pem").string());
  EXPECT_FALSE(own.broker.tls->verify_hostname);
}

// The drivers connect to the address the loader parsed; they do not parse the URI again.
TEST(LoadConfig, BrokersCarryTheParsedAddress) {
  const AgentConfig c = LoadOk(
      "gateway: {id: gw1}\n"
      "upstream: {broker: 'ssl://broker.plant.local:8883', topic_prefix: p}\n"
      "mqtt_sources:\n"
      "  - {name: shared, topic: a, tags: [{name: a.v}]}\n"
      "  - {name: own, broker: 'tcp://[::1]:1884', topic: b, tags: [{name: b.v}]}\n");
  ASSERT_TRUE(c.upstream.has_value());
  EXPECT_EQ(c.upstream->broker.address, (BrokerAddress{true, "broker.plant.local", 8883}));
  ASSERT_EQ(c.mqtt_sources.size(), 2u);
  EXPECT_EQ(c.mqtt_sources[0].broker.address, c.upstream->broker.address);
  EXPECT_EQ(c.mqtt_sources[1].broker.address, (BrokerAddress{false, "::1", 1884}));
}

TEST(BrokerConfig, FromUriParsesTheAddressAndKeepsTheDefaults) {
  StatusOr<BrokerConfig> b = BrokerConfig::FromUri("tcp://127.0.0.1:1883");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->uri, "tcp://127.0.0.1:1883");
  EXPECT_EQ(b->address, (BrokerAddress{false, "127.0.0.1", 1883}));
  BrokerConfig expected;
  expected.uri = b->uri;
  expected.address = b->address;
  EXPECT_EQ(*b, expected);

  StatusOr<BrokerConfig> bad = BrokerConfig::FromUri("tcp://127.0.0.1");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "missing port, e.g. tcp://127.0.0.1:1883");
}

TEST(LoadConfig, RelativePathsResolveAgainstTheConfigDirectory) {
  ScratchDir dir;
  dir.Write("keys/repo.pub", kPublicKey);
  dir.Write("pkg/manifest.json", "{}");
  const fs::path config =
      dir.Write("etc/agent.yaml",
                "gateway: {id: gw1, data_dir: ../state}\n"
                "upstream: {broker: 'tcp://127.0.0.1:1883', topic_prefix: p}\n"
                "modbus: [{name: plc, host: h, tags: [{name: t, address: 0}]}]\n"
                "models:\n"
                "  repository:\n"
                "    url: https://models.example.com/repo/\n"
                "    trusted_keys: [../keys/repo.pub]\n"
                "  deployments:\n"
                "    - {asset: a, package: ../pkg, inputs: {x: t}}\n");
  const LoadResult r = LoadConfigFile(config.string());
  ASSERT_TRUE(r.ok()) << Errors(r);
  const AgentConfig& c = *r.config;
  EXPECT_EQ(c.path, config.string());
  EXPECT_EQ(c.gateway.data_dir, (dir.path() / "state").string());
  ASSERT_TRUE(c.models.repository.has_value());
  EXPECT_EQ(c.models.repository->trusted_keys,
            std::vector<std::string>{(dir.path() / "keys/repo.pub").string()});
  EXPECT_EQ(c.models.repository->poll_interval, 5min);
  ASSERT_EQ(c.models.deployments.size(), 1u);
  EXPECT_EQ(c.models.deployments[0].package, (dir.path() / "pkg").string());
  EXPECT_EQ(c.models.deployments[0].alarm.raise_after, 3);
  EXPECT_EQ(c.models.deployments[0].alarm.clear_after, 10);
  EXPECT_FALSE(c.models.deployments[0].alarm.threshold.has_value());
  EXPECT_EQ(c.models.deployments[0].max_input_age, 0ms);

  // The same text read from elsewhere does not find the files.
  const LoadResult elsewhere = Load(
      "gateway: {id: gw1}\n"
      "models:\n"
      "  repository: {url: 'https://m/', trusted_keys: [keys/repo.pub]}\n",
      (dir.path() / "etc").string());
  EXPECT_EQ(Errors(elsewhere),
            "agent.yaml:3:50: error: models.repository.trusted_keys[0]: cannot read "
            "'keys/repo.pub': no such file or directory (relative paths start at the "
            "configuration file's directory)\n");
}

TEST(LoadConfig, AbsolutePathsAreKept) {
  ScratchDir dir;
  const fs::path key = dir.Write("repo.pub", kPublicKey);
  const AgentConfig c = LoadOk(
      "gateway: {id: gw1}\nmodels:\n  repository:\n"
      "    url: http://10.0.0.5:8080/models/\n"
      "    trusted_keys: [" +
          key.string() + "]\n",
      "/somewhere/else");
  ASSERT_TRUE(c.models.repository.has_value());
  EXPECT_EQ(c.models.repository->trusted_keys, std::vector<std::string>{key.string()});
}

TEST(LoadConfig, RejectsAPrivateKeyAsTrustedKey) {
  ScratchDir dir;
  dir.Write("repo.key", "-----BEGIN PRIVATE KEY-----\nnot a real key\n-----END PRIVATE KEY-----\n");
  EXPECT_EQ(Messages("gateway: {id: gw1}\nmodels:\n  repository:\n"
                     "    url: https://m.example.com/\n    trusted_keys: [repo.key]\n",
                     dir.path().string()),
            std::vector<std::string>{
                "models.repository.trusted_keys[0]: 'repo.key' is a private key; give the "
                "public key (keep the private one off the line PC)"});
}

// Every key that names a secret file (password_file and tls.key_file, upstream and per source)
// refuses a file every user can read; owner-only and group-readable files are accepted.
TEST(LoadConfig, RefusesWorldReadableSecretFiles) {
  ScratchDir dir;
  const auto mode = [&](const char* name, fs::perms perms) {
    fs::permissions(dir.Write(name, "x\n"), perms, fs::perm_options::replace);
  };
  using P = fs::perms;
  mode("open.pass", P::owner_read | P::owner_write | P::group_read | P::others_read);  // 0644
  mode("open.key", P::owner_read | P::others_read);                                    // 0404
  mode("group.pass", P::owner_read | P::owner_write | P::group_read);                  // 0640
  mode("owner.key", P::owner_read | P::owner_write);                                   // 0600
  mode("cert.pem", P::owner_read | P::owner_write | P::group_read | P::others_read);   // public
  const std::string yaml =
      "gateway: {id: gw1}\n"
      "upstream:\n"
      "  broker: ssl://b.example.com:8883\n"
      "  username: u\n"
      "  password_file: {UP_PASS}\n"
      "  topic_prefix: p\n"
      "  tls: {cert_file: cert.pem, key_file: {UP_KEY}}\n"
      "mqtt_sources:\n"
      "  - name: s\n"
      "    username: u\n"
      "    password_file: {SRC_PASS}\n"
      "    tls: {cert_file: cert.pem, key_file: {SRC_KEY}}\n"
      "    topic: t\n"
      "    tags: [{name: t1}]\n";
  const auto with = [&](std::string up_pass, std::string up_key, std::string src_pass,
                        std::string src_key) {
    std::string y = yaml;
    for (const auto& [from, to] : {std::pair<std::string, std::string>{"{UP_PASS}", up_pass},
                                   {"{UP_KEY}", up_key},
                                   {"{SRC_PASS}", src_pass},
                                   {"{SRC_KEY}", src_key}}) {
      y.replace(y.find(from), from.size(), to);
    }
    return y;
  };
  EXPECT_EQ(Messages(with("open.pass", "open.key", "open.pass", "open.key"), dir.path().string()),
            (std::vector<std::string>{
                "upstream.password_file: 'open.pass' is readable by every user (mode 0644); "
                "chmod 600 or 640 it",
                "upstream.tls.key_file: 'open.key' is readable by every user (mode 0404); "
                "chmod 600 or 640 it",
                "mqtt_sources[0].password_file: 'open.pass' is readable by every user (mode "
                "0644); chmod 600 or 640 it",
                "mqtt_sources[0].tls.key_file: 'open.key' is readable by every user (mode 0404); "
                "chmod 600 or 640 it"}));
  // Positions: at the value, like every other file fault.
  const LoadResult r =
      Load(with("group.pass", "owner.key", "open.pass", "owner.key"), dir.path().string());
  EXPECT_EQ(Errors(r),
            "agent.yaml:11:20: error: mqtt_sources[0].password_file: 'open.pass' is readable by "
            "every user (mode 0644); chmod 600 or 640 it\n");
  // Owner-only and group-readable secrets load; the certificate (public) may be 0644.
  const AgentConfig c =
      LoadOk(with("group.pass", "owner.key", "owner.key", "group.pass"), dir.path().string());
  ASSERT_TRUE(c.upstream.has_value());
  EXPECT_EQ(c.upstream->broker.password_file, (dir.path() / "group.pass").string());
  EXPECT_EQ(c.upstream->broker.tls->key_file, (dir.path() / "owner.key").string());
}

TEST(WorldReadableFault, NamesTheModeOnlyWhenOthersMayRead) {
  ScratchDir dir;
  const fs::path f = dir.Write("f", "x");
  fs::permissions(f, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
                  fs::perm_options::replace);
  EXPECT_EQ(WorldReadableFault(f.string()),
            "is readable by every user (mode 0444); chmod 600 or 640 it");
  fs::permissions(f, fs::perms::owner_read | fs::perms::group_read, fs::perm_options::replace);
  EXPECT_EQ(WorldReadableFault(f.string()), "");
  EXPECT_EQ(WorldReadableFault((dir.path() / "missing").string()), "");
}

TEST(LoadConfig, PackageMustBeADirectoryWithAManifest) {
  ScratchDir dir;
  dir.Write("empty/README", "x");
  dir.Write("file", "x");
  const std::string base =
      "gateway: {id: gw1}\n"
      "upstream: {broker: 'tcp://h:1883', topic_prefix: p}\n"
      "modbus: [{name: plc, host: h, tags: [{name: t, address: 0}]}]\n"
      "models:\n  deployments:\n    - {asset: a, inputs: {x: t}, package: ";
  EXPECT_EQ(Messages(base + "empty}\n", dir.path().string()),
            std::vector<std::string>{"models.deployments[0].package: 'empty' has no readable "
                                     "manifest.json; is it a model package?"});
  EXPECT_EQ(Messages(base + "file}\n", dir.path().string()),
            std::vector<std::string>{"models.deployments[0].package: cannot read 'file': not a "
                                     "directory (relative paths start at the configuration "
                                     "file's directory)"});
}

TEST(LoadConfig, DeploymentInputsMayNameTemplatedMqttTags) {
  ScratchDir dir;
  dir.Write("pkg/manifest.json", "{}");
  const AgentConfig c = LoadOk(
      "gateway: {id: gw1}\n"
      "upstream: {broker: 'tcp://127.0.0.1:1883', topic_prefix: plant1}\n"
      "mqtt_sources:\n"
      "  - name: vib\n"
      "    topic: plant1/line3/+/vib\n"
      "    tags: [{name: '{2}.vib_rms', field: /rms}]\n"
      "models:\n"
      "  memory_budget: 64MiB\n"
      "  deployments:\n"
      "    - asset: pump1\n"
      "      package: pkg\n"
      "      inputs: {Accelerometer1RMS: pump1.vib_rms, Volume Flow RateRMS: pump7.vib_rms}\n"
      "      alarm: {threshold: 0.42, raise_after: 10000, clear_after: 1}\n"
      "      max_input_age: 3s\n",
      dir.path().string());
  ASSERT_EQ(c.models.deployments.size(), 1u);
  const Deployment& d = c.models.deployments[0];
  EXPECT_EQ(d.inputs.at("Accelerometer1RMS"), "pump1.vib_rms");
  EXPECT_EQ(d.inputs.at("Volume Flow RateRMS"), "pump7.vib_rms");
  EXPECT_EQ(d.alarm.threshold, 0.42);
  EXPECT_EQ(d.alarm.raise_after, 10000);
  EXPECT_EQ(d.alarm.clear_after, 1);
  EXPECT_EQ(d.max_input_age, 3s);
  EXPECT_EQ(c.models.memory_budget, 64ull << 20);

  // A name the template cannot produce is still an unknown tag.
  const LoadResult r = Load(
      "gateway: {id: gw1}\n"
      "upstream: {broker: 'tcp://127.0.0.1:1883', topic_prefix: plant1}\n"
      "mqtt_sources: [{name: vib, topic: plant1/+/vib, tags: [{name: '{1}.vib_rms'}]}]\n"
      "models:\n"
      "  deployments: [{asset: pump1, package: pkg, inputs: {"
      "\"Volume Flow RateRMS\": pump1.vib_peak}}]\n",
      dir.path().string());
  EXPECT_EQ(Errors(r),
            "agent.yaml:5:78: error: models.deployments[0].inputs[\"Volume Flow RateRMS\"]: "
            "unknown tag 'pump1.vib_peak' (no Modbus or MQTT tag has this name)\n");
}

TEST(LoadConfig, BrokenTagsDoNotCauseDanglingReferenceErrors) {
  ScratchDir dir;
  dir.Write("pkg/manifest.json", "{}");
  // The tag's name is wrong, so the input that names it is not reported as well.
  EXPECT_EQ(
      Messages("gateway: {id: gw1}\n"
               "upstream: {broker: 'tcp://h:1883', topic_prefix: p}\n"
               "modbus: [{name: plc, host: h, tags: [{nam: pump1.current, address: 0}]}]\n"
               "models:\n"
               "  deployments: [{asset: a, package: pkg, inputs: {Current: pump1.current}}]\n",
               dir.path().string()),
      std::vector<std::string>{"modbus[0].tags[0].nam: unknown key; did you mean 'name'?"});
}

TEST(LoadConfigFile, UnreadableFileIsOneDiagnostic) {
  ScratchDir dir;
  const std::string missing = (dir.path() / "missing.yaml").string();
  EXPECT_EQ(Errors(LoadConfigFile(missing)),
            missing + ":1:1: error: cannot read file: no such file or directory\n");
  EXPECT_EQ(Errors(LoadConfigFile(dir.path().string())),
            dir.path().string() + ":1:1: error: cannot read file: is a directory, not a regular file\n");
}

}  // namespace
}  // namespace edge::config

// ---- hostile files and values (issue 23) ----------------------------------------------------

namespace edge::config {
namespace {

TEST(LoadConfigFile, RefusesWhatIsNotARegularFileOfBoundedSize) {
  ScratchDir dir;
  // /dev/zero once made check-config read until memory ran out; a FIFO blocked it forever.
  EXPECT_EQ(Errors(LoadConfigFile("/dev/zero")),
            "/dev/zero:1:1: error: cannot read file: is a character device, not a regular file\n");
  const fs::path fifo = dir.path() / "agent.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(Errors(LoadConfigFile(fifo.string())),
            fifo.string() + ":1:1: error: cannot read file: is a FIFO, not a regular file\n");
  // A 50 MB file once needed more than 4 GiB to parse. Sparse: no disk used.
  const fs::path big = dir.Write("big.yaml", "gateway: {id: gw1}\n");
  ASSERT_EQ(::truncate(big.c_str(), 50'000'000), 0);
  EXPECT_EQ(Errors(LoadConfigFile(big.string())),
            big.string() +
                ":1:1: error: cannot read file: is 50000000 bytes, more than the limit of 1 MiB "
                "(1048576 bytes)\n");
  const fs::path ok = dir.Write("ok.yaml", "gateway: {id: gw1}\n");
  EXPECT_TRUE(LoadConfigFile(ok.string()).ok());
}

TEST(LoadConfig, FilesItNamesMustBeRegularAndBounded) {
  ScratchDir dir;
  const fs::path fifo = dir.path() / "pass.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const fs::path big = dir.Write("ca.pem", "");
  ASSERT_EQ(::truncate(big.c_str(), off_t{2} << 20), 0);
  EXPECT_EQ(Messages("gateway: {id: gw1}\n"
                     "upstream:\n"
                     "  broker: ssl://h:8883\n"
                     "  topic_prefix: p\n"
                     "  username: u\n"
                     "  password_file: pass.fifo\n"
                     "  tls: {ca_file: ca.pem}\n"
                     "mqtt_sources:\n"
                     "  - {name: s, broker: 'tcp://h:1883', username: u, password_file: /dev/zero,\n"
                     "     topic: t, tags: [{name: a}]}\n",
                     dir.path().string()),
            (std::vector<std::string>{
                "upstream.password_file: cannot read 'pass.fifo': is a FIFO, not a regular file "
                "(relative paths start at the configuration file's directory)",
                "upstream.tls.ca_file: cannot read 'ca.pem': is 2097152 bytes, more than the limit "
                "of 1 MiB (1048576 bytes) (relative paths start at the configuration file's "
                "directory)",
                "mqtt_sources[0].password_file: cannot read '/dev/zero': is a character device, not "
                "a regular file"}));
}

TEST(LoadConfig, GatewayIdAndNamesAreBounded) {
  // 70,000 characters once passed check-config and then could never connect.
  const std::string id(70000, 'g');
  const std::vector<std::string> m = Messages("gateway: {id: " + id + "}\n");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0], "gateway.id: '" + std::string(80, 'g') +
                      "...' (70000 bytes) is not a valid id: longer than 64 bytes (70000)");
  EXPECT_TRUE(Messages("gateway: {id: " + std::string(64, 'g') + "}\n").empty());
  const std::string tag(kMaxNameBytes, 't');
  EXPECT_TRUE(Messages("gateway: {id: gw1}\n"
                       "modbus: [{name: plc, host: h, tags: [{name: " + tag + ", address: 0}]}]\n")
                  .empty());
  EXPECT_EQ(Messages("gateway: {id: gw1}\n"
                     "modbus: [{name: plc, host: h, tags: [{name: " + tag + "x, address: 0}]}]\n")
                .size(),
            1u);
  // The default client id <gateway.id>-<source> counts too.
  const std::vector<std::string> ids =
      Messages("gateway: {id: " + std::string(64, 'g') + "}\n"
               "mqtt_sources: [{name: " + std::string(70, 's') +
               ", broker: 'tcp://h:1883', topic: t, tags: [{name: a}]}]\n");
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_NE(ids[0].find("client id '"), std::string::npos) << ids[0];
  EXPECT_NE(ids[0].find("(135 bytes) is longer than 128 bytes"), std::string::npos) << ids[0];
}

TEST(LoadConfig, HostileValuesStayOneShortLine) {
  // Values and an unknown key with newlines, an ESC and up to 100 KB: every message is one
  // line, escaped, and short.
  const std::string big(100000, 'x');
  const std::vector<std::string> m =
      Messages("gateway: {id: gw1, log_level: \"debug\\n" + big + "\"}\n"
               "\"bad\\nkey\\e[2J" + big.substr(0, 900) + "\": 1\n"  // YAML: keys < 1024
               "modbus: [{name: plc, host: h, timeout: \"" + big + "\\n\", tags: [{name: a, "
               "address: 0}]}]\n");
  ASSERT_EQ(m.size(), 3u) << ::testing::PrintToString(m);
  for (const std::string& msg : m) {
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
    EXPECT_LT(msg.size(), 400u) << msg;
  }
}

}  // namespace
}  // namespace edge::config
