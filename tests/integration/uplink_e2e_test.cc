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
#include <mqtt/async_client.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/bounded_queue.h"
#include "core/tag_registry.h"
#include "core/time_format.h"
#include "storage/chunk_codec.h"
#include "storage/sample_reader.h"
#include "storage/sqlite_db.h"
#include "storage/storage.h"
#include "tests/support/backlog_preload.h"
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
  const Status s =
      reader->ReadRange(tag, storage::FromMicros(from_us), storage::FromMicros(to_us), 0, samples);
  EXPECT_TRUE(s.ok()) << s.ToString();
  for (const Sample& x : samples) {
    out.push_back({storage::ToMicros(x.ts),
                   x.quality == Quality::kGood ? std::optional(x.value) : std::nullopt});
  }
  return out;
}

// One integer from samples.db (read-only; the agent may be writing), -1 on error.
int64_t QuerySamplesDb(const std::string& samples_db, const std::string& sql) {
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
            if (MetricValue(
                    m, fmt::format("edge_mqtt_source_connected{{source=\"{}\"}}", s.name)) != 1) {
              return false;
            }
          }
          return true;
        },
        seconds(15), milliseconds(100));
  }

  ExportedCsv Export(const std::filesystem::path& config) const {
    // The sequences of the semantic test lie in the future (see DeadbandAndAggregate...).
    const std::string to =
        FormatRfc3339Millis(Timestamp(std::chrono::microseconds((NowMs() + 86'400'000) * 1000)));
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
    sensors.Publish(
        tag, std::vector<Point>(points.begin() + phase * n, points.begin() + (phase + 1) * n));
  }
  sensors.Flush();
}

// The bad readings of the semantic test: plc-sim stops answering for a second.
void PlcOutage(PlcSim& plc) {
  plc.Pause();
  std::this_thread::sleep_for(milliseconds(1200));
  plc.Resume();
}

