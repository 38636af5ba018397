#include "config/config_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "config/units.h"
#include "config/value_syntax.h"
#include "config/yaml_reader.h"

namespace edge::config {
namespace {

using internal::DiagnosticSink;
using internal::Field;
using internal::MapView;
using internal::YamlReader;
using namespace std::chrono_literals;

// The keys valid at each place of the file. config/REFERENCE.md documents each of them.
constexpr std::string_view kTopKeys[] = {"gateway", "upstream", "modbus", "mqtt_sources",
                                         "storage", "models",   "http",   "x-*"};
constexpr std::string_view kGatewayKeys[] = {"id", "data_dir", "log_level"};
constexpr std::string_view kUpstreamKeys[] = {"broker", "client_id", "username",    "password_file",
                                              "tls",    "keepalive", "topic_prefix"};
constexpr std::string_view kTlsKeys[] = {"ca_file", "cert_file", "key_file", "verify_hostname"};
constexpr std::string_view kDeviceKeys[] = {
    "name",    "host",          "port",    "serial",
    "unit_id", "poll_interval", "timeout", "max_registers_per_request",
    "max_gap", "tags"};
constexpr std::string_view kSerialKeys[] = {"device", "baud", "parity", "data_bits", "stop_bits"};
constexpr std::string_view kModbusTagKeys[] = {"name", "table",  "address", "type",  "word_order",
                                               "bit",  "length", "scale",   "offset"};
constexpr std::string_view kSourceKeys[] = {"name",          "broker", "client_id",      "username",
                                            "password_file", "tls",    "keepalive",      "topic",
                                            "qos",           "tags",   "timestamp_field"};
constexpr std::string_view kSourceTagKeys[] = {"name", "field"};
constexpr std::string_view kStorageKeys[] = {"retention", "max_size"};
constexpr std::string_view kModelsKeys[] = {"repository", "deployments"};
constexpr std::string_view kRepositoryKeys[] = {"url", "poll_interval", "trusted_keys", "ca_file"};
constexpr std::string_view kDeploymentKeys[] = {"asset",  "model", "package",
                                                "inputs", "alarm", "max_input_age"};
constexpr std::string_view kAlarmKeys[] = {"threshold", "raise_after", "clear_after"};
constexpr std::string_view kHttpKeys[] = {"listen"};

constexpr std::string_view kLogLevels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};
// Index order matches the enums in config.h.
constexpr std::string_view kTables[] = {"holding", "input", "coil", "discrete"};
constexpr ModbusTable kTableValues[] = {ModbusTable::kHoldingRegister, ModbusTable::kInputRegister,
                                        ModbusTable::kCoil, ModbusTable::kDiscreteInput};
constexpr std::string_view kTypes[] = {"bool",  "int16",  "uint16",  "int32",   "uint32",
                                       "int64", "uint64", "float32", "float64", "string"};
constexpr ModbusType kTypeValues[] = {
    ModbusType::kBool,    ModbusType::kInt16, ModbusType::kUInt16, ModbusType::kInt32,
    ModbusType::kUInt32,  ModbusType::kInt64, ModbusType::kUInt64, ModbusType::kFloat32,
    ModbusType::kFloat64, ModbusType::kString};
constexpr std::string_view kWordOrders[] = {"ABCD", "CDAB", "BADC", "DCBA"};
constexpr WordOrder kWordOrderValues[] = {WordOrder::kABCD, WordOrder::kCDAB, WordOrder::kBADC,
                                          WordOrder::kDCBA};
constexpr std::string_view kParities[] = {"N", "E", "O"};
constexpr int kBaudRates[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400};

constexpr int kMaxStringRegisters = 125;  // one Modbus read request

std::string Lowercased(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

bool IsRegisterTable(ModbusTable t) {
  return t == ModbusTable::kHoldingRegister || t == ModbusTable::kInputRegister;
}

// "holding register", "discrete input": the table in running text.
std::string TableNoun(ModbusTable t) {
  switch (t) {
    case ModbusTable::kCoil:
      return "coil";
    case ModbusTable::kDiscreteInput:
      return "discrete input";
    case ModbusTable::kInputRegister:
      return "input register";
    case ModbusTable::kHoldingRegister:
      return "holding register";
  }
  return "register";
}

bool Is16Bit(ModbusType t) { return t == ModbusType::kInt16 || t == ModbusType::kUInt16; }

std::string LineRef(SourcePos pos) { return "line " + std::to_string(pos.line); }

// One MQTT connection, for the client-id collision check.
struct Connection {
  std::string path;  // "upstream", "mqtt_sources[1]"
  std::string uri;
  std::string client_id;
  SourcePos pos;        // the client_id value, or the mapping when it is defaulted
  std::string id_path;  // "mqtt_sources[1].client_id"
};

class Loader {
 public:
  Loader(DiagnosticSink* sink, const std::string& base_dir) : sink_(sink), reader_(sink) {
    std::error_code ec;
    std::filesystem::path base(base_dir.empty() ? "." : base_dir);
    if (base.is_relative()) base = std::filesystem::current_path(ec) / base;
    base_dir_ = base.lexically_normal();
  }

  AgentConfig Load(const Field& root_field) {
    AgentConfig config;
    auto root = reader_.Map(root_field, kTopKeys);
    if (!root) return config;
    ReadGateway(*root, &config.gateway);
    upstream_present_ = root->Has("upstream");
    if (auto f = root->Get("upstream")) config.upstream = ReadUpstream(*f, config.gateway.id);
    if (auto f = root->Get("modbus")) config.modbus = ReadModbus(*f);
    if (auto f = root->Get("mqtt_sources")) {
      config.mqtt_sources = ReadMqttSources(*f, config.gateway.id, config.upstream);
    }
    if (auto f = root->Get("storage")) ReadStorage(*f, &config.storage);
    if (auto f = root->Get("models")) ReadModels(*f, &config.models);
    if (auto f = root->Get("http")) ReadHttp(*f, &config.http);
    CheckClientIds();
    return config;
  }

 private:
  // ---- gateway ----------------------------------------------------------------------------

  void ReadGateway(const MapView& root, GatewayConfig* out) {
    auto f = reader_.Require(root, "gateway");
    if (!f) return;
    auto m = reader_.Map(*f, kGatewayKeys);
    if (!m) return;
    if (auto id = reader_.Require(*m, "id")) {
      if (auto s = Name(*id, "id")) out->id = *s;
    }
    if (auto dir = m->Get("data_dir")) {
      if (auto s = NonEmptyString(*dir)) out->data_dir = Resolve(*s);
    }
    if (auto level = m->Get("log_level")) {
      if (auto i = reader_.OneOf(*level, kLogLevels)) out->log_level = kLogLevels[*i];
    }
  }

  // ---- MQTT connections -------------------------------------------------------------------

  std::optional<UpstreamConfig> ReadUpstream(const Field& f, const std::string& gateway_id) {
    auto m = reader_.Map(f, kUpstreamKeys);
    if (!m) return std::nullopt;
    UpstreamConfig up;
    bool ok = true;
    if (auto broker = reader_.Require(*m, "broker")) {
      ok &= ReadBrokerUri(*broker, &up.broker);
    } else {
      ok = false;
    }
    ok &= ReadConnectionSettings(*m, &up.broker);
    if (auto prefix = reader_.Require(*m, "topic_prefix")) {
      if (auto s = CheckedString(*prefix, CheckTopicPrefix)) up.topic_prefix = *s;
    }
    if (up.broker.client_id.empty()) up.broker.client_id = gateway_id;
    if (ok) {
      CheckTlsMatchesScheme(*m, &up.broker);
      AddConnection(*m, up.broker);
    }
    return up;
  }

  // Returns false when the URI is bad (later checks that depend on it are skipped).
  bool ReadBrokerUri(const Field& f, BrokerConfig* out) {
    auto s = reader_.String(f);
    if (!s) return false;
    auto uri = ParseBrokerUri(*s);
    if (!uri.ok()) {
      reader_.Error(f, "'" + *s + "': " + uri.status().message());
      return false;
    }
    out->uri = *s;
    return true;
  }

  // client_id, username, password_file, tls, keepalive: set only those present.
  bool ReadConnectionSettings(const MapView& m, BrokerConfig* out) {
    bool ok = true;
    if (auto f = m.Get("client_id")) {
      if (auto s = reader_.String(*f)) {
        const bool printable = !s->empty() && std::all_of(s->begin(), s->end(), [](char c) {
          return std::isgraph(static_cast<unsigned char>(c));
        });
        if (printable) {
          out->client_id = *s;
        } else {
          reader_.Error(*f, "'" + *s +
                                "' is not a valid client id (no spaces or control "
                                "characters)");
        }
      }
    }
    if (auto f = m.Get("username")) {
      if (auto s = NonEmptyString(*f)) out->username = *s;
    }
    if (auto f = m.Get("password_file")) {
      if (auto s = SecretFile(*f)) out->password_file = *s;
      if (!m.Has("username") && out->username.empty()) {
        reader_.ErrorAtKey(*f, "needs username (MQTT sends a password only with a user name)");
      }
    }
    if (auto f = m.Get("tls")) {
      if (auto tls = ReadTls(*f)) {
        out->tls = *tls;
      } else {
        ok = false;
      }
    }
    if (auto f = m.Get("keepalive")) {
      if (auto d = reader_.DurationIn(*f, 1s, 65535s)) {
        if (d->count() % 1000 != 0) {
          reader_.Error(*f, f->value.Scalar() + " is not a whole number of seconds");
        } else {
          out->keepalive = *d;
        }
      }
    }
    return ok;
  }

  std::optional<TlsConfig> ReadTls(const Field& f) {
    auto m = reader_.Map(f, kTlsKeys);
    if (!m) return std::nullopt;
    TlsConfig tls;
    if (auto ca = m->Get("ca_file")) {
      if (auto s = ReadableFile(*ca)) tls.ca_file = *s;
    }
    auto cert = m->Get("cert_file");
    auto key = m->Get("key_file");
    if (cert) {
      if (auto s = ReadableFile(*cert)) tls.cert_file = *s;
    }
    if (key) {
      if (auto s = SecretFile(*key)) tls.key_file = *s;
    }
    if (cert && !key) {
      sink_->Add(m->pos(), ChildPathOf(*m, "key_file") + ": required with cert_file");
    }
    if (key && !cert) {
      sink_->Add(m->pos(), ChildPathOf(*m, "cert_file") + ": required with key_file");
    }
    if (auto v = m->Get("verify_hostname")) {
      if (auto b = reader_.Bool(*v)) tls.verify_hostname = *b;
    }
    return tls;
  }

  // ssl:// without a tls section uses the system CA store; tls with tcp:// is a mistake.
  void CheckTlsMatchesScheme(const MapView& m, BrokerConfig* b) {
    const bool ssl = b->uri.rfind("ssl://", 0) == 0;
    if (ssl && !b->tls) b->tls = TlsConfig{};
    auto tls = m.Get("tls");
    if (!ssl && b->tls && tls) {
      reader_.ErrorAtKey(*tls, "the broker is tcp:// (no TLS); use an ssl:// URI for TLS");
    }
  }

  void AddConnection(const MapView& m, const BrokerConfig& b) {
    Connection c;
    c.path = m.path();
    c.uri = b.uri;
    c.client_id = b.client_id;
    c.id_path = ChildPathOf(m, "client_id");
    auto f = m.Get("client_id");
    c.pos = f ? f->value_pos : m.pos();
    connections_.push_back(c);
  }

  // Two clients with one id on one broker: the broker disconnects the older one, forever.
  void CheckClientIds() {
    for (size_t i = 0; i < connections_.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        const Connection& a = connections_[j];
        const Connection& b = connections_[i];
        if (a.client_id.empty() || a.client_id != b.client_id || a.uri != b.uri) continue;
        sink_->Add(b.pos, b.id_path + ": client id '" + b.client_id + "' is also used by " +
                              a.path + " on the same broker; the broker would disconnect one");
        break;
      }
    }
  }

  // ---- modbus -----------------------------------------------------------------------------

  std::vector<ModbusDevice> ReadModbus(const Field& f) {
    std::vector<ModbusDevice> devices;
    auto items = reader_.List(f);
    if (!items) {
      tags_complete_ = false;
      return devices;
    }
    for (const Field& item : *items) {
      if (auto d = ReadDevice(item)) devices.push_back(std::move(*d));
    }
    CheckSharedBuses(devices);
    return devices;
  }

  std::optional<ModbusDevice> ReadDevice(const Field& f) {
    auto m = reader_.Map(f, kDeviceKeys);
    if (!m) {
      tags_complete_ = false;
      return std::nullopt;
    }
    ModbusDevice d;
    d.pos = m->pos();
    bool ok = true;
    ok &= ReadUniqueName(*m, "name", "device name", &device_names_, "device", &d.name);

    auto host = m->Get("host");
    auto serial = m->Get("serial");
    const bool is_serial = serial && !host;
    if (host && serial) {
      const Field& later = host->key_pos.line > serial->key_pos.line ||
                                   (host->key_pos.line == serial->key_pos.line &&
                                    host->key_pos.column > serial->key_pos.column)
                               ? *host
                               : *serial;
      reader_.ErrorAtKey(later,
                         "host and serial exclude each other: host is Modbus TCP, serial is "
                         "Modbus RTU");
      ok = false;
    } else if (!host && !serial) {
      sink_->Add(m->pos(), m->path() + ": needs host (Modbus TCP) or serial (Modbus RTU)");
      ok = false;
    }
    if (host) {
      if (auto s = reader_.String(*host)) {
        Status st = CheckHost(*s);
        if (st.ok()) {
          d.host = *s;
        } else {
          reader_.Error(*host, "'" + *s + "': " + st.message());
          ok = false;
        }
      }
    }
    if (auto port = m->Get("port")) {
      if (is_serial) {
        reader_.ErrorAtKey(*port, "applies to Modbus TCP (host) only; this device uses serial");
      } else if (auto v = reader_.Integer(*port, 1, 65535)) {
        d.port = static_cast<uint16_t>(*v);
      }
    }
    if (serial) {
      if (auto s = ReadSerial(*serial)) {
        d.serial = *s;
      } else {
        ok = false;
      }
    }
    if (auto unit = m->Get("unit_id")) {
      constexpr int64_t kAny = std::numeric_limits<int64_t>::max();
      if (auto v = reader_.Integer(*unit, -kAny, kAny)) {
        if (is_serial && (*v < 0 || *v == 0 || *v > 247)) {
          reader_.Error(*unit, *v == 0 ? "0 is the RTU broadcast address, which never answers "
                                         "a read; use 1..247"
                                       : std::to_string(*v) + " is out of range (1..247)");
        } else if (!is_serial && (*v < 0 || (*v > 247 && *v != 255))) {
          reader_.Error(*unit,
                        std::to_string(*v) + " is out of range (0..247, or 255 for a TCP gateway)");
        } else {
          d.unit_id = static_cast<uint8_t>(*v);
        }
      }
    }
    if (auto p = m->Get("poll_interval")) {
      if (auto v = reader_.DurationIn(*p, 10ms, 1h)) d.poll_interval = *v;
    }
    if (auto t = m->Get("timeout")) {
      if (auto v = reader_.DurationIn(*t, 1ms, 60s)) d.timeout = *v;
    }
    bool max_ok = true;
    if (auto r = m->Get("max_registers_per_request")) {
      if (auto v = reader_.Integer(*r, 1, 125)) {
        d.max_registers_per_request = static_cast<uint16_t>(*v);
      } else {
        max_ok = false;
      }
    }
    if (auto g = m->Get("max_gap")) {
      if (auto v = reader_.Integer(*g, 0, 125)) d.max_gap = static_cast<uint16_t>(*v);
    }
    const uint16_t tag_limit = max_ok ? d.max_registers_per_request : 125;
    ok &= ReadTags(*m, "a device needs at least one tag", &d.tags,
                   [&](const Field& item) { return ReadModbusTag(item, tag_limit); });
    if (!ok) return std::nullopt;
    if (d.serial) serial_fields_[d.name] = *serial;
    auto unit = m->Get("unit_id");
    unit_refs_[d.name] = {unit ? unit->value_pos : m->pos(), ChildPathOf(*m, "unit_id")};
    return d;
  }

  std::optional<SerialConfig> ReadSerial(const Field& f) {
    auto m = reader_.Map(f, kSerialKeys);
    if (!m) return std::nullopt;
    SerialConfig s;
    bool ok = true;
    if (auto dev = reader_.Require(*m, "device")) {
      if (auto v = reader_.String(*dev)) {
        if (v->empty() || (*v)[0] != '/') {
          reader_.Error(*dev, "expected a device path such as /dev/ttyUSB0, got " +
                                  internal::Describe(dev->value));
          ok = false;
        } else {
          s.device = *v;
        }
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (auto baud = m->Get("baud")) {
      if (auto v = reader_.Integer(*baud, 1, 10'000'000)) {
        if (std::find(std::begin(kBaudRates), std::end(kBaudRates), *v) == std::end(kBaudRates)) {
          reader_.Error(*baud, std::to_string(*v) +
                                   " is not a standard baud rate (1200, 2400, 4800, 9600, 19200, "
                                   "38400, 57600, 115200, 230400)");
        } else {
          s.baud = static_cast<int>(*v);
        }
      }
    }
    if (auto parity = m->Get("parity")) {
      if (auto i = reader_.OneOf(*parity, kParities)) s.parity = kParities[*i][0];
    }
    if (auto bits = m->Get("data_bits")) {
      if (auto v = reader_.Integer(*bits, 7, 8)) s.data_bits = static_cast<int>(*v);
    }
    if (auto stop = m->Get("stop_bits")) {
      if (auto v = reader_.Integer(*stop, 1, 2)) s.stop_bits = static_cast<int>(*v);
    }
    if (!ok) return std::nullopt;
    return s;
  }

  // Devices on one serial line share its settings, and each needs its own unit id.
  void CheckSharedBuses(const std::vector<ModbusDevice>& devices) {
    std::map<std::string, const ModbusDevice*> first_on_bus;
    for (const ModbusDevice& d : devices) {
      if (!d.serial) continue;
      auto [it, inserted] = first_on_bus.emplace(d.serial->device, &d);
      if (inserted) continue;
      const ModbusDevice& first = *it->second;
      const SerialConfig& a = *first.serial;
      const SerialConfig& b = *d.serial;
      if (a.baud != b.baud || a.parity != b.parity || a.data_bits != b.data_bits ||
          a.stop_bits != b.stop_bits) {
        const Field& sf = serial_fields_[d.name];
        reader_.Error(sf, "settings differ from device '" + first.name + "' on the same bus " +
                              b.device + " (" + SerialText(b) + " vs " + SerialText(a) +
                              "); one bus runs at one speed and framing");
      }
      for (const ModbusDevice& other : devices) {
        if (&other == &d) break;
        if (other.serial && other.serial->device == b.device && other.unit_id == d.unit_id) {
          const TagDef& uf = unit_refs_[d.name];
          sink_->Add(uf.pos, uf.path + ": unit " + std::to_string(d.unit_id) +
                                 " is already device '" + other.name + "' on " + b.device);
          break;
        }
      }
    }
  }

  static std::string SerialText(const SerialConfig& s) {
    return std::to_string(s.baud) + " " + std::to_string(s.data_bits) + s.parity +
           std::to_string(s.stop_bits);
  }

  std::optional<ModbusTag> ReadModbusTag(const Field& f, int max_registers) {
    auto m = reader_.Map(f, kModbusTagKeys);
    if (!m) {
      tags_complete_ = false;
      return std::nullopt;
    }
    ModbusTag tag;
    tag.pos = m->pos();
    bool ok = true;
    if (auto name = reader_.Require(*m, "name")) {
      if (auto s = reader_.String(*name)) {
        RegisterTag(*name, *s);
        if (IsValidName(*s)) {
          tag.name = *s;
        } else {
          reader_.Error(*name, "'" + *s +
                                   "' is not a valid tag name (letters, digits, '_', "
                                   "'.', '-')");
          ok = false;
        }
      } else {
        tags_complete_ = false;
        ok = false;
      }
    } else {
      tags_complete_ = false;
      ok = false;
    }

    // Table and type first: the other keys are checked against them.
    bool table_ok = true;
    auto table = m->Get("table");
    if (table) {
      if (auto i = reader_.OneOf(*table, kTables)) {
        tag.table = kTableValues[*i];
      } else {
        table_ok = false;
      }
    }
    auto bit = m->Get("bit");
    auto type = m->Get("type");
    bool type_ok = true;
    if (type) {
      if (auto i = reader_.OneOf(*type, kTypes)) {
        tag.type = kTypeValues[*i];
      } else {
        type_ok = false;
      }
    } else if (!IsRegisterTable(tag.table) || bit) {
      tag.type = ModbusType::kBool;  // a coil, a discrete input, or one bit of a register
    }
    const bool shape_ok = table_ok && type_ok;
    const std::string table_name(ModbusTableName(tag.table));
    const std::string table_noun = TableNoun(tag.table);
    const std::string type_name(ModbusTypeName(tag.type));

    if (shape_ok && !IsRegisterTable(tag.table) && tag.type != ModbusType::kBool) {
      reader_.Error(*type,
                    "a " + table_noun + " is a single bit; its type is bool, not " + type_name);
      ok = false;
    }
    if (bit) {
      if (auto v = reader_.Integer(*bit, 0, 15)) {
        if (table_ok && !IsRegisterTable(tag.table)) {
          reader_.ErrorAtKey(*bit, "applies to holding and input registers; a " + table_noun +
                                       " is already a single bit");
          ok = false;
        } else if (type_ok && tag.type != ModbusType::kBool) {
          reader_.ErrorAtKey(
              *bit, "needs type bool (it reads one bit of the register), not " + type_name);
          ok = false;
        } else {
          tag.bit = static_cast<uint8_t>(*v);
        }
      } else {
        ok = false;
      }
    } else if (shape_ok && IsRegisterTable(tag.table) && tag.type == ModbusType::kBool) {
      reader_.Error(
          *type, "bool on " + std::string(tag.table == ModbusTable::kInputRegister ? "an " : "a ") +
                     table_noun + " needs bit: 0..15 (which bit of the register)");
      ok = false;
    }

    auto length = m->Get("length");
    if (length) {
      if (auto v = reader_.Integer(*length, 1, kMaxStringRegisters)) {
        if (type_ok && tag.type != ModbusType::kString) {
          reader_.ErrorAtKey(*length, "applies to type string only, not " + type_name);
          ok = false;
        } else {
          tag.length = static_cast<uint16_t>(*v);
        }
      } else {
        ok = false;
      }
    } else if (shape_ok && tag.type == ModbusType::kString) {
      sink_->Add(m->pos(), ChildPathOf(*m, "length") +
                               ": required for type string (registers, two characters each, "
                               "1..125)");
      ok = false;
    }

    if (auto wo = m->Get("word_order")) {
      if (auto i = reader_.OneOf(*wo, kWordOrders)) {
        tag.word_order = kWordOrderValues[*i];
        if (type_ok && tag.type == ModbusType::kBool) {
          reader_.ErrorAtKey(*wo, "does not apply to bool tags");
          ok = false;
        } else if (type_ok && (Is16Bit(tag.type) || tag.type == ModbusType::kString) &&
                   tag.word_order == WordOrder::kCDAB) {
          // Within one register only the byte order means something (BADC, or DCBA, swaps
          // the two bytes; for strings: low byte first). CDAB would silently do nothing.
          reader_.Error(*wo, "CDAB swaps 16-bit words, which " + type_name +
                                 (tag.type == ModbusType::kString
                                      ? " does not have (use BADC for low byte first)"
                                      : " does not have (use BADC to swap its two bytes)"));
          ok = false;
        }
      } else {
        ok = false;
      }
    }

    for (std::string_view key : {"scale", "offset"}) {
      auto f2 = m->Get(key);
      if (!f2) continue;
      auto v = reader_.Number(*f2);
      if (!v) {
        ok = false;
        continue;
      }
      const double neutral = key == "scale" ? 1.0 : 0.0;
      if (type_ok && (tag.type == ModbusType::kBool || tag.type == ModbusType::kString) &&
          *v != neutral) {
        reader_.ErrorAtKey(*f2, "applies to numeric types, not " + type_name);
        ok = false;
      } else if (key == "scale" && *v == 0.0) {
        reader_.Error(*f2, "0 would turn every reading into the offset");
        ok = false;
      } else {
        (key == "scale" ? tag.scale : tag.offset) = *v;
      }
    }

    if (auto addr = reader_.Require(*m, "address")) {
      if (auto v = reader_.Integer(*addr, 0, 65535)) {
        tag.address = static_cast<uint16_t>(*v);
        const bool count_known = shape_ok && (tag.type != ModbusType::kString || tag.length > 0);
        const int count = RegisterCount(tag);
        if (count_known && IsRegisterTable(tag.table) && *v + count > 65536) {
          reader_.Error(*addr, std::to_string(*v) + " + " + std::to_string(count) +
                                   " registers exceeds the " + table_name +
                                   " table (max address 65535)");
          ok = false;
        } else if (count_known && IsRegisterTable(tag.table) && count > max_registers) {
          const Field& at = tag.type == ModbusType::kString && length ? *length
                            : type                                    ? *type
                                                                      : *addr;
          reader_.Error(at, type_name + " needs " + std::to_string(count) +
                                " registers in one request, but max_registers_per_request is " +
                                std::to_string(max_registers));
          ok = false;
        }
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (!ok) return std::nullopt;
    return tag;
  }

  // ---- mqtt_sources -----------------------------------------------------------------------

  std::vector<MqttSource> ReadMqttSources(const Field& f, const std::string& gateway_id,
                                          const std::optional<UpstreamConfig>& upstream) {
    std::vector<MqttSource> sources;
    auto items = reader_.List(f);
    if (!items) {
      tags_complete_ = false;
      return sources;
    }
    for (const Field& item : *items) {
      if (auto s = ReadMqttSource(item, gateway_id, upstream)) sources.push_back(std::move(*s));
    }
    return sources;
  }

  std::optional<MqttSource> ReadMqttSource(const Field& f, const std::string& gateway_id,
                                           const std::optional<UpstreamConfig>& upstream) {
    auto m = reader_.Map(f, kSourceKeys);
    if (!m) {
      tags_complete_ = false;
      return std::nullopt;
    }
    MqttSource src;
    src.pos = m->pos();
    bool ok = true;
    ok &= ReadUniqueName(*m, "name", "source name", &source_names_, "source", &src.name);

    // Without its own broker, a source shares the upstream connection's settings.
    if (auto broker = m->Get("broker")) {
      ok &= ReadBrokerUri(*broker, &src.broker);
    } else if (upstream) {
      src.broker = upstream->broker;
      src.broker.client_id.clear();
    } else if (upstream_present_) {
      ok = false;  // upstream is broken; already reported
    } else {
      sink_->Add(m->pos(), ChildPathOf(*m, "broker") +
                               ": required key is missing (there is no upstream broker to "
                               "default to)");
      ok = false;
    }
    ok &= ReadConnectionSettings(*m, &src.broker);
    if (src.broker.client_id.empty()) src.broker.client_id = gateway_id + "-" + src.name;

    std::string topic;
    if (auto s = RequireChecked(*m, "topic", CheckTopicFilter)) {
      topic = *s;
      src.topic = *s;
    } else {
      ok = false;
    }
    if (auto q = m->Get("qos")) {
      if (auto v = reader_.Integer(*q, 0, 2)) src.qos = static_cast<int>(*v);
    }
    if (auto ts = m->Get("timestamp_field")) {
      if (auto s = CheckedString(*ts, CheckJsonPointer)) {
        if (s->empty()) {
          reader_.Error(*ts, "empty JSON pointer; omit timestamp_field to use the arrival time");
        }
        src.timestamp_field = *s;
      }
    }
    ok &= ReadTags(*m, "a source needs at least one tag", &src.tags,
                   [&](const Field& item) { return ReadMqttTag(item, topic); });
    if (!ok) return std::nullopt;
    CheckTlsMatchesScheme(*m, &src.broker);
    AddConnection(*m, src.broker);
    return src;
  }

  std::optional<MqttSourceTag> ReadMqttTag(const Field& f, const std::string& topic) {
    auto m = reader_.Map(f, kSourceTagKeys);
    if (!m) {
      tags_complete_ = false;
      return std::nullopt;
    }
    MqttSourceTag tag;
    tag.pos = m->pos();
    bool ok = true;
    if (auto name = reader_.Require(*m, "name")) {
      if (auto s = reader_.String(*name)) {
        RegisterTag(*name, *s);
        // An unknown topic (reported already) admits any placeholder.
        auto t = TagNameTemplate::Parse(*s, topic.empty() ? "#" : topic);
        if (t.ok()) {
          tag.name = *s;
          if (t->has_placeholders()) templates_.push_back(std::move(*t));
        } else {
          reader_.Error(*name, t.status().message());
          ok = false;
        }
      } else {
        tags_complete_ = false;
        ok = false;
      }
    } else {
      tags_complete_ = false;
      ok = false;
    }
    if (auto field = m->Get("field")) {
      if (auto s = CheckedString(*field, CheckJsonPointer)) {
        tag.field = *s;
      } else {
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return tag;
  }

  // ---- storage, models, http --------------------------------------------------------------

  void ReadStorage(const Field& f, StorageConfig* out) {
    auto m = reader_.Map(f, kStorageKeys);
    if (!m) return;
    if (auto r = m->Get("retention")) {
      if (auto v = reader_.DurationIn(*r, 1min, 3650 * 24h)) out->retention = *v;
    }
    if (auto s = m->Get("max_size")) {
      if (auto v = reader_.SizeAtLeast(*s, 1ull << 20)) out->max_size_bytes = *v;
    }
  }

  void ReadModels(const Field& f, ModelsConfig* out) {
    auto m = reader_.Map(f, kModelsKeys);
    if (!m) return;
    auto repo = m->Get("repository");
    if (repo) out->repository = ReadRepository(*repo);
    if (auto deployments = m->Get("deployments")) {
      auto items = reader_.List(*deployments);
      if (!items) return;
      if (!items->empty() && !upstream_present_) {
        reader_.ErrorAtKey(*deployments,
                           "alarms need an upstream broker to go to; add an upstream section");
      }
      for (const Field& item : *items) {
        if (auto d = ReadDeployment(item, repo.has_value())) {
          out->deployments.push_back(std::move(*d));
        }
      }
    }
  }

  std::optional<RepositoryConfig> ReadRepository(const Field& f) {
    auto m = reader_.Map(f, kRepositoryKeys);
    if (!m) return std::nullopt;
    RepositoryConfig repo;
    bool ok = true;
    if (auto s = RequireChecked(*m, "url", CheckRepositoryUrl)) {
      repo.url = *s;
    } else {
      ok = false;
    }
    if (auto p = m->Get("poll_interval")) {
      if (auto v = reader_.DurationIn(*p, 10s, 24h)) repo.poll_interval = *v;
    }
    if (auto keys = reader_.Require(*m, "trusted_keys")) {
      if (keys->value.IsScalar()) {
        reader_.Error(*keys,
                      "expected a list of public key files, e.g. [" + keys->value.Scalar() + "]");
        ok = false;
      } else if (auto items = reader_.List(*keys)) {
        if (items->empty()) {
          reader_.Error(*keys, "at least one trusted key is needed to verify models");
          ok = false;
        }
        for (const Field& item : *items) {
          if (auto path = ReadableFile(item)) {
            if (CheckPublicKeyFile(item, *path)) repo.trusted_keys.push_back(*path);
          }
        }
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (auto ca = m->Get("ca_file")) {
      if (auto s = ReadableFile(*ca)) {
        if (repo.url.rfind("http://", 0) == 0) {
          reader_.ErrorAtKey(*ca, "applies to https:// only; the url is http://");
        }
        repo.ca_file = *s;
      }
    }
    if (!ok) return std::nullopt;
    return repo;
  }

  // A PEM public key; catches the private key given by mistake.
  bool CheckPublicKeyFile(const Field& f, const std::string& path) {
    std::ifstream in(path);
    std::string head(4096, '\0');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<size_t>(in.gcount()));
    if (head.find("PRIVATE KEY-----") != std::string::npos) {
      reader_.Error(f, "'" + f.value.Scalar() +
                           "' is a private key; give the public key (keep the private one "
                           "off the line PC)");
      return false;
    }
    if (head.find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
      reader_.Error(
          f, "'" + f.value.Scalar() + "' is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
      return false;
    }
    return true;
  }

  std::optional<Deployment> ReadDeployment(const Field& f, bool have_repository) {
    auto m = reader_.Map(f, kDeploymentKeys);
    if (!m) return std::nullopt;
    Deployment d;
    d.pos = m->pos();
    bool ok = true;
    ok &= ReadUniqueName(*m, "asset", "asset name", &asset_names_, "asset", &d.asset);
    auto model = m->Get("model");
    auto package = m->Get("package");
    if (model && package) {
      const Field& later = model->key_pos.line > package->key_pos.line ? *model : *package;
      reader_.ErrorAtKey(later,
                         "model and package exclude each other: model comes from the "
                         "repository, package is a local directory");
      ok = false;
    } else if (!model && !package) {
      sink_->Add(m->pos(), m->path() +
                               ": needs model (a name in the repository) or package (a "
                               "local package directory)");
      ok = false;
    }
    if (model) {
      if (auto s = Name(*model, "model name")) {
        d.model = *s;
        if (!have_repository && !package) {
          reader_.Error(*model, "'" + *s +
                                    "' needs a models.repository to download it from (or use "
                                    "package: for a local directory)");
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    if (package) {
      if (auto s = PackageDir(*package)) {
        d.package = *s;
      } else {
        ok = false;
      }
    }
    if (auto inputs = reader_.Require(*m, "inputs")) {
      if (auto im = reader_.AnyMap(*inputs)) {
        if (im->fields().empty()) {
          reader_.Error(*inputs,
                        "expected the model's features mapped to tags, e.g. "
                        "Current: pump1.current");
          ok = false;
        }
        for (const Field& input : im->fields()) {
          if (auto tag = CheckTagReference(input)) {
            d.inputs[input.key] = *tag;
          } else {
            ok = false;
          }
        }
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (auto alarm = m->Get("alarm")) {
      if (auto am = reader_.Map(*alarm, kAlarmKeys)) {
        if (auto t = am->Get("threshold")) {
          if (auto v = reader_.Number(*t)) d.alarm.threshold = *v;
        }
        if (auto r = am->Get("raise_after")) {
          if (auto v = reader_.Integer(*r, 1, 10000)) d.alarm.raise_after = static_cast<int>(*v);
        }
        if (auto c = am->Get("clear_after")) {
          if (auto v = reader_.Integer(*c, 1, 10000)) d.alarm.clear_after = static_cast<int>(*v);
        }
      }
    }
    if (auto age = m->Get("max_input_age")) {
      if (auto v = reader_.DurationIn(*age, 0ms, 24h)) d.max_input_age = *v;
    }
    if (!ok) return std::nullopt;
    return d;
  }

  // The tag a deployment input names; it must be a Modbus or MQTT tag, or a name an MQTT
  // tag template can produce.
  std::optional<std::string> CheckTagReference(const Field& f) {
    auto s = reader_.String(f);
    if (!s) return std::nullopt;
    if (s->empty()) {
      reader_.Error(f, "empty tag name");
      return std::nullopt;
    }
    if (tag_defs_.count(*s) != 0) return s;
    for (const TagNameTemplate& t : templates_) {
      if (t.Matches(*s)) return s;
    }
    if (!tags_complete_) return std::nullopt;  // it may be one of the tags that failed to read
    std::vector<std::string_view> known;
    for (const auto& [name, pos] : tag_defs_) known.push_back(name);
    const std::string suggestion = ClosestMatch(*s, known);
    reader_.Error(f, "unknown tag '" + *s + "'" +
                         (suggestion.empty() ? " (no Modbus or MQTT tag has this name)"
                                             : "; did you mean '" + suggestion + "'?"));
    return std::nullopt;
  }

  void ReadHttp(const Field& f, HttpConfig* out) {
    auto m = reader_.Map(f, kHttpKeys);
    if (!m) return;
    if (auto listen = m->Get("listen")) {
      if (auto s = reader_.String(*listen)) {
        if (s->empty()) return;  // explicitly disabled
        Status st = CheckListenAddress(*s);
        if (st.ok()) {
          out->listen = *s;
        } else {
          reader_.Error(*listen, "'" + *s + "': " + st.message());
        }
      }
    }
  }

  // ---- shared value checks ----------------------------------------------------------------

  std::optional<std::string> Name(const Field& f, std::string_view what) {
    auto s = reader_.String(f);
    if (!s) return std::nullopt;
    if (!IsValidName(*s)) {
      reader_.Error(f, "'" + *s + "' is not a valid " + std::string(what) +
                           " (letters, digits, '_', '.', '-')");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> NonEmptyString(const Field& f) {
    auto s = reader_.String(f);
    if (!s) return std::nullopt;
    if (s->empty()) {
      reader_.Error(f, "empty value");
      return std::nullopt;
    }
    return s;
  }

  // The required key `key` of `m` as a string that `check` accepts; nullopt (reported) if it is
  // missing, not a string or rejected.
  std::optional<std::string> RequireChecked(const MapView& m, std::string_view key,
                                            Status (*check)(std::string_view)) {
    auto field = reader_.Require(m, key);
    if (!field) return std::nullopt;
    return CheckedString(*field, check);
  }

  // A string that `check` (config/value_syntax.h) accepts; a rejected one is reported at `f`
  // with the value quoted.
  std::optional<std::string> CheckedString(const Field& f, Status (*check)(std::string_view)) {
    auto s = reader_.String(f);
    if (!s) return std::nullopt;
    Status st = check(*s);
    if (!st.ok()) {
      reader_.Error(f, "'" + *s + "': " + st.message());
      return std::nullopt;
    }
    return s;
  }

  // Records `name` in `seen`; a second definition is an error at `f`.
  // Reads the required, non-empty list `tags` of `m` with `read_tag` (which reports its own
  // errors and returns nullopt for a bad tag); false if anything was wrong.
  template <typename Tag, typename ReadTag>
  bool ReadTags(const MapView& m, std::string_view empty_message, std::vector<Tag>* out,
                ReadTag read_tag) {
    auto tags = reader_.Require(m, "tags");
    if (!tags) return false;
    auto items = reader_.List(*tags);
    if (!items) {
      tags_complete_ = false;
      return false;
    }
    if (items->empty()) reader_.Error(*tags, empty_message);
    bool ok = true;
    for (const Field& item : *items) {
      if (std::optional<Tag> tag = read_tag(item)) {
        out->push_back(std::move(*tag));
      } else {
        ok = false;
      }
    }
    return ok;
  }

  // Reads the required name at `key` of `m` into `out`; false (and reported) if it is missing,
  // not a valid name, or already used by another `kind`.
  bool ReadUniqueName(const MapView& m, std::string_view key, std::string_view what,
                      std::map<std::string, SourcePos>* seen, std::string_view kind,
                      std::string* out) {
    auto field = reader_.Require(m, key);
    if (!field) return false;
    auto name = Name(*field, what);
    if (!name) return false;
    *out = *name;
    return Unique(seen, *field, *name, kind);
  }

  bool Unique(std::map<std::string, SourcePos>* seen, const Field& f, const std::string& name,
              std::string_view what) {
    auto [it, inserted] = seen->emplace(name, f.value_pos);
    if (inserted) return true;
    reader_.Error(f, "duplicate " + std::string(what) + " name '" + name + "'; first defined at " +
                         LineRef(it->second));
    return false;
  }

  // Tag names are unique across all Modbus devices and MQTT sources (templates compare as
  // written).
  void RegisterTag(const Field& f, const std::string& name) {
    auto [it, inserted] = tag_defs_.emplace(name, TagDef{f.value_pos, f.path});
    if (!inserted) {
      reader_.Error(f, "duplicate tag name '" + name + "'; first defined at " +
                           LineRef(it->second.pos) + " (" + it->second.path + ")");
    }
  }

  std::string ChildPathOf(const MapView& m, std::string_view key) {
    return internal::ChildPath(m.path(), key);
  }

  // ---- referenced files -------------------------------------------------------------------

  std::string Resolve(const std::string& path) const {
    std::filesystem::path p(path);
    if (p.is_absolute()) return p.lexically_normal().string();
    return (base_dir_ / p).lexically_normal().string();
  }

  std::string FileError(const std::string& given, const std::string& what) const {
    std::string msg = "cannot read '" + given + "': " + what;
    if (!std::filesystem::path(given).is_absolute()) {
      msg += " (relative paths start at the configuration file's directory)";
    }
    return msg;
  }

  // A regular file the agent can open for reading.
  std::optional<std::string> ReadableFile(const Field& f) {
    auto s = NonEmptyString(f);
    if (!s) return std::nullopt;
    const std::string path = Resolve(*s);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      reader_.Error(f, FileError(*s, Lowercased(std::strerror(errno))));
      return std::nullopt;
    }
    struct stat st {};
    const bool is_dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    ::close(fd);
    if (is_dir) {
      reader_.Error(f, FileError(*s, "is a directory, expected a file"));
      return std::nullopt;
    }
    return path;
  }

  // A file holding a secret (a password, a private key): readable, and not by every user.
  // Group-readable stays allowed (a service group may share it).
  std::optional<std::string> SecretFile(const Field& f) {
    std::optional<std::string> path = ReadableFile(f);
    if (!path) return std::nullopt;
    if (std::string fault = WorldReadableFault(*path); !fault.empty()) {
      reader_.Error(f, "'" + f.value.Scalar() + "' " + fault);
      return std::nullopt;
    }
    return path;
  }

  // A model package directory: readable and holding a manifest.json.
  std::optional<std::string> PackageDir(const Field& f) {
    auto s = NonEmptyString(f);
    if (!s) return std::nullopt;
    const std::string path = Resolve(*s);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0) {
      reader_.Error(f, FileError(*s, errno == ENOTDIR ? "not a directory"
                                                      : Lowercased(std::strerror(errno))));
      return std::nullopt;
    }
    ::close(fd);
    if (::access((path + "/manifest.json").c_str(), R_OK) != 0) {
      reader_.Error(f, "'" + *s + "' has no readable manifest.json; is it a model package?");
      return std::nullopt;
    }
    return path;
  }

  struct TagDef {
    SourcePos pos;
    std::string path;
  };

  DiagnosticSink* sink_;
  YamlReader reader_;
  std::filesystem::path base_dir_;
  bool upstream_present_ = false;
  std::map<std::string, SourcePos> device_names_;
  std::map<std::string, SourcePos> source_names_;
  std::map<std::string, SourcePos> asset_names_;
  std::map<std::string, TagDef> tag_defs_;
  std::vector<TagNameTemplate> templates_;
  // False when some tag could not be read: an unknown tag reference may then be that tag,
  // so it is not reported.
  bool tags_complete_ = true;
  std::map<std::string, Field> serial_fields_;  // device name -> its serial field
  std::map<std::string, TagDef> unit_refs_;     // device name -> its unit_id (or mapping)
  std::vector<Connection> connections_;
};

// yaml-cpp's parser messages, with a hint for the common causes on a line PC.
std::string SyntaxMessage(const std::string& msg) {
  if (msg == "illegal map value") {
    return "invalid YAML: unexpected ':' (a key indented wrongly, or a value containing ': ' "
           "that needs quotes)";
  }
  if (msg == "end of map not found" || msg == "end of sequence not found") {
    return "invalid YAML: this line's indentation does not match the lines above it (" + msg + ")";
  }
  if (msg == "end of map flow not found") return "invalid YAML: '{' is not closed by '}'";
  if (msg == "end of sequence flow not found") return "invalid YAML: '[' is not closed by ']'";
  return "invalid YAML: " + msg;
}

// Where the last '[' or '{' (`open`) that is still open at `limit` was opened: yaml-cpp reports
// an unclosed flow collection where it gave up, often lines later. Quotes are recognised only
// where a scalar can start, so that "it's" does not open a quote.
std::optional<SourcePos> UnclosedBracket(std::string_view yaml, char open, SourcePos limit) {
  std::vector<std::pair<char, SourcePos>> stack;
  int line = 1;
  int column = 0;
  char quote = 0;
  char prev = '\n';
  for (size_t i = 0; i < yaml.size(); ++i) {
    const char c = yaml[i];
    ++column;
    if (line > limit.line || (line == limit.line && column >= limit.column)) break;
    if (c == '\n') {
      ++line;
      column = 0;
      prev = c;
      continue;
    }
    const bool token_start = prev == ' ' || prev == '\t' || prev == '\n' || prev == '[' ||
                             prev == '{' || prev == ',' || prev == ':';
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if ((c == '"' || c == '\'') && token_start) {
      quote = c;
    } else if (c == '#' && token_start) {
      const size_t end = yaml.find('\n', i);
      if (end == std::string_view::npos) break;
      column += static_cast<int>(end - i) - 1;
      i = end - 1;
    } else if (c == '[' || c == '{') {
      stack.emplace_back(c, SourcePos{line, column});
    } else if ((c == ']' || c == '}') && !stack.empty()) {
      stack.pop_back();
    }
    prev = c;
  }
  for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
    if (it->first == open) return it->second;
  }
  return std::nullopt;
}

// The first tab in the indentation of a line at or before `line` (1-based), if any: YAML
// forbids tabs there and yaml-cpp's message for it is rarely about tabs.
std::optional<SourcePos> IndentationTab(std::string_view yaml, int up_to_line) {
  int line = 1;
  size_t start = 0;
  while (start <= yaml.size() && line <= up_to_line) {
    size_t end = yaml.find('\n', start);
    if (end == std::string_view::npos) end = yaml.size();
    for (size_t i = start; i < end && (yaml[i] == ' ' || yaml[i] == '\t'); ++i) {
      if (yaml[i] == '\t') return SourcePos{line, static_cast<int>(i - start) + 1};
    }
    start = end + 1;
    ++line;
  }
  return std::nullopt;
}

// Where each document of a stream starts and where its first node is (none: an empty document).
class DocumentScanner : public YAML::EventHandler {
 public:
  YAML::Mark start;
  std::optional<YAML::Mark> content;

  void OnDocumentStart(const YAML::Mark& mark) override {
    start = mark;
    content.reset();
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Saw(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Saw(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnMapEnd() override {}

 private:
  void Saw(const YAML::Mark& mark) {
    if (!content) content = mark;
  }
};

// YAML::LoadAll without its endless loop: on a ',' outside any [ ] or { } ("  a: 1\n,\n")
// yaml-cpp 0.7's parser returns an empty document at the same token forever, and LoadAll
// collects them until memory runs out (jbeder/yaml-cpp#1040; fixed upstream after 0.8.0 by #1319;
// found by tests/fuzz/config_loader_fuzzer). Returns the first document; `second` is where the
// first non-empty later document starts. A document that starts where the previous one did is
// the syntax error it is: ParserException, as for any other.
std::vector<YAML::Node> LoadDocuments(const std::string& text, std::optional<YAML::Mark>* second) {
  std::vector<YAML::Node> docs = {YAML::Load(text)};
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentScanner scan;
  std::optional<YAML::Mark> previous_start;
  for (int i = 0; parser.HandleNextDocument(scan); ++i) {
    if (previous_start && previous_start->pos == scan.start.pos) {
      const auto pos = static_cast<size_t>(std::max(scan.start.pos, 0));
      const std::string what = pos < text.size() && text[pos] == ','
                                   ? "',' outside [ ] or { } (a stray comma?)"
                                   : "unexpected '" + text.substr(pos, 1) + "'";
      throw YAML::ParserException(scan.start, what);
    }
    previous_start = scan.start;
    if (i > 0 && scan.content) {
      *second = scan.content;
      break;
    }
  }
  return docs;
}

}  // namespace

std::string WorldReadableFault(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & S_IROTH) == 0) return "";
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return std::string("is readable by every user (mode ") + mode + "); chmod 600 or 640 it";
}

std::string Diagnostic::ToString() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": error: " + message;
}

LoadResult LoadConfigString(std::string_view yaml, const std::string& display_path,
                            const std::string& base_dir) {
  LoadResult result;
  DiagnosticSink sink(display_path);
  std::vector<YAML::Node> docs;
  std::optional<YAML::Mark> second_doc;
  try {
    docs = LoadDocuments(std::string(yaml), &second_doc);
  } catch (const YAML::ParserException& e) {
    SourcePos pos = internal::PositionOf(e.mark);
    if (auto tab = IndentationTab(yaml, pos.line)) {
      sink.Add(*tab, "invalid YAML: tab character in indentation; indent with spaces");
    } else if (e.msg == "end of sequence flow not found" || e.msg == "end of map flow not found") {
      const char open = e.msg == "end of sequence flow not found" ? '[' : '{';
      sink.Add(UnclosedBracket(yaml, open, pos).value_or(pos), SyntaxMessage(e.msg));
    } else {
      sink.Add(pos, SyntaxMessage(e.msg));
    }
    result.errors = sink.Sorted();
    return result;
  } catch (const std::exception& e) {
    sink.Add(SourcePos{1, 1}, std::string("invalid YAML: ") + e.what());
    result.errors = sink.Sorted();
    return result;
  }
  if (docs.empty() || docs[0].IsNull()) {
    sink.Add(SourcePos{1, 1}, "empty configuration; gateway.id is required");
    result.errors = sink.Sorted();
    return result;
  }
  // A trailing '---' leaves an empty document, which is harmless.
  if (second_doc) {
    sink.Add(internal::PositionOf(*second_doc),
             "a second YAML document (after '---') is not supported; keep one document");
  }
  AgentConfig config;
  try {
    Loader loader(&sink, base_dir);
    Field root;
    root.value = docs[0];
    root.value_pos = internal::PositionOf(docs[0].Mark());
    if (!docs[0].IsMap()) {
      sink.Add(root.value_pos,
               "expected the sections (gateway:, modbus:, ...) at the top "
               "level, got " +
                   internal::Describe(docs[0]));
    } else {
      config = loader.Load(root);
    }
  } catch (const std::exception& e) {
    // A yaml-cpp exception here is a bug in the loader; report it rather than crash.
    sink.Add(SourcePos{1, 1},
             std::string("internal error while reading the configuration: ") + e.what());
  }
  result.errors = sink.Sorted();
  if (result.errors.empty()) {
    config.path = display_path;
    result.config = std::move(config);
  }
  return result;
}

LoadResult LoadConfigFile(const std::string& path) {
  std::string text;
  int err = 0;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
  } else {
    char buf[65536];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        text.append(buf, static_cast<size_t>(n));
      } else if (n == 0) {
        break;
      } else if (errno != EINTR) {
        err = errno;  // EISDIR for a directory
        break;
      }
    }
    ::close(fd);
  }
  if (err != 0) {
    LoadResult result;
    result.errors.push_back(
        Diagnostic{path, 1, 1, "cannot read file: " + Lowercased(std::strerror(err))});
    return result;
  }
  const std::string base_dir = std::filesystem::path(path).parent_path().string();
  return LoadConfigString(text, path, base_dir);
}

}  // namespace edge::config
