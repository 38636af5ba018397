// The telemetry uplink's semantics end to end (issue #18, DESIGN §10): the edge-agent binary, a
// real mosquitto, plc-sim and paho clients on both sides. The tests feed readings whose times
// they choose (MQTT sources with `timestamp_field`, epoch ms) or that plc-sim's register gives,
// and compare what a subscriber receives, message by message, with a second implementation of
// DESIGN §10's semantics (tests/support/uplink_reference.h) run over what the agent stored.
// Delivery under outages and kills is the reliability suite's (tests/reliability/uplink_test.cc).
//
// The MQTT path cannot carry a bad-quality reading (a payload that does not decode is dropped and
// counted), so bad readings come from plc-sim: paused, it lets the agent's polls time out.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/time_format.h"
#include "storage/chunk_codec.h"
#include "storage/sample_reader.h"
#include "storage/sqlite_db.h"
#include "storage/storage.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/eventually.h"
#include "tests/support/export_reader.h"
#include "tests/support/http_get.h"
#include "tests/support/mqtt_collector.h"
#include "tests/support/output_search.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/uplink_reference.h"

namespace edge::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kGateway[] = "line3-pc1";

std::string TopicOf(const std::string& stream) {
  return fmt::format("plant1/{}/telemetry/{}", kGateway, stream);
}

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Point {
  int64_t t_ms = 0;
  double v = 0;
};

// The test's sensors: {"ts": <epoch ms>, "v": <value>} on feed/<tag>, QoS 1.
class ReadingPublisher {
 public:
  explicit ReadingPublisher(int port)
      : client_(fmt::format("tcp://127.0.0.1:{}", port), "uplink-e2e-sensors") {
    client_.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
  }
  ~ReadingPublisher() {
    try {
      client_.disconnect()->wait();
    } catch (const mqtt::exception&) {
    }
  }

  void Publish(const std::string& tag, const Point& p) {
    if (tokens_.size() == kInFlight) Flush();
    tokens_.push_back(client_.publish("feed/" + tag,
                                      fmt::format(R"({{"ts":{},"v":{}}})", p.t_ms, p.v), 1, false));
  }
  void Publish(const std::string& tag, const std::vector<Point>& points) {
    for (const Point& p : points) Publish(tag, p);
  }
  // Waits for the broker's PUBACK of everything published so far.
  void Flush() {
    for (const mqtt::delivery_token_ptr& t : tokens_) t->wait();
    tokens_.clear();
  }

 private:
  static constexpr size_t kInFlight = 8;  // below paho's default limit of 10 in flight
  mqtt::async_client client_;
  std::vector<mqtt::delivery_token_ptr> tokens_;
};

// The stored readings of `tag` with their exact times (the export prints milliseconds; plc-sim's
// readings carry the agent's poll time in µs).
std::vector<RefReading> StoredReadings(const std::string& samples_db, const std::string& tag,
                                       int64_t from_us = 0, int64_t to_us = int64_t{1} << 60) {
  std::vector<RefReading> out;
  StatusOr<storage::SampleReader> reader = storage::SampleReader::Open(samples_db);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  std::vector<Sample> samples;
  const Status s = reader->ReadRange(tag, storage::FromMicros(from_us), storage::FromMicros(to_us),
                                     0, samples);
  EXPECT_TRUE(s.ok()) << s.ToString();
  for (const Sample& x : samples) {
    out.push_back({storage::ToMicros(x.ts),
                   x.quality == Quality::kGood ? std::optional(x.value) : std::nullopt});
  }
  return out;
}

// One integer from samples.db (read-only; the agent may be writing), -1 on error.
[[maybe_unused]] int64_t QuerySamplesDb(const std::string& samples_db, const std::string& sql) {
  storage::SqliteOpenOptions options;
  options.read_only = true;
  StatusOr<storage::SqliteDb> db = storage::SqliteDb::Open(samples_db, options);
  if (!db.ok()) return -1;
  StatusOr<int64_t> v = db->QueryInt(sql);
  return v.ok() ? *v : -1;
}

class UplinkEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(rig_.StartBroker(), "");
    http_port_ = FreeLoopbackPort();
  }

  // The rig's configuration with one MQTT source per tag of `feeds` (feed/<tag>, times from
  // /ts), /metrics, and the `uplink` section body.
  AgentYaml FeedConfig(const std::vector<std::string>& feeds, const std::string& uplink) {
    AgentYaml yaml = rig_.Config();
    for (const std::string& tag : feeds) {
      yaml.mqtt_sources.push_back({.name = "feed-" + tag.substr(tag.find('.') + 1),
                                   .broker = rig_.broker().uri(),
                                   .topic = "feed/" + tag,
                                   .tags = {tag},
                                   .field = "/v",
                                   .timestamp_field = "/ts"});
    }
    yaml.http_listen = fmt::format("127.0.0.1:{}", http_port_);
    yaml.uplink = uplink;
    return yaml;
  }

  std::unique_ptr<Subprocess> Start(const std::filesystem::path& config) {
    auto agent = StartAgent(config);
    EXPECT_TRUE(agent->WaitForOutput("running;", seconds(20))) << agent->Stderr();
    return agent;
  }

  std::string Metrics() const { return HttpGet(http_port_, "/metrics", seconds(5)).body; }
  double StreamMetric(const std::string& name, const std::string& stream) const {
    return MetricValue(Metrics(), fmt::format("{}{{stream=\"{}\"}}", name, stream));
  }
  // Every MQTT source subscribed (a first start has no session at the broker to queue for it).
  bool SourcesConnected(const AgentYaml& yaml) const {
    return Eventually(
        [&] {
          const std::string m = Metrics();
          for (const AgentYaml::MqttSource& s : yaml.mqtt_sources) {
            if (MetricValue(m, fmt::format("edge_mqtt_source_connected{{source=\"{}\"}}",
                                           s.name)) != 1) {
              return false;
            }
          }
          return true;
        },
        seconds(15), milliseconds(100));
  }

  ExportedCsv Export(const std::filesystem::path& config) const {
    // The sequences of the semantic test lie in the future (see DeadbandAndAggregate...).
    const std::string to = FormatRfc3339Millis(
        Timestamp(std::chrono::microseconds((NowMs() + 86'400'000) * 1000)));
    const CommandResult r = RunAgent({"export", "--config", config.string(), "--to", to});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return ParseExportCsv(r.out);
  }

  std::string SamplesDb() const { return rig_.Path("data") + "/samples.db"; }

  EndToEndRig rig_;
  int http_port_ = 0;
};

// ---- 1. deadband and aggregate against the reference, across SIGTERM and SIGKILL ----

constexpr int kPerTag = 300;  // readings per fed tag, published in three phases of 100

// Per fed tag, its readings at 10 Hz from `base_ms` (sig.sparse: bursts between silences longer
// than max_interval): steps landing exactly on the band and past it, a ramp through zero (the
// percent band shrinks to nothing there), noise inside both bands with one spike, and silences
// that leave periods empty.
std::map<std::string, std::vector<Point>> SemanticSequence(int64_t base_ms) {
  std::map<std::string, std::vector<Point>> seq;
  const auto noise = [](int i) { return ((i * 7919) % 401 - 200) / 1000.0; };  // [-0.2, 0.2]
  const double levels[] = {10, 10.5, 11, 11.4, 20, 21, 22.2, -5, 0, 0.01};
  int64_t sparse_t = base_ms;
  const int64_t silences[] = {2500, 2000, 1900, 3000, 1999, 4200};
  for (int i = 0; i < kPerTag; ++i) {
    const int64_t t = base_ms + 100 * i;
    seq["sig.step"].push_back({t, levels[i / 30]});
    const double ramp = i < 100 ? 0.04 * i : i < 200 ? 4 : 4 - 0.07 * (i - 200);
    seq["sig.ramp"].push_back({t, std::round(ramp * 1000) / 1000});
    seq["sig.noise"].push_back({t, i == 150 ? 53 : 50 + noise(i)});
    // Bursts of 7 readings 100 ms apart, then a silence.
    sparse_t += i % 7 == 0 && i > 0 ? silences[(i / 7) % 6] : 100;
    seq["sig.sparse"].push_back({sparse_t, i % 50 == 49 ? 7.6 : 7 + noise(i) / 4});
  }
  return seq;
}

