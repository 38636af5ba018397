// Telemetry uplink (issue #18, DESIGN §10): every stored reading reaches the cloud, exactly once
// after dropping repeats, across a broker outage and two SIGKILLs of the agent.
//
// The line: plc-sim replays 90 float32 registers and the test publishes 10 MQTT sensors, each at
// 10 Hz (100 tags, 1,000 readings a second). The agent polls them, stores them, and runs two raw
// streams over the same readings: `lines` in InfluxDB line protocol and `json`. Its upstream
// connection goes through a TCP proxy, so that the outage cuts the agent's link only (the broker,
// the sensors and the consumer stay up, as when a plant's WAN goes down). The consumer is a paho
// subscriber with a persistent QoS 1 session; after the run it writes every line-protocol
// message it received into a real InfluxDB (Debian's influxd on a free port), and decodes the
// JSON messages itself, dropping repeated (stream, seq) as the README tells consumers to.
//
// The truth is samples.db itself, read with the storage reader (exact µs times and doubles; the
// export CSV prints milliseconds). Timeline: the agent runs, is SIGKILLed and restarted, loses
// the broker for 60 s, is SIGKILLed and restarted again, and finally runs without sources until
// both streams have no backlog.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "storage/chunk_codec.h"
#include "storage/sample_reader.h"
#include "tests/reliability/reliability.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/eventually.h"
#include "tests/support/http_get.h"
#include "tests/support/influx_db.h"
#include "tests/support/mqtt_collector.h"
#include "tests/support/output_search.h"

namespace edge::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPlcTags = 90;
constexpr int kMqttTags = 10;

// (tag, time in µs) -> value, nullopt for bad quality.
using Readings = std::map<std::pair<std::string, int64_t>, std::optional<double>>;

