// The modbus section: devices on Modbus TCP (host) or RTU (serial), their polling settings, and
// the checks across the devices of one serial bus. The tags are read by load_modbus_tag.cc.
#include <algorithm>
#include <limits>
#include <map>

#include "config/section_readers.h"
#include "config/value_syntax.h"
#include "core/quoted.h"

namespace edge::config::internal {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kDeviceKeys[] = {
    "name",    "host",          "port",    "serial",
    "unit_id", "poll_interval", "timeout", "max_registers_per_request",
    "max_gap", "tags"};
constexpr std::string_view kSerialKeys[] = {"device", "baud", "parity", "data_bits", "stop_bits"};
constexpr std::string_view kParities[] = {"N", "E", "O"};
constexpr int kBaudRates[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400};

std::string SerialText(const SerialConfig& s) {
  return std::to_string(s.baud) + " " + std::to_string(s.data_bits) + s.parity +
         std::to_string(s.stop_bits);
}

// Reads the devices of one modbus section; remembers where each was defined for the checks
// across devices.
class ModbusReader {
 public:
  explicit ModbusReader(LoaderContext* ctx) : ctx_(ctx), reader_(ctx->reader()) {}

  std::vector<ModbusDevice> Read(const Field& f);

 private:
  // Where a device's unit id was given (its mapping when defaulted), for the bus check.
  struct UnitRef {
    SourcePos pos;
    std::string path;
  };

  std::optional<ModbusDevice> ReadDevice(const Field& f);
  // host or serial (exactly one), port; false if the device cannot be reached as written.
  bool ReadTransport(const MapView& m, ModbusDevice* d);
  std::optional<SerialConfig> ReadSerial(const Field& f);
  void ReadUnitId(const Field& f, bool is_serial, ModbusDevice* d);
  // poll_interval, timeout, max_registers_per_request, max_gap; returns the register limit
  // the device's tags are checked against.
  uint16_t ReadPolling(const MapView& m, ModbusDevice* d);
  // Devices on one serial line share its settings, and each needs its own unit id.
  void CheckSharedBuses(const std::vector<ModbusDevice>& devices);

