// ModbusSource against a real peer: plc-sim (tools/plc-sim, our libmodbus server) as a child
// process on an ephemeral loopback port. Timing assertions are deliberately loose (ctest runs
// tests in parallel on small machines): they check behaviour, not latency.
#include "drivers/modbus_source.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

#include "drivers/modbus_codec.h"
#include "tests/support/eventually.h"
#include "tests/support/plc_sim.h"
#include "tests/support/test_files.h"

namespace edge::drivers {
namespace {

using config::ModbusDevice;
using config::ModbusTable;
using config::ModbusTag;
using config::ModbusType;
using config::WordOrder;
using edge::testing::Eventually;
using edge::testing::PlcSim;
using edge::testing::ScratchDir;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Drains the queue on a thread of its own and keeps every sample, by tag.
class Collector {
 public:
  explicit Collector(BoundedQueue<Sample>& queue) : queue_(queue) {
    thread_ = std::thread([this] {
      std::vector<Sample> batch;
      while (!stop_) {
        batch.clear();
        queue_.PopBatch(batch, 1024, milliseconds(20));
        std::lock_guard lock(mu_);
        for (const Sample& s : batch) by_tag_[s.tag].push_back(s);
      }
    });
  }
  ~Collector() {
    stop_ = true;
    thread_.join();
  }

  std::vector<Sample> Of(TagId tag) {
    std::lock_guard lock(mu_);
    return by_tag_[tag];
  }
  std::optional<Sample> Last(TagId tag) {
    std::lock_guard lock(mu_);
    const auto& v = by_tag_[tag];
    return v.empty() ? std::nullopt : std::optional<Sample>(v.back());
  }
  size_t Count(TagId tag, Quality quality) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const Sample& s : by_tag_[tag]) n += s.quality == quality;
    return n;
  }

 private:
  BoundedQueue<Sample>& queue_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<TagId, std::vector<Sample>> by_tag_;  // guarded by mu_
  std::thread thread_;
};

// A tag, its value, and the YAML line plc-sim reads it from.
struct Spec {
  ModbusTag tag;
  double value = 0;
  std::string text;
};

ModbusTag MakeTag(std::string name, ModbusTable table, uint16_t address, ModbusType type,
                  WordOrder order = WordOrder::kABCD) {
  ModbusTag tag;
  tag.name = std::move(name);
  tag.table = table;
  tag.address = address;
  tag.type = type;
  tag.word_order = order;
  return tag;
}

std::string MapYaml(const std::vector<Spec>& specs) {
  std::string yaml = "tags:\n";
  for (const Spec& s : specs) {
    const ModbusTag& t = s.tag;
    yaml += fmt::format(
        "  - {{name: {}, table: {}, address: {}, type: {}, word_order: {}, scale: {}, "
        "offset: {}",
        t.name, config::ModbusTableName(t.table), t.address, config::ModbusTypeName(t.type),
        config::WordOrderName(t.word_order), t.scale, t.offset);
    if (t.bit) yaml += fmt::format(", bit: {}", *t.bit);
    if (t.type == ModbusType::kString) {
      yaml += fmt::format(", length: {}, value: \"{}\"}}\n", t.length, s.text);
    } else {
      yaml += fmt::format(", value: {}}}\n", s.value);
    }
  }
  return yaml;
}

ModbusDevice Device(std::string name, int port, std::vector<ModbusTag> tags,
                    milliseconds interval = milliseconds(50),
                    milliseconds timeout = milliseconds(300)) {
  ModbusDevice d;
  d.name = std::move(name);
  d.host = "127.0.0.1";
  d.port = static_cast<uint16_t>(port);
  d.poll_interval = interval;
  d.timeout = timeout;
  d.tags = std::move(tags);
  return d;
}

class ModbusSourceTest : public ::testing::Test {
 protected:
  ModbusSource::Options FastBackoff() {
    ModbusSource::Options options;
    options.backoff_initial = milliseconds(50);
    options.backoff_max = milliseconds(400);
    return options;
  }

