// ModbusSource against an independent Modbus implementation: pymodbus (Debian's
// python3-pymodbus), serving values that pymodbus's own BinaryPayloadBuilder encoded
// (tests/drivers/pymodbus_server.py), over TCP and over RTU through a socat pty pair. What we
// decode must equal what pymodbus says it encoded.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "drivers/modbus_codec.h"
#include "drivers/modbus_source.h"
#include "tests/drivers/peer_process.h"
#include "tests/support/eventually.h"

namespace edge::drivers {
namespace {

using config::ModbusDevice;
using config::ModbusTag;
using config::ModbusType;
using edge::testing::Eventually;
using edge::testing::PtyPair;
using edge::testing::PymodbusServer;
using edge::testing::ScratchDir;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Expected {
  ModbusTag tag;
  nlohmann::json value;
};

// The tags of the manifest, as agent configuration, with what each must decode to.
std::vector<Expected> TagsOf(const nlohmann::json& manifest) {
  std::vector<Expected> out;
  for (const nlohmann::json& t : manifest.at("tags")) {
    ModbusTag tag;
    tag.name = t.at("name").get<std::string>();
    tag.table = *ParseTable(t.at("table").get<std::string>());
    tag.address = t.at("address").get<uint16_t>();
    tag.type = *ParseType(t.at("type").get<std::string>());
    tag.word_order = *ParseWordOrder(t.at("word_order").get<std::string>());
    if (t.contains("bit")) tag.bit = t.at("bit").get<uint8_t>();
    if (t.contains("length")) tag.length = t.at("length").get<uint16_t>();
    out.push_back({tag, t.at("value")});
  }
  return out;
}

double AsDouble(const nlohmann::json& v) {
  // int64 / uint64 values beyond 2^53 must be converted from the exact integer, as the codec
  // does, not parsed as a double.
  if (v.is_number_unsigned()) return static_cast<double>(v.get<uint64_t>());
  if (v.is_number_integer()) return static_cast<double>(v.get<int64_t>());
  return v.get<double>();
}

// Polls `devices`, which share out the tags of `expected` round robin, until every tag has a
// good value, then checks each against the manifest.
void PollAndCompare(std::vector<ModbusDevice> devices, const std::vector<Expected>& expected) {
  TagRegistry registry;
  BoundedQueue<Sample> queue(1 << 16);
  for (size_t i = 0; i < expected.size(); ++i) {
    const Expected& e = expected[i];
    devices[i % devices.size()].tags.push_back(e.tag);
    if (e.tag.type != ModbusType::kString) registry.Intern(e.tag.name);
  }
  std::mutex mu;
  std::map<std::string, std::string> texts;  // guarded by mu
  ModbusSource::Options options;
  options.backoff_initial = milliseconds(100);
  options.backoff_max = milliseconds(500);
  options.on_string = [&](const StringReading& r) {
    std::lock_guard lock(mu);
    if (r.quality == Quality::kGood) texts[std::string(r.tag)] = r.value;
  };
  StatusOr<std::unique_ptr<ModbusSource>> source =
      ModbusSource::Create(devices, registry, queue, std::move(options));
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_TRUE((*source)->Start().ok());

  std::map<TagId, Sample> last_good;
  std::vector<Sample> batch;
  const bool complete = Eventually(
      [&] {
        batch.clear();
        queue.PopBatch(batch, 4096, milliseconds(0));
        for (const Sample& s : batch) {
          if (s.quality == Quality::kGood) last_good[s.tag] = s;
        }
        std::lock_guard lock(mu);
        return last_good.size() == registry.size() && !texts.empty();
      },
      seconds(30));
  (*source)->Stop();
  for (const ModbusDeviceStats& stats : (*source)->stats()) {
    EXPECT_TRUE(complete) << stats.device << ": good values for " << last_good.size() << " of "
                          << registry.size() << " tags; polls " << stats.polls << ", timeouts "
                          << stats.timeouts << ", exceptions " << stats.exceptions
                          << ", bad responses " << stats.bad_responses << ", connection errors "
                          << stats.connection_errors;
    EXPECT_EQ(stats.endpoint, (*source)->stats().at(0).endpoint);
  }
  ASSERT_TRUE(complete);
  size_t checked = 0;
  for (const Expected& e : expected) {
    if (e.tag.type == ModbusType::kString) {
      std::lock_guard lock(mu);
      EXPECT_EQ(texts[e.tag.name], e.value.get<std::string>()) << e.tag.name;
      ++checked;
      continue;
    }
    const Sample& s = last_good.at(*registry.Find(e.tag.name));
    EXPECT_EQ(s.value, AsDouble(e.value)) << e.tag.name;
    ++checked;
  }
  EXPECT_EQ(checked, expected.size());
}

TEST(PymodbusPeer, DecodesWhatPymodbusEncodedOverTcp) {
  ASSERT_FALSE(edge::testing::PymodbusVersion().empty())
      << edge::testing::PymodbusPython()
      << " cannot import pymodbus: install python3-pymodbus, or set EDGE_PYMODBUS_PYTHON";
  const auto server = PymodbusServer::Tcp();
  ASSERT_TRUE(server->ok()) << server->error();
  const nlohmann::json manifest = nlohmann::json::parse(server->manifest());
  const std::vector<Expected> expected = TagsOf(manifest);
  // 2 register tables x 8 types x 4 orders, bits of registers, strings, 2 x 21 bits.
  ASSERT_EQ(expected.size(), 2u * 32 + 2 + 2 + 42);

  ModbusDevice device;
  device.name = "pymodbus";
  device.host = "127.0.0.1";
  device.port = manifest.at("port").get<uint16_t>();
  device.poll_interval = milliseconds(100);
  device.timeout = milliseconds(1000);
  PollAndCompare({device}, expected);
}

// Two units on one RS-485 bus: one serial port, one thread, each device with its unit id
// (pymodbus answers every unit id).
TEST(PymodbusPeer, DecodesWhatPymodbusEncodedOverRtuThroughAPtyPair) {
  ASSERT_FALSE(edge::testing::PymodbusVersion().empty())
      << edge::testing::PymodbusPython()
      << " cannot import pymodbus: install python3-pymodbus, or set EDGE_PYMODBUS_PYTHON";
  ScratchDir dir;
  PtyPair ptys(dir.path());
  ASSERT_TRUE(ptys.ok()) << "socat (Debian package socat) failed: " << ptys.error();
  const auto server = PymodbusServer::Rtu(ptys.end_a());
  ASSERT_TRUE(server->ok()) << server->error();
  const std::vector<Expected> expected = TagsOf(nlohmann::json::parse(server->manifest()));

  ModbusDevice unit1;
  unit1.name = "pymodbus-rtu-1";
  // 8N1: pymodbus (pyserial) cannot set parity on a pty; a pty ignores it anyway.
  unit1.serial = config::SerialConfig{ptys.end_b(), 19200, 'N', 8, 1};
  unit1.unit_id = 1;
  unit1.poll_interval = milliseconds(200);
  unit1.timeout = milliseconds(1000);
  ModbusDevice unit2 = unit1;
  unit2.name = "pymodbus-rtu-2";
  unit2.unit_id = 2;
  PollAndCompare({unit1, unit2}, expected);
}

}  // namespace
}  // namespace edge::drivers