// Every JSON message `consumer` received on a telemetry topic validates against its schema in
// docs/schemas/ (gap messages against telemetry-gap, the others against telemetry); influx
// payloads are not JSON and are left out. Returns how many were checked.
size_t ExpectTelemetrySchemas(const MqttCollector& consumer, const ScratchDir& dir) {
  std::vector<json> messages, gaps;
  for (const MqttCollector::Message& m : consumer.Messages()) {
    if (m.topic.find("/telemetry/") == std::string::npos || m.payload.empty() ||
        m.payload[0] != '{') {
      continue;
    }
    const bool gap = m.topic.size() > 4 && m.topic.compare(m.topic.size() - 4, 4, "/gap") == 0;
    (gap ? gaps : messages).push_back(json::parse(m.payload));
  }
  if (!messages.empty()) ExpectValidJson("telemetry.schema.json", messages, dir);
  if (!gaps.empty()) ExpectValidJson("telemetry-gap.schema.json", gaps, dir);
  return messages.size() + gaps.size();
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
  AgentYaml yaml = FeedConfig(fed, uplink);
  yaml.max_clock_skew = "2h";  // the readings are stamped an hour ahead (see above)
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
  const size_t bad = std::count_if(stored["pump1.pressure"].begin(), stored["pump1.pressure"].end(),
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

  struct DeadbandStream {
    const char* name;
    DeadbandSpec spec;
    size_t max_batch;
  };
  for (const auto& [stream, spec, max_batch] :
       {DeadbandStream{"db-abs", abs, 9}, DeadbandStream{"db-pct", pct, 13}}) {
    const ReceivedStream got = decode(stream);
    EXPECT_TRUE(got.faults.empty()) << stream << ": " << got.faults.front();
    // Cut by max_batch (how the cuts fall depends on when the readings were committed).
    EXPECT_GE(got.messages, (got.ReadingCount() + max_batch - 1) / max_batch) << stream;
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
  EXPECT_GE(agg.messages, (agg.AggregateCount() + 6) / 7);
  EXPECT_TRUE(agg.readings.empty());
  EXPECT_EQ(agg.aggregates.size(), fed.size()) << "pump1.pressure is not in agg's globs";
  for (const std::string& tag : fed) {
    int late = 0;
    EXPECT_EQ(CompareAggregates(
                  AggregateReference(stored[tag], 1'000'000, NowMs() * 1000, &late),
                  agg.aggregates.count(tag) ? agg.aggregates.at(tag) : std::vector<RefAggregate>{}),
              "")
        << tag;
  }
  EXPECT_GT(ExpectTelemetrySchemas(consumer, rig_.dir()), 0u);
}

// ---- 2. a gap: retention removed readings before the stream could send them ----

// The JSON payloads received on exactly `topic`.
std::vector<json> JsonOn(const MqttCollector& consumer, const std::string& topic) {
  std::vector<json> out;
  for (const MqttCollector::Message& m : consumer.Messages()) {
    if (m.topic == topic) out.push_back(json::parse(m.payload, nullptr, false));
  }
  return out;
}

TEST_F(UplinkEndToEnd, ReadingsRemovedBeforeTheyWereSentArriveAsAGapMessage) {
  TcpProxy proxy(rig_.broker().port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  proxy.SetMode(TcpProxy::Mode::kDrop);  // the upstream is unreachable from the start
  MqttCollector consumer(rig_.broker().port(), "uplink-e2e-gap", "plant1/+/telemetry/#");
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  AgentYaml yaml =
      FeedConfig({"old.x"}, "  telemetry:\n    - {name: raw, tags: [\"old.*\"], start: oldest}\n");
  yaml.upstream->broker = fmt::format("tcp://127.0.0.1:{}", proxy.port());
  yaml.retention = "1h";
  const auto config = rig_.WriteConfig(yaml);
  ReadingPublisher sensors(rig_.broker().port());
  auto agent = Start(config);
  ASSERT_TRUE(SourcesConnected(yaml)) << Metrics() << agent->Stderr();

  // First readings that pass the retention age 12 s from now: the stream matches the tag, and
  // fixes its cursor at ordinal 0, before retention takes them. (Readings older than the
  // retention from the start would be gone before the stream ever saw the tag: a stream starts
  // at the oldest reading still stored, and nothing was lost to it.)
  const int64_t now_ms = NowMs();
  std::vector<Point> aging, old;
  for (int i = 0; i < 20; ++i) aging.push_back({now_ms - 3'600'000 + 12'000 + 100 * i, 1.0 + i});
  sensors.Publish("old.x", aging);
  sensors.Flush();
  const std::string db = SamplesDb();
  ASSERT_TRUE(Eventually(
      [&] {
        return QuerySamplesDb(db,
                              "SELECT count(*) FROM uplink_cursor WHERE stream = 'raw' AND "
                              "ord = 0 AND tag_id = (SELECT id FROM tag WHERE name = "
                              "'old.x')") == 1;
      },
      seconds(10), milliseconds(100)))
      << "the stream did not match old.x within 10 s" << agent->Stderr();
  // Then readings stamped two hours ago: retention removes them with the first ones.
  for (int i = 0; i < 30; ++i) old.push_back({now_ms - 7'200'000 + 100 * i, -0.5 * i});
  sensors.Publish("old.x", old);
  sensors.Flush();
  const int64_t removed = static_cast<int64_t>(aging.size() + old.size());
  ASSERT_TRUE(Eventually(
      [&] {
        return QuerySamplesDb(db, "SELECT removed_ord FROM tag WHERE name = 'old.x'") == removed;
      },
      seconds(25), milliseconds(200)))
      << "retention did not remove the readings: removed_ord "
      << QuerySamplesDb(db, "SELECT removed_ord FROM tag WHERE name = 'old.x'");
  EXPECT_EQ(consumer.Count(), 0u);

  // The upstream comes back (once the agent's reconnect back-off tries again).
  proxy.SetMode(TcpProxy::Mode::kPass);
  const std::string gap_topic = TopicOf("raw") + "/gap";
  auto gap_readings = [&] {
    int64_t n = 0;
    for (const json& g : JsonOn(consumer, gap_topic)) n += g.value("readings", int64_t{0});
    return n;
  };
  ASSERT_TRUE(Eventually([&] { return gap_readings() >= removed; }, seconds(45), milliseconds(200)))
      << Metrics() << agent->Stderr();
  const std::vector<json> gaps = JsonOn(consumer, gap_topic);
  int64_t to_us = 0;
  for (const json& g : gaps) {
    EXPECT_EQ(g["gateway"], kGateway) << g.dump();
    EXPECT_EQ(g["stream"], "raw") << g.dump();
    EXPECT_EQ(g["from"], 0) << "nothing was sent before the gap: " << g.dump();
    to_us = std::max(to_us, g["to"].get<int64_t>());
  }
  EXPECT_EQ(gap_readings(), removed) << gaps.size() << " gap messages";
  EXPECT_EQ(to_us, aging.back().t_ms * 1000) << "to: the newest removed reading";
  ASSERT_TRUE(Eventually(
      [&] { return StreamMetric("edge_uplink_gap_readings_total", "raw") == removed; }, seconds(5)))
      << Metrics();
  const std::string health = HttpGet(http_port_, "/health", seconds(5)).body;
  EXPECT_NE(
      health.find(fmt::format("uplink stream raw: {} readings were removed by retention", removed)),
      std::string::npos)
      << health;

  // Later readings arrive as usual, and only they: nothing removed is sent after all.
  std::vector<Point> fresh;
  for (int i = 0; i < 10; ++i) fresh.push_back({NowMs() - 1000 + 100 * i, 40.0 + i});
  sensors.Publish("old.x", fresh);
  sensors.Flush();
  std::vector<RefReading> want;
  for (const Point& p : fresh) want.push_back({p.t_ms * 1000, p.v});
  auto received = [&] {
    return DecodeJsonStream(consumer.Messages(), TopicOf("raw"), kGateway, "raw");
  };
  EXPECT_TRUE(Eventually([&] { return received().ReadingCount() >= want.size(); }, seconds(10)))
      << agent->Stderr();
  ReceivedStream got = received();
  EXPECT_TRUE(got.faults.empty()) << got.faults.front();
  EXPECT_EQ(CompareReadings(want, got.readings["old.x"]), "");
  EXPECT_EQ(got.readings.size(), 1u);
  EXPECT_EQ(gap_readings(), removed) << "a second gap";
  EXPECT_GT(ExpectTelemetrySchemas(consumer, rig_.dir()), gaps.size());
}

// ---- 3. alarm context ----

TEST_F(UplinkEndToEnd, AlarmContextCarriesTheStoredReadingsAroundTheAlarm) {
  ASSERT_EQ(rig_.StartPlcSim(), "");
  ASSERT_TRUE(rig_.plc().WriteFloat32(0, 0.1f));
  ASSERT_EQ(rig_.MakePackage("pkg"), "");
  MqttCollector consumer(rig_.broker().port(), "uplink-e2e-context", "plant1/#");
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  AgentYaml yaml = rig_.Config();
  yaml.deployments = {{.package = rig_.Path("pkg")}};
  yaml.uplink = "  alarm_context: {before: 2s, after: 1s}\n";
  auto agent = Start(rig_.WriteConfig(yaml));
  ASSERT_TRUE(agent->WaitForOutput("deployment pump1: last-value 1.0.0, data ok", seconds(10)))
      << agent->Stderr();
  std::this_thread::sleep_for(milliseconds(2500));  // readings for the whole `before`
  // Values that change through the context window, so that every reading counts.
  for (float v : {0.9f, 0.8f, 0.95f, 0.7f, 0.85f}) {
    ASSERT_TRUE(rig_.plc().WriteFloat32(0, v));
    std::this_thread::sleep_for(milliseconds(250));
  }
  const std::string alarm_topic = fmt::format("plant1/{}/alarms/pump1", kGateway);
  ASSERT_TRUE(Eventually([&] { return !JsonOn(consumer, alarm_topic).empty(); }, seconds(10)))
      << agent->Stderr();
  const json alarm = JsonOn(consumer, alarm_topic).front();
  ASSERT_EQ(alarm["state"], "raised") << alarm.dump();
  const uint64_t alarm_seq = alarm["seq"].get<uint64_t>();

  const std::string context_topic = TopicOf("alarm-context");
  ASSERT_TRUE(Eventually([&] { return !JsonOn(consumer, context_topic).empty(); }, seconds(15)))
      << agent->Stderr();
  std::this_thread::sleep_for(milliseconds(300));  // a context of several messages
  std::vector<RefReading> got;
  for (const json& m : JsonOn(consumer, context_topic)) {
    EXPECT_EQ(m["gateway"], kGateway) << m.dump();
    EXPECT_EQ(m["stream"], "alarm-context") << m.dump();
    EXPECT_EQ(m["asset"], "pump1") << m.dump();
    EXPECT_EQ(m["alarm_seq"], alarm_seq) << m.dump();
    EXPECT_TRUE(m["seq"].is_number_unsigned()) << m.dump();
    for (const json& s : m["series"]) {
      EXPECT_EQ(s["tag"], "pump1.pressure");
      for (size_t i = 0; i < s["t"].size(); ++i) {
        got.push_back({s["t"][i].get<int64_t>(), s["v"][i].is_null()
                                                     ? std::nullopt
                                                     : std::optional(s["v"][i].get<double>())});
      }
    }
  }
  StatusOr<Timestamp> window_end = ParseRfc3339(alarm["window_end"].get<std::string>());
  ASSERT_TRUE(window_end.ok()) << alarm.dump();
  const int64_t end_us = storage::ToMicros(*window_end);
  const std::vector<RefReading> want =
      StoredReadings(SamplesDb(), "pump1.pressure", end_us - 2'000'000, end_us + 1'000'000);
  EXPECT_GE(want.size(), 20u) << "10 Hz polls over 3 s";
  EXPECT_EQ(CompareReadings(want, got), "");
  EXPECT_GT(ExpectTelemetrySchemas(consumer, rig_.dir()), 0u);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(20)), 0) << agent->Stderr();
}

// ---- 4. alarms first ----

TEST_F(UplinkEndToEnd, AnAlarmOvertakesALargeBacklog) {
  const auto preload_start = std::chrono::steady_clock::now();
  // An hour of 100 tags at 10 Hz, as an agent whose upstream was away that long would hold.
  std::filesystem::create_directories(rig_.Path("data"));
  auto storage = storage::Storage::Open(rig_.Path("data"), config::StorageConfig{});
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  const StatusOr<uint64_t> preloaded =
      PreloadBacklog(**storage, {.tags = 100, .per_tag = 36'000, .prefix = "bulk.t"});
  ASSERT_TRUE(preloaded.ok()) << preloaded.status().ToString();
  ASSERT_EQ(*preloaded, 100u * 36'000);
  storage->reset();
  const auto preload_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - preload_start);
  ASSERT_EQ(rig_.StartPlcSim(), "");
  ASSERT_TRUE(rig_.plc().WriteFloat32(0, 0.1f));
  ASSERT_EQ(rig_.MakePackage("pkg"), "");
  MqttCollector alarms(rig_.broker().port(), "uplink-e2e-alarms", "plant1/+/alarms/#");
  ASSERT_TRUE(alarms.ok()) << alarms.error();
  AgentYaml yaml =
      FeedConfig({}, "  telemetry:\n    - {name: bulk, tags: [\"bulk.*\"], start: oldest}\n");
  yaml.deployments = {{.package = rig_.Path("pkg")}};
  auto agent = Start(rig_.WriteConfig(yaml));
  // The drain has begun (it runs at about a million readings a second here: the fault comes as
  // soon as it is under way, not after the status line says the deployment scores).
  ASSERT_TRUE(Eventually([&] { return StreamMetric("edge_uplink_messages_total", "bulk") > 0; },
                         seconds(10), milliseconds(20)))
      << Metrics() << agent->Stderr();

  const auto raised_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(rig_.plc().WriteFloat32(0, 0.9f));
  // Timing targets are the benchmarks'; this bound only says the alarm is not stuck behind the
  // backlog (a few million readings take tens of seconds to drain).
  ASSERT_TRUE(Eventually([&] { return alarms.Count() > 0; }, seconds(5), milliseconds(20)))
      << Metrics() << agent->Stderr();
  const auto alarm_ms =
      std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - raised_at);
  const std::string at_alarm = Metrics();
  const double sent_at_alarm = MetricValue(at_alarm, "edge_uplink_readings_total{stream=\"bulk\"}");
  RecordProperty("preload_ms", std::to_string(preload_ms.count()));
  RecordProperty("alarm_ms", std::to_string(alarm_ms.count()));
  RecordProperty("readings_sent_before_alarm", std::to_string(static_cast<int64_t>(sent_at_alarm)));
  EXPECT_GT(MetricValue(at_alarm, "edge_uplink_backlog_readings{stream=\"bulk\"}"), 0) << at_alarm;
  EXPECT_LT(sent_at_alarm, static_cast<double>(*preloaded)) << at_alarm;
  // The drain goes on after the alarm: it had not finished when the alarm went out.
  EXPECT_TRUE(
      Eventually([&] { return StreamMetric("edge_uplink_readings_total", "bulk") > sent_at_alarm; },
                 seconds(5), milliseconds(100)));
  EXPECT_EQ(json::parse(alarms.Messages().front().payload)["state"], "raised");
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(20)), 0) << agent->Stderr();
}

// ---- 5. influx ----

TEST_F(UplinkEndToEnd, InfluxAggregatesMatchTheReferenceLineByLine) {
  MqttCollector consumer(rig_.broker().port(), "uplink-e2e-influx", "plant1/+/telemetry/#");
  ASSERT_TRUE(consumer.ok()) << consumer.error();
  const std::vector<std::string> tags = {"line.a", "line.b"};
  const AgentYaml yaml = FeedConfig(
      tags,
      "  telemetry:\n    - {name: lines, tags: [\"line.*\"], mode: aggregate, period: 1s,"
      " encoding: influx}\n");
  const auto config = rig_.WriteConfig(yaml);
  ReadingPublisher sensors(rig_.broker().port());
  auto agent = Start(config);
  ASSERT_TRUE(SourcesConnected(yaml)) << Metrics() << agent->Stderr();
  std::this_thread::sleep_for(milliseconds(1100));  // `start: now`: after the stream's creation

  // Readings stamped with the wall clock as they are published: every period closes by a later
  // reading, but the last one, which the clock closes a period (at least 5 s) past its end.
  int64_t first_ms = 0;
  for (int i = 0; i < 30; ++i) {
    const int64_t t = NowMs();
    if (i == 0) first_ms = t;
    sensors.Publish("line.a", Point{t, (i % 7) * 0.5});
    sensors.Publish("line.b", Point{t, 100 - 0.25 * i});
    std::this_thread::sleep_for(milliseconds(100));
  }
  sensors.Flush();
  const int64_t created_us =
      QuerySamplesDb(SamplesDb(), "SELECT created_us FROM uplink_stream WHERE name = 'lines'");
  ASSERT_LE(created_us, first_ms * 1000) << "the readings began before the stream existed";

  std::this_thread::sleep_for(milliseconds(500));  // stored
  const ExportedCsv csv = Export(config);
  std::map<std::string, std::vector<RefAggregate>> want;
  size_t want_count = 0;
  for (const std::string& tag : tags) {
    int late = 0;
    want[tag] = AggregateReference(ReadingsOf(csv, tag), 1'000'000, int64_t{1} << 60, &late);
    want_count += want[tag].size();
    EXPECT_EQ(late, 0);
  }
  auto received = [&] {
    return DecodeInfluxStream(consumer.Messages(), TopicOf("lines"), kGateway);
  };
  EXPECT_TRUE(Eventually([&] { return received().AggregateCount() >= want_count; }, seconds(15),
                         milliseconds(200)))
      << Metrics() << agent->Stderr();
  const ReceivedStream got = received();
  EXPECT_TRUE(got.faults.empty()) << got.faults.front();
  EXPECT_TRUE(got.readings.empty());
  for (const std::string& tag : tags) {
    EXPECT_EQ(CompareAggregates(want[tag], got.aggregates.count(tag) ? got.aggregates.at(tag)
                                                                     : std::vector<RefAggregate>{}),
              "")
        << tag;
  }
  // The fields in the documented order, count an integer.
  for (const MqttCollector::Message& m : consumer.Messages()) {
    std::istringstream lines(m.payload);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_TRUE(std::regex_match(
          line, std::regex(R"(edge,gateway=line3-pc1,tag=line\.[ab] min=[-0-9.e]+,max=[-0-9.e]+,)"
                           R"(mean=[-0-9.e]+,last=[-0-9.e]+,count=[0-9]+i [0-9]+000)")))
          << line;
    }
  }
}

}  // namespace
}  // namespace edge::testing