  // Registers every numeric tag of `devices` and builds a source on them.
  std::unique_ptr<ModbusSource> MakeSource(const std::vector<ModbusDevice>& devices,
                                           ModbusSource::Options options) {
    for (const ModbusDevice& d : devices) {
      for (const ModbusTag& t : d.tags) {
        if (t.type != ModbusType::kString) registry_.Intern(t.name);
      }
    }
    StatusOr<std::unique_ptr<ModbusSource>> source =
        ModbusSource::Create(devices, registry_, queue_, std::move(options));
    EXPECT_TRUE(source.ok()) << source.status().ToString();
    return source.ok() ? std::move(*source) : nullptr;
  }

  TagId Id(const std::string& name) { return *registry_.Find(name); }

  // The map a device with one uint16 tag `name` at holding 0 reads; value 7.
  std::string SimpleMap(const std::string& name = "v") {
    return dir_.Write(
        name + ".yaml",
        MapYaml({{MakeTag(name, ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16), 7, {}}}));
  }

  ScratchDir dir_;
  TagRegistry registry_;
  BoundedQueue<Sample> queue_{1 << 16};
};

TEST_F(ModbusSourceTest, ReadsEveryTableTypeAndWordOrder) {
  std::vector<Spec> specs;
  uint16_t address = 0;
  const WordOrder orders[] = {WordOrder::kABCD, WordOrder::kCDAB, WordOrder::kBADC,
                              WordOrder::kDCBA};
  const std::pair<ModbusType, double> values[] = {{ModbusType::kInt16, -1234},
                                                  {ModbusType::kUInt16, 54321},
                                                  {ModbusType::kInt32, -2},
                                                  {ModbusType::kUInt32, 4000000000.0},
                                                  {ModbusType::kInt64, -1234567890123},
                                                  {ModbusType::kUInt64, 9007199254740992.0},
                                                  {ModbusType::kFloat32, 123.456},
                                                  {ModbusType::kFloat64, -2.718281828459045}};
  for (const ModbusTable table : {ModbusTable::kHoldingRegister, ModbusTable::kInputRegister}) {
    for (const WordOrder order : orders) {
      for (const auto& [type, value] : values) {
        const std::string name =
            fmt::format("{}.{}.{}", config::ModbusTableName(table), config::ModbusTypeName(type),
                        config::WordOrderName(order));
        specs.push_back({MakeTag(name, table, address, type, order), value, {}});
        address = static_cast<uint16_t>(address + config::RegisterCount(specs.back().tag) + 1);
      }
    }
  }
  for (uint16_t a = 0; a < 20; ++a) {
    specs.push_back({MakeTag(fmt::format("coil.{}", a), ModbusTable::kCoil, a, ModbusType::kBool),
                     a % 3 == 0 ? 1.0 : 0.0,
                     {}});
    specs.push_back({MakeTag(fmt::format("discrete.{}", a), ModbusTable::kDiscreteInput,
                             static_cast<uint16_t>(1000 + a), ModbusType::kBool),
                     a % 2 == 0 ? 1.0 : 0.0,
                     {}});
  }
  ModbusTag bit = MakeTag("holding.bit5", ModbusTable::kHoldingRegister, 900, ModbusType::kBool);
  bit.bit = 5;
  specs.push_back({bit, 1, {}});
  ModbusTag scaled =
      MakeTag("holding.scaled", ModbusTable::kHoldingRegister, 901, ModbusType::kInt16);
  scaled.scale = 0.1;
  scaled.offset = -40;
  specs.push_back({scaled, 21.5, {}});
  ModbusTag text = MakeTag("holding.text", ModbusTable::kHoldingRegister, 910, ModbusType::kString);
  text.length = 5;
  specs.push_back({text, 0, "PUMP-7"});

  PlcSim sim(dir_.Write("map.yaml", MapYaml(specs)));
  ASSERT_NE(sim.port(), 0) << sim.error();
  std::vector<ModbusTag> tags;
  for (const Spec& s : specs) tags.push_back(s.tag);

  std::mutex text_mu;
  std::string text_value;
  ModbusSource::Options options = FastBackoff();
  options.on_string = [&](const StringReading& r) {
    std::lock_guard lock(text_mu);
    if (r.quality == Quality::kGood) text_value = r.value;
  };
  Collector collector(queue_);
  const Timestamp before = SystemClockInstance().Now();
  auto source = MakeSource({Device("plc", sim.port(), tags)}, std::move(options));
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(Eventually(
      [&] {
        for (const Spec& s : specs) {
          if (s.tag.type != ModbusType::kString && !collector.Last(Id(s.tag.name))) return false;
        }
        return true;
      },
      seconds(10)));
  source->Stop();
  const Timestamp after = SystemClockInstance().Now();

  for (const Spec& s : specs) {
    if (s.tag.type == ModbusType::kString) continue;
    const Sample sample = *collector.Last(Id(s.tag.name));
    EXPECT_EQ(sample.quality, Quality::kGood) << s.tag.name;
    double expected = s.value;
    if (s.tag.type == ModbusType::kFloat32) expected = static_cast<float>(s.value);
    if (s.tag.scale != 1.0) {
      EXPECT_NEAR(sample.value, expected, s.tag.scale / 2) << s.tag.name;
    } else {
      EXPECT_EQ(sample.value, expected) << s.tag.name;
    }
    EXPECT_GE(sample.ts, before);
    EXPECT_LE(sample.ts, after);
  }
  {
    std::lock_guard lock(text_mu);
    EXPECT_EQ(text_value, "PUMP-7");
  }
  const ModbusDeviceStats stats = source->stats().at(0);
  EXPECT_GT(stats.polls, 0u);
  EXPECT_EQ(stats.timeouts + stats.exceptions + stats.bad_responses + stats.connection_errors, 0u);
  // 107 tags in 5 requests a poll: holding 0..111 and 900..914 (bit, scaled, string),
  // input 112..223, coils 0..19, discrete inputs 1000..1019.
  EXPECT_EQ(stats.requests, 5 * stats.polls);
  EXPECT_GT(stats.last_latency.count(), 0);
}