  LoaderContext* ctx_;
  YamlReader& reader_;
  NameTable device_names_;
  std::map<std::string, Field> serial_fields_;  // device name -> its serial field
  std::map<std::string, UnitRef> unit_refs_;    // device name -> its unit_id (or mapping)
};

std::vector<ModbusDevice> ModbusReader::Read(const Field& f) {
  std::vector<ModbusDevice> devices;
  auto items = ctx_->TagHoldingList(f);
  if (!items) return devices;
  for (const Field& item : *items) {
    if (auto d = ReadDevice(item)) devices.push_back(std::move(*d));
  }
  CheckSharedBuses(devices);
  return devices;
}

std::optional<ModbusDevice> ModbusReader::ReadDevice(const Field& f) {
  auto m = ctx_->TagHoldingMap(f, kDeviceKeys);
  if (!m) return std::nullopt;
  ModbusDevice d;
  d.pos = m->pos();
  bool ok = true;
  ok &= ctx_->ReadUniqueName(*m, "name", "device name", &device_names_, "device", &d.name);
  ok &= ReadTransport(*m, &d);
  const bool is_serial = m->Has("serial") && !m->Has("host");
  auto unit = m->Get("unit_id");
  if (unit) ReadUnitId(*unit, is_serial, &d);
  const uint16_t tag_limit = ReadPolling(*m, &d);
  ok &= ctx_->ReadTags(*m, "a device needs at least one tag", &d.tags,
                       [&](const Field& item) { return ReadModbusTag(ctx_, item, tag_limit); });
  if (!ok) return std::nullopt;
  if (d.serial) serial_fields_[d.name] = *m->Get("serial");
  unit_refs_[d.name] = {unit ? unit->value_pos : m->pos(),
                        LoaderContext::ChildPathOf(*m, "unit_id")};
  return d;
}

bool ModbusReader::ReadTransport(const MapView& m, ModbusDevice* d) {
  auto host = m.Get("host");
  auto serial = m.Get("serial");
  const bool is_serial = serial && !host;
  bool ok = true;
  if (host && serial) {
    const Field& later =
        host->key_pos.line > serial->key_pos.line || (host->key_pos.line == serial->key_pos.line &&
                                                      host->key_pos.column > serial->key_pos.column)
            ? *host
            : *serial;
    reader_.ErrorAtKey(later,
                       "host and serial exclude each other: host is Modbus TCP, serial is "
                       "Modbus RTU");
    ok = false;
  } else if (!host && !serial) {
    ctx_->sink().Add(m.pos(), m.path() + ": needs host (Modbus TCP) or serial (Modbus RTU)");
    ok = false;
  }
  if (host) {
    if (auto s = reader_.String(*host)) {
      Status st = CheckHost(*s);
      if (st.ok()) {
        d->host = *s;
      } else {
        reader_.Error(*host, Quoted(*s) + ": " + st.message());
        ok = false;
      }
    }
  }
  if (auto port = m.Get("port")) {
    if (is_serial) {
      reader_.ErrorAtKey(*port, "applies to Modbus TCP (host) only; this device uses serial");
    } else if (auto v = reader_.Integer(*port, 1, 65535)) {
      d->port = static_cast<uint16_t>(*v);
    }
  }
  if (serial) {
    if (auto s = ReadSerial(*serial)) {
      d->serial = *s;
    } else {
      ok = false;
    }
  }
  return ok;
}

std::optional<SerialConfig> ModbusReader::ReadSerial(const Field& f) {
  auto m = reader_.Map(f, kSerialKeys);
  if (!m) return std::nullopt;
  SerialConfig s;
  bool ok = true;
  if (auto dev = reader_.Require(*m, "device")) {
    if (auto v = reader_.String(*dev)) {
      if (v->empty() || (*v)[0] != '/') {
        reader_.Error(*dev,
                      "expected a device path such as /dev/ttyUSB0, got " + Describe(dev->value));
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

void ModbusReader::ReadUnitId(const Field& f, bool is_serial, ModbusDevice* d) {
  constexpr int64_t kAny = std::numeric_limits<int64_t>::max();
  auto v = reader_.Integer(f, -kAny, kAny);
  if (!v) return;
  if (is_serial && (*v < 0 || *v == 0 || *v > 247)) {
    reader_.Error(f, *v == 0 ? "0 is the RTU broadcast address, which never answers "
                               "a read; use 1..247"
                             : std::to_string(*v) + " is out of range (1..247)");
  } else if (!is_serial && (*v < 0 || (*v > 247 && *v != 255))) {
    reader_.Error(f, std::to_string(*v) + " is out of range (0..247, or 255 for a TCP gateway)");
  } else {
    d->unit_id = static_cast<uint8_t>(*v);
  }
}

uint16_t ModbusReader::ReadPolling(const MapView& m, ModbusDevice* d) {
  if (auto p = m.Get("poll_interval")) {
    if (auto v = reader_.DurationIn(*p, 10ms, 1h)) d->poll_interval = *v;
  }
  if (auto t = m.Get("timeout")) {
    if (auto v = reader_.DurationIn(*t, 1ms, 60s)) d->timeout = *v;
  }
  bool max_ok = true;
  if (auto r = m.Get("max_registers_per_request")) {
    if (auto v = reader_.Integer(*r, 1, 125)) {
      d->max_registers_per_request = static_cast<uint16_t>(*v);
    } else {
      max_ok = false;
    }
  }
  if (auto g = m.Get("max_gap")) {
    if (auto v = reader_.Integer(*g, 0, 125)) d->max_gap = static_cast<uint16_t>(*v);
  }
  // A bad limit is reported already; the tags are then checked against the protocol's.
  return max_ok ? d->max_registers_per_request : 125;
}

void ModbusReader::CheckSharedBuses(const std::vector<ModbusDevice>& devices) {
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
      reader_.Error(sf, "settings differ from device " + Quoted(first.name) + " on the same bus " +
                            b.device + " (" + SerialText(b) + " vs " + SerialText(a) +
                            "); one bus runs at one speed and framing");
    }
    for (const ModbusDevice& other : devices) {
      if (&other == &d) break;
      if (other.serial && other.serial->device == b.device && other.unit_id == d.unit_id) {
        const UnitRef& uf = unit_refs_[d.name];
        ctx_->sink().Add(uf.pos, uf.path + ": unit " + std::to_string(d.unit_id) +
                                     " is already device " + Quoted(other.name) + " on " + b.device);
        break;
      }
    }
  }
}

}  // namespace

std::vector<ModbusDevice> ReadModbus(LoaderContext* ctx, const Field& f) {
  return ModbusReader(ctx).Read(f);
}

}  // namespace edge::config::internal