Readings StoredReadings(const std::string& samples_db) {
  Readings out;
  StatusOr<storage::SampleReader> reader = storage::SampleReader::Open(samples_db);
  if (!reader.ok()) return out;
  StatusOr<std::vector<std::string>> tags = reader->TagNames();
  if (!tags.ok()) return out;
  for (const std::string& tag : *tags) {
    const Status s = reader->Scan(tag, storage::FromMicros(0), storage::FromMicros(int64_t{1} << 62), 0,
                                  [&](std::span<const Sample> samples) {
                                    for (const Sample& x : samples) {
                                      std::optional<double> v;
                                      if (x.quality == Quality::kGood) v = x.value;
                                      out[{tag, storage::ToMicros(x.ts)}] = v;
                                    }
                                  });
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return out;
}

// Publishes kMqttTags plain-number sensors at 10 Hz on sensors/s<i> until stopped.
class SensorPublisher {
 public:
  explicit SensorPublisher(int port)
      : client_(fmt::format("tcp://127.0.0.1:{}", port), "uplink-test-sensors") {
    client_.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    thread_ = std::thread([this] {
      std::mt19937 rng(7);
      std::uniform_real_distribution<double> value(-50, 50);
      auto next = std::chrono::steady_clock::now();
      while (!stop_.load()) {
        for (int i = 0; i < kMqttTags; ++i) {
          client_.publish(fmt::format("sensors/s{}", i), fmt::format("{}", value(rng)), 1, false);
        }
        next += milliseconds(100);
        std::this_thread::sleep_until(next);
      }
    });
  }
  ~SensorPublisher() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  mqtt::async_client client_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The InfluxDB points of every series: (tag, time in µs) -> value (nullopt: bad=true).
Readings InfluxPoints(InfluxDb& influx, std::string* error) {
  Readings out;
  const json answer = influx.Query(R"(SELECT "value", "bad", "raw" FROM "edge" GROUP BY "tag")", error);
  if (answer.is_null()) return out;
  for (const json& series : answer["results"][0].value("series", json::array())) {
    const std::string tag = series["tags"]["tag"].get<std::string>();
    for (const json& row : series["values"]) {
      const int64_t t_us = row[0].get<int64_t>() / 1000;
      std::optional<double> v;
      if (row[1].is_number()) v = row[1].get<double>();
      out[{tag, t_us}] = v;
    }
  }
  return out;
}

struct JsonDecoded {
  Readings readings;
  size_t messages = 0;
  size_t repeated = 0;       // messages whose (stream, seq) came before
  size_t twice = 0;          // readings carried by two distinct messages
  size_t seq_backwards = 0;  // a new seq below one already seen
};

JsonDecoded DecodeJson(const std::vector<MqttCollector::Message>& messages) {
  JsonDecoded d;
  std::set<uint64_t> seen;
  uint64_t highest = 0;
  for (const MqttCollector::Message& m : messages) {
    if (m.topic != "plant1/line3-pc1/telemetry/json") continue;
    const json j = json::parse(m.payload);
    ++d.messages;
    EXPECT_EQ(j["gateway"], "line3-pc1");
    EXPECT_EQ(j["stream"], "json");
    const uint64_t seq = j["seq"].get<uint64_t>();
    if (!seen.insert(seq).second) {
      ++d.repeated;
      continue;
    }
    d.seq_backwards += seq < highest;
    highest = std::max(highest, seq);
    for (const json& s : j["series"]) {
      const std::string tag = s["tag"].get<std::string>();
      for (size_t i = 0; i < s["t"].size(); ++i) {
        std::optional<double> v;
        if (!s["v"][i].is_null()) v = s["v"][i].get<double>();
        d.twice += !d.readings.emplace(std::make_pair(tag, s["t"][i].get<int64_t>()), v).second;
      }
    }
  }
  return d;
}

// Stored readings missing from `got`, or arriving with another value.
size_t Mismatches(const Readings& stored, const Readings& got, std::string* first) {
  size_t n = 0;
  for (const auto& [key, value] : stored) {
    auto it = got.find(key);
    if (it == got.end() || it->second != value) {
      if (n++ == 0) {
        *first = fmt::format("{} at {} us: stored {}, got {}", key.first, key.second,
                             value ? fmt::format("{}", *value) : "bad",
                             it == got.end() ? "nothing"
                                             : (it->second ? fmt::format("{}", *it->second) : "bad"));
      }
    }
  }
  return n;
}

TEST(UplinkReliability, EveryStoredReadingArrivesOnceAcrossAnOutageAndTwoKills) {
  EndToEndRig rig;
  ASSERT_EQ(rig.StartBroker(), "");
  InfluxDb influx;
  ASSERT_TRUE(influx.ok()) << influx.error();
  TcpProxy proxy(rig.broker().port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  // plc-sim: kPlcTags float32 registers, a new random row every 100 ms, looping.
  std::string map = "name,table,address,type\n";
  std::string replay;
  std::vector<AgentYaml::Tag> plc_tags;
  for (int i = 0; i < kPlcTags; ++i) {
    map += fmt::format("t{:02},holding,{},float32\n", i, 2 * i);
    replay += fmt::format("{}t{:02}", i == 0 ? "" : ",", i);
    plc_tags.push_back({.name = fmt::format("line.t{:02}", i), .address = 2 * i});
  }
  replay += "\n";
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> value(-1000, 1000);
  for (int row = 0; row < 600; ++row) {
    for (int i = 0; i < kPlcTags; ++i) replay += fmt::format("{}{}", i == 0 ? "" : ",", value(rng));
    replay += "\n";
  }
  ASSERT_EQ(rig.StartPlcSim("plc.csv", map,
                            {"--replay", rig.dir().Write("replay.csv", replay).string(), "--step",
                             "100ms", "--loop"}),
            "");

  MqttCollector consumer(rig.broker().port(), "uplink-consumer", "plant1/+/telemetry/#");
  ASSERT_TRUE(consumer.ok()) << consumer.error();

  AgentYaml yaml = rig.Config();
  yaml.upstream->broker = fmt::format("tcp://127.0.0.1:{}", proxy.port());
  yaml.modbus[0].tags = plc_tags;
  yaml.modbus[0].timeout = "500ms";
  for (int i = 0; i < kMqttTags; ++i) {
    yaml.mqtt_sources.push_back({.name = fmt::format("s{}", i), .broker = rig.broker().uri(),
                                 .topic = fmt::format("sensors/s{}", i),
                                 .tags = {fmt::format("mqtt.s{}", i)}});
  }
  const int http_port = FreeLoopbackPort();
  yaml.http_listen = fmt::format("127.0.0.1:{}", http_port);
  yaml.uplink =
      "  telemetry:\n"
      "    - {name: lines, tags: [\"line.*\", \"mqtt.*\"], encoding: influx, start: oldest}\n"
      "    - {name: json, tags: [\"*\"], max_batch: 500, start: oldest}\n";
  const auto config = rig.WriteConfig(yaml);
  AgentYaml drain_yaml = yaml;  // the last run: no sources, nothing new to store
  drain_yaml.modbus.clear();
  drain_yaml.mqtt_sources.clear();
  const auto drain_config = rig.WriteConfig(drain_yaml, "drain.yaml");

  SensorPublisher sensors(rig.broker().port());
  // The proxy resets the link at once, so a short outage is as real as a long one: the quick
  // profile keeps CI's budget.
  const seconds phase = Pick(seconds(10), seconds(60));
  const seconds outage = Pick(seconds(20), seconds(60));

  auto agent = StartAgent(config);
  std::this_thread::sleep_for(phase);
  agent->Signal(SIGKILL);
  agent->Wait(seconds(10));
  agent = StartAgent(config);
  std::this_thread::sleep_for(phase);
  proxy.SetMode(TcpProxy::Mode::kDrop);
  std::this_thread::sleep_for(outage);
  proxy.SetMode(TcpProxy::Mode::kPass);
  std::this_thread::sleep_for(phase);
  agent->Signal(SIGKILL);
  agent->Wait(seconds(10));
  agent = StartAgent(config);
  std::this_thread::sleep_for(phase);
  sensors.Stop();
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(seconds(30)), 0) << agent->Stderr();

  // Drain: both streams confirmed up to the last stored reading.
  agent = StartAgent(drain_config);
  auto drained = [&] {
    const std::string m = HttpGet(http_port, "/metrics", seconds(5)).body;
    for (const char* stream : {"lines", "json"}) {
      const std::string label = fmt::format("{{stream=\"{}\"}}", stream);
      if (MetricValue(m, "edge_uplink_backlog_readings" + label) != 0 ||
          MetricValue(m, "edge_uplink_in_flight_messages" + label) != 0 ||
          MetricValue(m, "edge_uplink_messages_total" + label) <= 0) {
        return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(Eventually(drained, seconds(120), milliseconds(500)))
      << HttpGet(http_port, "/metrics", seconds(5)).body << agent->Stderr();
  const size_t received_before = consumer.Count();
  std::this_thread::sleep_for(seconds(2));  // PUBACKs precede delivery to the consumer slightly
  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(seconds(30)), 0) << agent->Stderr();
  EXPECT_GE(consumer.Count(), received_before);

  const Readings stored = StoredReadings(rig.Path("data") + "/samples.db");
  const auto expected = static_cast<size_t>((kPlcTags + kMqttTags) * 10 *
                                            (4 * phase.count() + outage.count()) * 0.5);
  ASSERT_GT(stored.size(), expected) << "the line stored far fewer readings than it produced";

  // influx: every line-protocol message into InfluxDB, then every stored reading looked up.
  const std::vector<MqttCollector::Message> messages = consumer.Messages();
  size_t influx_messages = 0, influx_lines = 0;
  for (const MqttCollector::Message& m : messages) {
    if (m.topic != "plant1/line3-pc1/telemetry/lines") continue;
    ++influx_messages;
    for (size_t at = 0; at < m.payload.size();) {  // non-empty lines
      const size_t end = std::min(m.payload.find('\n', at), m.payload.size());
      influx_lines += end > at;
      at = end + 1;
    }
    ASSERT_EQ(influx.Write(m.payload), "") << m.payload.substr(0, 300);
  }
  std::string error;
  const Readings points = InfluxPoints(influx, &error);
  ASSERT_TRUE(error.empty()) << error;
  std::string first_influx;
  const size_t influx_lost = Mismatches(stored, points, &first_influx);
  EXPECT_EQ(influx_lost, 0u) << first_influx;
  EXPECT_EQ(points.size(), stored.size()) << "InfluxDB holds points that were never stored";

  const JsonDecoded decoded = DecodeJson(messages);
  std::string first_json;
  const size_t json_lost = Mismatches(stored, decoded.readings, &first_json);
  EXPECT_EQ(json_lost, 0u) << first_json;
  EXPECT_EQ(decoded.readings.size(), stored.size());
  EXPECT_EQ(decoded.twice, 0u) << "a reading came in two messages with different seqs";
  EXPECT_EQ(decoded.seq_backwards, 0u);
  for (const auto& m : messages) {
    EXPECT_EQ(m.topic.find("/gap"), std::string::npos) << "a gap without retention: " << m.payload;
  }

  const std::string scenario =
      fmt::format("uplink: 100 tags x 10 Hz, {} s outage, 2 SIGKILLs", outage.count());
  RecordFigure(scenario, "readings stored", fmt::format("{}", stored.size()), "-", true);
  RecordFigure(scenario, "influx: stored readings in InfluxDB with exact time and value",
               fmt::format("{} of {} ({} lines in {} messages; {} lines repeated)",
                           stored.size() - influx_lost, stored.size(), influx_lines,
                           influx_messages, influx_lines - points.size()),
               "all, 0 lost", influx_lost == 0);
  RecordFigure(scenario, "json: stored readings received exactly once after dropping repeated seq",
               fmt::format("{} of {} ({} messages, {} repeated)", stored.size() - json_lost,
                           stored.size(), decoded.messages, decoded.repeated),
               "all, 0 lost, 0 twice", json_lost == 0 && decoded.twice == 0);
}

}  // namespace
}  // namespace edge::testing