TEST_F(ModbusSourceTest, ExceptionResponseMarksOnlyThatRequestBad) {
  const std::string map = dir_.Write(
      "map.yaml",
      MapYaml(
          {{MakeTag("ok", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16), 5, {}},
           {MakeTag("bad", ModbusTable::kHoldingRegister, 100, ModbusType::kFloat32), 1.5, {}}}));
  PlcSim sim(map, {"--exception-at", "101"});
  ASSERT_NE(sim.port(), 0) << sim.error();
  Collector collector(queue_);
  auto source = MakeSource(
      {Device("plc", sim.port(),
              {MakeTag("ok", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16),
               MakeTag("bad", ModbusTable::kHoldingRegister, 100, ModbusType::kFloat32)})},
      FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(Eventually([&] { return collector.Of(Id("bad")).size() >= 3; }, seconds(10)));
  source->Stop();
  for (const Sample& s : collector.Of(Id("bad"))) {
    EXPECT_EQ(s.quality, Quality::kBad);
    EXPECT_TRUE(std::isnan(s.value));
  }
  for (const Sample& s : collector.Of(Id("ok"))) {
    EXPECT_EQ(s.quality, Quality::kGood);
    EXPECT_EQ(s.value, 5);
  }
  const ModbusDeviceStats stats = source->stats().at(0);
  EXPECT_GE(stats.exceptions, 3u);
  EXPECT_EQ(stats.reconnects, 0u);  // an exception is an answer: the connection is kept
  EXPECT_EQ(stats.connection_errors, 0u);
}

TEST_F(ModbusSourceTest, MalformedAnswerIsCountedAndBad) {
  PlcSim sim(SimpleMap(), {"--garble-at", "0"});
  ASSERT_NE(sim.port(), 0) << sim.error();
  Collector collector(queue_);
  auto source =
      MakeSource({Device("plc", sim.port(),
                         {MakeTag("v", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)})},
                 FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(Eventually([&] { return source->stats().at(0).bad_responses >= 2; }, seconds(10)));
  source->Stop();
  EXPECT_EQ(collector.Count(Id("v"), Quality::kGood), 0u);
  const auto samples = collector.Of(Id("v"));
  ASSERT_FALSE(samples.empty());
  EXPECT_TRUE(std::isnan(samples.back().value));
}

TEST_F(ModbusSourceTest, StoppedServerTimesOutWithoutDelayingOtherDevices) {
  PlcSim frozen(SimpleMap("a"));
  PlcSim healthy(SimpleMap("b"));
  ASSERT_NE(frozen.port(), 0) << frozen.error();
  ASSERT_NE(healthy.port(), 0) << healthy.error();
  Collector collector(queue_);
  auto source =
      MakeSource({Device("a", frozen.port(),
                         {MakeTag("a", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)},
                         milliseconds(50), milliseconds(200)),
                  Device("b", healthy.port(),
                         {MakeTag("b", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)},
                         milliseconds(50), milliseconds(200))},
                 FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(
      Eventually([&] { return collector.Count(Id("a"), Quality::kGood) > 0; }, seconds(10)));

  frozen.Pause();
  const size_t b_before = collector.Count(Id("b"), Quality::kGood);
  ASSERT_TRUE(Eventually([&] { return source->stats().at(0).timeouts >= 2; }, seconds(10)));
  ASSERT_TRUE(Eventually(
      [&] {
        const auto last = collector.Last(Id("a"));
        return last && last->quality == Quality::kBad;
      },
      seconds(5)));
  std::this_thread::sleep_for(seconds(1));
  const auto last_a = collector.Last(Id("a"));
  EXPECT_EQ(last_a->quality, Quality::kBad);
  EXPECT_TRUE(std::isnan(last_a->value));
  // b kept its 50 ms period (about 20 polls a second; loosely: at least 10 more good samples).
  EXPECT_GE(collector.Count(Id("b"), Quality::kGood), b_before + 10);
  EXPECT_EQ(collector.Count(Id("b"), Quality::kBad), 0u);
  EXPECT_EQ(source->stats().at(1).timeouts, 0u);

  frozen.Resume();  // a recovers: reconnects, and good values flow again
  const size_t a_good = collector.Count(Id("a"), Quality::kGood);
  EXPECT_TRUE(Eventually([&] { return collector.Count(Id("a"), Quality::kGood) > a_good + 3; },
                         seconds(15)));
  source->Stop();
}

TEST_F(ModbusSourceTest, ReconnectsToAServerRestartedOnTheSamePort) {
  const std::string map = SimpleMap();
  auto sim = std::make_unique<PlcSim>(map);
  const int port = sim->port();
  ASSERT_NE(port, 0) << sim->error();
  Collector collector(queue_);
  auto source = MakeSource(
      {Device("plc", port, {MakeTag("v", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)})},
      FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(
      Eventually([&] { return collector.Count(Id("v"), Quality::kGood) > 0; }, seconds(10)));

  EXPECT_EQ(sim->Terminate(), 0);
  ASSERT_TRUE(
      Eventually([&] { return collector.Count(Id("v"), Quality::kBad) >= 2; }, seconds(10)));
  EXPECT_FALSE(source->stats().at(0).connected);
  EXPECT_GE(source->stats().at(0).connection_errors, 1u);
  const auto last = collector.Last(Id("v"));
  EXPECT_TRUE(std::isnan(last->value));

  sim = std::make_unique<PlcSim>(map, std::vector<std::string>{}, port);
  ASSERT_EQ(sim->port(), port) << sim->error();
  const size_t good = collector.Count(Id("v"), Quality::kGood);
  ASSERT_TRUE(
      Eventually([&] { return collector.Count(Id("v"), Quality::kGood) > good; }, seconds(10)));
  source->Stop();
  const ModbusDeviceStats stats = source->stats().at(0);
  EXPECT_EQ(stats.reconnects, 1u);
  EXPECT_EQ(collector.Last(Id("v"))->value, 7);
}

TEST_F(ModbusSourceTest, SlowServerWithinTimeoutIsGoodAndOverrunsSkipSlots) {
  PlcSim sim(SimpleMap(), {"--delay-ms", "120"});
  ASSERT_NE(sim.port(), 0) << sim.error();
  Collector collector(queue_);
  // Polled every 50 ms, but each answer takes 120 ms: slots are skipped, not queued up.
  auto source =
      MakeSource({Device("plc", sim.port(),
                         {MakeTag("v", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)},
                         milliseconds(50), milliseconds(1000))},
                 FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(
      Eventually([&] { return collector.Count(Id("v"), Quality::kGood) >= 5; }, seconds(10)));
  source->Stop();
  const ModbusDeviceStats stats = source->stats().at(0);
  EXPECT_EQ(collector.Count(Id("v"), Quality::kBad), 0u);
  EXPECT_GE(stats.last_latency, milliseconds(120));
  EXPECT_GE(stats.missed_slots, 4u);
  EXPECT_EQ(stats.timeouts, 0u);
  // Never two polls closer than the delay: no burst of late polls after an overrun.
  const auto samples = collector.Of(Id("v"));
  for (size_t i = 1; i < samples.size(); ++i) {
    EXPECT_GE(samples[i].ts - samples[i - 1].ts, milliseconds(100));
  }
}

TEST_F(ModbusSourceTest, SlowServerBeyondTimeoutIsBadAndNeverZero) {
  PlcSim sim(SimpleMap(), {"--delay-ms", "300"});
  ASSERT_NE(sim.port(), 0) << sim.error();
  Collector collector(queue_);
  auto source =
      MakeSource({Device("plc", sim.port(),
                         {MakeTag("v", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)},
                         milliseconds(50), milliseconds(100))},
                 FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(Eventually([&] { return source->stats().at(0).timeouts >= 3; }, seconds(10)));
  source->Stop();
  for (const Sample& s : collector.Of(Id("v"))) {
    if (s.quality == Quality::kBad) {
      EXPECT_TRUE(std::isnan(s.value));
    }
    EXPECT_NE(s.value, 0);
  }
}

TEST_F(ModbusSourceTest, TwentyDevicesKeepTheirPeriodWhileOneIsBlackHoled) {
  constexpr int kDevices = 20;
  const std::string map = SimpleMap();
  std::vector<std::unique_ptr<PlcSim>> sims;
  std::vector<ModbusDevice> devices;
  for (int i = 0; i < kDevices; ++i) {
    sims.push_back(std::make_unique<PlcSim>(map));
    ASSERT_NE(sims.back()->port(), 0) << sims.back()->error();
    const std::string name = fmt::format("d{}", i);
    ModbusTag tag = MakeTag(name, ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16);
    devices.push_back(
        Device(name, sims.back()->port(), {tag}, milliseconds(100), milliseconds(250)));
  }
  Collector collector(queue_);
  auto source = MakeSource(devices, FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(Eventually(
      [&] {
        for (const auto& s : source->stats()) {
          if (s.polls == 0) return false;
        }
        return true;
      },
      seconds(10)));
  sims[0]->Pause();
  std::vector<uint64_t> polls_before;
  for (const auto& s : source->stats()) polls_before.push_back(s.polls);
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(seconds(3));
  const auto stats = source->stats();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  source->Stop();
  const double expected = elapsed / 0.1;
  for (int i = 1; i < kDevices; ++i) {
    EXPECT_GE(static_cast<double>(stats[i].polls - polls_before[i]), 0.7 * expected)
        << stats[i].device;
    EXPECT_EQ(stats[i].timeouts, 0u) << stats[i].device;
  }
  EXPECT_GT(stats[0].timeouts, 0u);
  sims[0]->Resume();
}

TEST_F(ModbusSourceTest, StopWakesASleepingPollerAtOnce) {
  PlcSim sim(SimpleMap());
  ASSERT_NE(sim.port(), 0) << sim.error();
  Collector collector(queue_);
  auto source = MakeSource(
      {Device("plc", sim.port(),
              {MakeTag("v", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)}, seconds(60))},
      FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(
      Eventually([&] { return collector.Count(Id("v"), Quality::kGood) == 1; }, seconds(10)));
  const auto start = std::chrono::steady_clock::now();
  source->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(500));
}

TEST_F(ModbusSourceTest, UnreachableDeviceIsBadAndBacksOff) {
  // A port nobody listens on: take an ephemeral port from plc-sim, then stop it.
  int port = 0;
  {
    PlcSim sim(SimpleMap());
    port = sim.port();
    ASSERT_EQ(sim.Terminate(), 0);
  }
  Collector collector(queue_);
  ModbusSource::Options options;
  options.backoff_initial = milliseconds(100);
  options.backoff_max = milliseconds(400);
  auto source = MakeSource(
      {Device("plc", port, {MakeTag("v", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)},
              milliseconds(10))},
      std::move(options));
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  std::this_thread::sleep_for(milliseconds(1600));
  source->Stop();
  // Attempts at 0, 0.1, 0.3, 0.7, 1.1, 1.5 s: about 6, not 160 (the poll interval).
  const ModbusDeviceStats stats = source->stats().at(0);
  EXPECT_GE(stats.connection_errors, 3u);
  EXPECT_LE(stats.connection_errors, 9u);
  EXPECT_EQ(stats.polls, 0u);
  // One NaN / kBad sample per failed attempt.
  EXPECT_TRUE(Eventually([&] { return collector.Of(Id("v")).size() == stats.connection_errors; },
                         seconds(5)));
  for (const Sample& s : collector.Of(Id("v"))) {
    EXPECT_EQ(s.quality, Quality::kBad);
    EXPECT_TRUE(std::isnan(s.value));
  }
}

TEST_F(ModbusSourceTest, CreateRejectsUnregisteredTagsAndOversizedTags) {
  const ModbusDevice device = Device(
      "plc", 502, {MakeTag("nobody", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)});
  StatusOr<std::unique_ptr<ModbusSource>> source =
      ModbusSource::Create({device}, registry_, queue_);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kNotFound);
  EXPECT_NE(source.status().message().find("nobody"), std::string::npos);

  ModbusDevice small =
      Device("plc", 502, {MakeTag("f", ModbusTable::kHoldingRegister, 0, ModbusType::kFloat64)});
  small.max_registers_per_request = 2;
  registry_.Intern("f");
  source = ModbusSource::Create({small}, registry_, queue_);
  ASSERT_FALSE(source.ok());
  EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(source.status().message().find("'plc'"), std::string::npos);
}

TEST_F(ModbusSourceTest, DevicesOnOneEndpointShareAConnection) {
  PlcSim sim(SimpleMap());
  ASSERT_NE(sim.port(), 0) << sim.error();
  ModbusDevice a = Device("a", sim.port(),
                          {MakeTag("a", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)});
  ModbusDevice b = Device("b", sim.port(),
                          {MakeTag("b", ModbusTable::kHoldingRegister, 0, ModbusType::kUInt16)});
  a.unit_id = 1;
  b.unit_id = 2;
  Collector collector(queue_);
  auto source = MakeSource({a, b}, FastBackoff());
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(Eventually(
      [&] {
        return collector.Count(Id("a"), Quality::kGood) > 2 &&
               collector.Count(Id("b"), Quality::kGood) > 2;
      },
      seconds(10)));
  source->Stop();
  const auto stats = source->stats();
  EXPECT_EQ(stats[0].endpoint, stats[1].endpoint);
  EXPECT_EQ(source->DescribePlans().size(), 2u);
  source.reset();  // closes the connection
  EXPECT_EQ(sim.Terminate(), 0);
  EXPECT_NE(sim.error().find("on 1 connections"), std::string::npos) << sim.error();
}

}  // namespace
}  // namespace edge::drivers