void PublishPhase(ReadingPublisher& sensors, const std::map<std::string, std::vector<Point>>& seq,
                  int phase) {
  const int n = kPerTag / 3;
  for (const auto& [tag, points] : seq) {
    sensors.Publish(tag, std::vector<Point>(points.begin() + phase * n,
                                            points.begin() + (phase + 1) * n));
  }
  sensors.Flush();
}

// The bad readings of the semantic test: plc-sim stops answering for a second.
void PlcOutage(PlcSim& plc) {
  plc.Pause();
  std::this_thread::sleep_for(milliseconds(1200));
  plc.Resume();
}

TEST_F(UplinkEndToEnd, DeadbandAndAggregateMatchTheReferenceAcrossRestarts) {
  ASSERT_EQ(rig_.StartPlcSim(), "");
  ASSERT_TRUE(rig_.plc().WriteFloat32(0, 0.25f));
  MqttCollector consumer(rig_.broker().port(), "uplink-e2e-consumer", "plant1/+/telemetry/#");
  ASSERT_TRUE(consumer.ok()) << consumer.error();

  // The fed readings are stamped an hour ahead, on whole seconds: an aggregate period then
  // closes only by a later reading (the wall clock is never a period past its end), which
  // makes every message a function of the stored readings alone, whenever the agent runs.
  const int64_t base_ms = (NowMs() / 1000 + 3600) * 1000;
  const auto sequence = SemanticSequence(base_ms);
  std::vector<std::string> fed;
  for (const auto& [tag, points] : sequence) fed.push_back(tag);
  // Small batches: many messages, so that the restarts fall between messages with filter state
  // carried in the cursors, and the kill leaves messages in flight.
  const std::string uplink =
      "  telemetry:\n"
      "    - {name: db-abs, tags: [\"sig.*\", \"pump1.*\"], mode: deadband,"
      " deadband: {absolute: 0.5}, max_batch: 9, start: oldest}\n"
      "    - {name: db-pct, tags: [\"sig.*\", \"pump1.*\"], mode: deadband,"
      " deadband: {percent: 5}, max_interval: 2s, max_batch: 13, start: oldest}\n"
      "    - {name: agg, tags: [\"sig.*\"], mode: aggregate, period: 1s, max_batch: 7,"
      " start: oldest}\n";
  const AgentYaml yaml = FeedConfig(fed, uplink);
  const auto config = rig_.WriteConfig(yaml);
  AgentYaml drain_yaml = yaml;  // the last run: nothing new is polled, so the reference holds
  drain_yaml.modbus.clear();
  const auto drain_config = rig_.WriteConfig(drain_yaml, "drain.yaml");

  ReadingPublisher sensors(rig_.broker().port());
  auto agent = Start(config);
  ASSERT_TRUE(SourcesConnected(yaml)) << Metrics() << agent->Stderr();
  PublishPhase(sensors, sequence, 0);
  PlcOutage(rig_.plc());
  ASSERT_TRUE(rig_.plc().WriteFloat32(0, 0.5f));
  std::this_thread::sleep_for(milliseconds(800));
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(seconds(20)), 0) << agent->Stderr();

  agent = Start(config);
  PublishPhase(sensors, sequence, 1);
  std::this_thread::sleep_for(milliseconds(700));
  agent->Signal(SIGKILL);
  agent->Wait(seconds(10));

  agent = Start(config);
  PublishPhase(sensors, sequence, 2);
  PlcOutage(rig_.plc());
  ASSERT_TRUE(rig_.plc().WriteFloat32(0, 0.52f));
  // Everything published is stored (the sessions are persistent; a reading the killed agent
  // had taken but not stored is simply not in the reference).
  ASSERT_TRUE(Eventually(
      [&] {
        const ExportedCsv csv = Export(config);
        for (const auto& [tag, points] : sequence) {
          const std::vector<RefReading> stored = ReadingsOf(csv, tag);
          if (stored.empty() || stored.back().t_us != points.back().t_ms * 1000) return false;
        }
        return true;
      },
      seconds(15), milliseconds(200)))
      << agent->Stderr();
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(seconds(20)), 0) << agent->Stderr();

  // The reference, from what was stored.
  const ExportedCsv csv = Export(config);
  std::map<std::string, std::vector<RefReading>> stored;
  for (const std::string& tag : fed) stored[tag] = ReadingsOf(csv, tag);
  stored["pump1.pressure"] = StoredReadings(SamplesDb(), "pump1.pressure");
  const DeadbandSpec abs{.band = 0.5};
  const DeadbandSpec pct{.band = 5, .percent = true, .max_interval_us = 2'000'000};
  size_t want_abs = 0, want_pct = 0, want_agg = 0;
  for (const auto& [tag, readings] : stored) {
    want_abs += DeadbandReference(readings, abs).size();
    want_pct += DeadbandReference(readings, pct).size();
    int late = 0;
    if (tag != "pump1.pressure") {
      want_agg += AggregateReference(readings, 1'000'000, NowMs() * 1000, &late).size();
    }
    EXPECT_EQ(late, 0) << tag;
  }
  const size_t bad = std::count_if(stored["pump1.pressure"].begin(),
                                   stored["pump1.pressure"].end(),
                                   [](const RefReading& r) { return !r.v; });
  ASSERT_GT(bad, 0u) << "plc-sim's pause gave no bad reading";

  agent = Start(drain_config);
  auto decode = [&](const std::string& stream) {
    return DecodeJsonStream(consumer.Messages(), TopicOf(stream), kGateway, stream);
  };
  const bool complete = Eventually(
      [&] {
        return decode("db-abs").ReadingCount() >= want_abs &&
               decode("db-pct").ReadingCount() >= want_pct &&
               decode("agg").AggregateCount() >= want_agg;
      },
      seconds(30), milliseconds(200));
  std::this_thread::sleep_for(milliseconds(300));  // anything beyond the reference shows too
  EXPECT_TRUE(complete) << Metrics() << agent->Stderr();
  EXPECT_EQ(StreamMetric("edge_uplink_late_readings_total", "agg"), 0);
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(seconds(20)), 0) << agent->Stderr();

  for (const auto& [stream, spec] : {std::pair{"db-abs", abs}, std::pair{"db-pct", pct}}) {
    const ReceivedStream got = decode(stream);
    EXPECT_TRUE(got.faults.empty()) << stream << ": " << got.faults.front();
    EXPECT_GT(got.messages, 10u) << stream;
    EXPECT_TRUE(got.aggregates.empty()) << stream;
    for (const auto& [tag, readings] : stored) {
      const auto it = got.readings.find(tag);
      EXPECT_EQ(CompareReadings(DeadbandReference(readings, spec),
                                it == got.readings.end() ? std::vector<RefReading>{} : it->second),
                "")
          << stream << " " << tag;
    }
    EXPECT_EQ(got.readings.size(), stored.size()) << stream << ": a tag outside the globs";
  }
  const ReceivedStream agg = decode("agg");
  EXPECT_TRUE(agg.faults.empty()) << agg.faults.front();
  EXPECT_TRUE(agg.readings.empty());
  EXPECT_EQ(agg.aggregates.size(), fed.size()) << "pump1.pressure is not in agg's globs";
  for (const std::string& tag : fed) {
    int late = 0;
    EXPECT_EQ(CompareAggregates(AggregateReference(stored[tag], 1'000'000, NowMs() * 1000, &late),
                                agg.aggregates.count(tag) ? agg.aggregates.at(tag)
                                                          : std::vector<RefAggregate>{}),
              "")
        << tag;
  }
}

}  // namespace
}  // namespace edge::testing
