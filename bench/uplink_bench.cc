// Telemetry uplink figures (issue #18, DESIGN §10), real parts only.
//
// 1. Backlog drain (default mode): a samples.db with --tags x --per-tag readings (default
//    100 x 20,000 = 2 M; 10 Hz, ending now, random doubles) written through Storage and its
//    SampleWriter; a real mosquitto on loopback; uplink::TelemetryUplink run in-process over that
//    file with one stream {raw, start: oldest, max_batch 1000, encoding E} publishing through
//    drivers::MqttPublisher. Timed from Start() until the stream's stats() count every reading
//    as confirmed (PUBACK received and the cursor committed). Per encoding (json, influx, each a
//    stream of its own over the same file): readings/s and payload bytes per reading.
//    The floor, in the same run: a bare paho client (mqtt::async_client, no persistence)
//    publishing as many pre-built payloads of the uplink's mean message size, QoS 1, to the same
//    broker with at most 8 in flight (the uplink's window, kWindowMessages in
//    uplink/telemetry_stream.cc) and, as a second floor, 64 in flight. Nobody subscribes: the
//    figures are the publisher's, not a consumer's. Goal: >= 200,000 readings/s and >= 0.8 x
//    the floor with the same window.
// 2. Steady state (--steady): this build's edge-agent polling 100 float32 tags of plc-sim every
//    100 ms (1,000 readings/s) with the upstream broker connected, measured over --seconds
//    (default 60) after a 10 s warm-up, twice: without `uplink:` and with one raw json stream on
//    all tags. CPU (utime + stime from /proc, % of one core) and RSS of the agent, and the
//    difference. Goal: the uplink adds <= 1 % of one core and RSS stays within 2 MB.
//
// DESIGN (threads/processes): main() starts one mosquitto per mode (tests/support); backlog mode
// runs the SampleWriter's thread while it preloads, then the uplink's thread and paho's threads
// of our publisher, then the floor's paho client; steady mode runs plc-sim and edge-agent as
// children, one pair per run. Every child dies with this process (Subprocess sets PDEATHSIG).
#include <fmt/format.h>
#include <mqtt/async_client.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/backlog_preload.h"
#include "bench/bench_usage.h"
#include "bench/proc_usage.h"
#include "config/config.h"
#include "core/logging.h"
#include "core/mutex.h"
#include "core/thread_annotations.h"
#include "drivers/mqtt_publisher.h"
#include "storage/storage.h"
#include "tests/support/agent_config_writer.h"
#include "tests/support/http_get.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/output_search.h"
#include "tests/support/plc_sim.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"
#include "uplink/telemetry_uplink.h"

namespace edge::bench {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using Encoding = config::TelemetryStream::Encoding;

const std::string kAgent = EDGE_AGENT_BINARY;
constexpr int kUplinkWindow = 8;  // uplink/telemetry_stream.cc kWindowMessages
constexpr int kMaxBatch = 1000;
constexpr double kGoalReadingsPerSecond = 200'000;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "uplink_bench: %s\n", what.c_str());
  std::exit(1);
}

double SecondsSince(steady_clock::time_point t0) {
  return std::chrono::duration<double>(steady_clock::now() - t0).count();
}

// ---- 1. Backlog drain ---------------------------------------------------------------------

struct Drain {
  std::string encoding;
  uint64_t readings = 0;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  double Rate() const { return static_cast<double>(readings) / seconds; }
  size_t MeanMessageBytes() const { return static_cast<size_t>(bytes / std::max<uint64_t>(1, messages)); }
};

config::UpstreamConfig Upstream(const testing::MosquittoBroker& broker, const std::string& client) {
  config::UpstreamConfig up;
  StatusOr<config::BrokerConfig> b = config::BrokerConfig::FromUri(broker.uri());
  if (!b.ok()) Die(b.status().ToString());
  up.broker = *b;
  up.broker.client_id = client;
  up.topic_prefix = "plant1";
  return up;
}

// One stream named after its encoding, from the oldest reading, until `want` are confirmed.
Drain DrainBacklog(storage::Storage& storage, const testing::MosquittoBroker& broker,
                   Encoding encoding, uint64_t want) {
  const std::string name = encoding == Encoding::kInflux ? "influx" : "json";
  config::AgentConfig config;
  config.gateway.id = "bench";
  config.upstream = Upstream(broker, "uplink-bench-" + name);
  config::TelemetryStream stream;
  stream.name = name;
  stream.tags = {"*"};
  stream.encoding = encoding;
  stream.max_batch = kMaxBatch;
  stream.start_oldest = true;
  config.uplink.telemetry = {stream};

  auto publisher = drivers::MqttPublisher::Create(config.upstream->broker, {});
  if (!publisher.ok()) Die(publisher.status().ToString());
  if (!(*publisher)->Start().ok() || !(*publisher)->WaitConnected(seconds(20))) {
    Die("the uplink's publisher did not connect to " + broker.uri());
  }
  std::unique_ptr<uplink::TelemetryUplink> up = uplink::TelemetryUplink::Create(
      config, storage.samples_path(), storage.outbox(), **publisher, {});
  Drain d;
  d.encoding = name;
  const auto t0 = steady_clock::now();
  up->Start();
  auto last_progress = t0;
  for (;;) {
    std::this_thread::sleep_for(milliseconds(2));
    const std::vector<uplink::StreamStats> stats = up->stats();
    if (stats.empty()) continue;
    if (stats[0].readings != d.readings) last_progress = steady_clock::now();
    d.readings = stats[0].readings;
    d.messages = stats[0].messages;
    d.bytes = stats[0].bytes;
    if (d.readings >= want) break;
    if (steady_clock::now() - last_progress > seconds(30)) {
      Die(fmt::format("stream {}: no progress for 30 s at {} of {} readings", name, d.readings,
                      want));
    }
  }
  d.seconds = SecondsSince(t0);
  up->Stop();
  (*publisher)->Stop();
  if (d.readings != want) {
    Die(fmt::format("stream {} confirmed {} readings, {} were stored", name, d.readings, want));
  }
  return d;
}

// Counts the messages paho has sent and not yet seen acknowledged, and lets the publishing
// loop wait until fewer than `window` are in flight.
class InFlight : public virtual mqtt::callback {
 public:
  void delivery_complete(mqtt::delivery_token_ptr) override {
    {
      MutexLock lock(&mu_);
      --count_;
    }
    cv_.NotifyAll();
  }
  void Add() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    ++count_;
  }
  void WaitBelow(int window) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    while (count_ >= window) cv_.Wait(&mu_);
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int count_ GUARDED_BY(mu_) = 0;
};

// The floor: `messages` pre-built payloads of `bytes` bytes, QoS 1, at most `window` in flight;
// returns the seconds from the first publish to the last PUBACK.
double FloorSeconds(const testing::MosquittoBroker& broker, uint64_t messages, size_t bytes,
                    int window) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> letter('a', 'z');
  std::vector<std::string> payloads(16, std::string(bytes, ' '));
  for (std::string& p : payloads) std::generate(p.begin(), p.end(), [&] { return letter(rng); });
  InFlight in_flight;
  try {
    mqtt::async_client client(broker.uri(), fmt::format("uplink-bench-floor-{}", window),
                              mqtt::create_options(MQTTVERSION_3_1_1));
    client.set_callback(in_flight);
    client.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
    const auto t0 = steady_clock::now();
    for (uint64_t i = 0; i < messages; ++i) {
      in_flight.WaitBelow(window);
      in_flight.Add();
      const std::string& p = payloads[i % payloads.size()];
      client.publish("plant1/bench/telemetry/floor", p.data(), p.size(), 1, false);
    }
    in_flight.WaitBelow(1);
    const double s = SecondsSince(t0);
    client.disconnect()->wait();
    return s;
  } catch (const mqtt::exception& e) {
    Die(std::string("floor: ") + e.what());
  }
}

void Backlog(int tags, int64_t per_tag) {
  testing::ScratchDir dir;
  auto storage = storage::Storage::Open((dir.path() / "data").string(), {});
  if (!storage.ok()) Die(storage.status().ToString());
  const auto t0 = steady_clock::now();
  StatusOr<uint64_t> stored =
      testing::PreloadBacklog(**storage, {.tags = tags, .per_tag = per_tag});
  if (!stored.ok()) Die(stored.status().ToString());
  std::printf("preloaded %llu readings (%d tags x %lld, 10 Hz) in %.1f s; samples.db %.1f MiB\n",
              static_cast<unsigned long long>(*stored), tags, static_cast<long long>(per_tag),
              SecondsSince(t0),
              static_cast<double>(fs::file_size((*storage)->samples_path())) / (1 << 20));

  testing::MosquittoBroker broker;
  if (!broker.ok()) Die("mosquitto: " + broker.error());
  std::vector<Drain> drains;
  for (Encoding e : {Encoding::kJson, Encoding::kInflux}) {
    drains.push_back(DrainBacklog(**storage, broker, e, *stored));
  }

  std::printf(
      "\n== backlog drain: %llu readings, one raw stream {start: oldest, max_batch %d}, window "
      "%d messages, mosquitto on loopback\n",
      static_cast<unsigned long long>(*stored), kMaxBatch, kUplinkWindow);
  std::printf("%-8s %9s %12s %11s %12s | %12s %9s %12s %9s %s\n", "encoding", "seconds",
              "readings/s", "B/reading", "B/message", "floor(8)/s", "ratio", "floor(64)/s",
              "ratio", "goal >= 200k/s and >= 0.8 x floor(8)");
  for (const Drain& d : drains) {
    const double f8 = static_cast<double>(d.readings) /
                      FloorSeconds(broker, d.messages, d.MeanMessageBytes(), kUplinkWindow);
    const double f64 =
        static_cast<double>(d.readings) / FloorSeconds(broker, d.messages, d.MeanMessageBytes(), 64);
    const bool met = d.Rate() >= kGoalReadingsPerSecond && d.Rate() >= 0.8 * f8;
    std::printf("%-8s %9.2f %12.0f %11.1f %12zu | %12.0f %9.3f %12.0f %9.3f %s\n",
                d.encoding.c_str(), d.seconds, d.Rate(),
                static_cast<double>(d.bytes) / static_cast<double>(d.readings),
                d.MeanMessageBytes(), f8, d.Rate() / f8, f64, d.Rate() / f64,
                met ? "met" : "NOT met");
  }
  std::printf("(floor readings/s = the uplink's readings over the floor's time for as many "
              "messages of the uplink's mean size)\n");
}

// ---- 2. Steady state ------------------------------------------------------------------------

struct Steady {
  ProcUsage before, after;
  double seconds = 0;
  double uplink_readings = 0;  // confirmed during the window (NaN: no uplink)
  double CpuPercent() const { return 100.0 * (after.cpu_seconds - before.cpu_seconds) / seconds; }
};

Steady SteadyRun(bool with_uplink, int warmup_seconds, int measure_seconds) {
  testing::ScratchDir dir;
  testing::MosquittoBroker broker;
  if (!broker.ok()) Die("mosquitto: " + broker.error());
  constexpr int kTags = 100;
  std::string map = "tags:\n";
  testing::AgentYaml yaml;
  yaml.gateway_id = "bench";
  yaml.data_dir = (dir.path() / "data").string();
  yaml.upstream = testing::AgentYaml::Upstream{.broker = broker.uri()};
  testing::AgentYaml::ModbusDevice device;
  for (int k = 0; k < kTags; ++k) {
    map += fmt::format("  - {{name: t{}, table: holding, address: {}, type: float32}}\n", k, 2 * k);
    device.tags.push_back({.name = fmt::format("line.t{}", k), .address = 2 * k});
  }
  testing::PlcSim plc(dir.Write("plc.yaml", map).string());
  if (plc.port() == 0) Die("plc-sim: " + plc.error());
  device.port = plc.port();
  device.poll_interval = "100ms";
  yaml.modbus = {device};
  const int http_port = testing::FreeLoopbackPort();
  yaml.http_listen = fmt::format("127.0.0.1:{}", http_port);
  if (with_uplink) yaml.uplink = "  telemetry:\n    - {name: raw, tags: [\"*\"], encoding: json}\n";
  const fs::path config = dir.Write("agent.yaml", yaml.Text());

  testing::Subprocess agent(testing::SubprocessOptions{
      .argv = {kAgent, "run", "--config", config.string(), "--status-interval", "10s"}});
  if (!agent.WaitForOutput("running;", seconds(30))) Die("agent did not start: " + agent.Stderr());
  const std::string readings = "edge_uplink_readings_total{stream=\"raw\"}";
  std::this_thread::sleep_for(seconds(warmup_seconds));
  Steady s;
  const double sent_before = testing::MetricValue(testing::HttpGet(http_port, "/metrics").body, readings);
  s.before = ReadProcUsage(agent.pid());
  const auto t0 = steady_clock::now();
  std::this_thread::sleep_for(seconds(measure_seconds));
  s.after = ReadProcUsage(agent.pid());
  s.seconds = SecondsSince(t0);
  s.uplink_readings =
      testing::MetricValue(testing::HttpGet(http_port, "/metrics").body, readings) - sent_before;
  agent.Signal(SIGTERM);
  if (agent.Wait(seconds(20)) != 0) Die("agent did not stop cleanly: " + agent.Stderr());
  return s;
}

void SteadyState(int measure_seconds) {
  constexpr int kWarmup = 10;
  const Steady off = SteadyRun(false, kWarmup, measure_seconds);
  const Steady on = SteadyRun(true, kWarmup, measure_seconds);
  std::printf(
      "\n== steady state: edge-agent, 100 float32 tags polled every 100 ms (1,000 readings/s), "
      "upstream connected, %d s after a %d s warm-up\n",
      measure_seconds, kWarmup);
  std::printf("%-34s %12s %10s %10s %22s\n", "", "CPU % core", "RSS MB", "peak MB",
              "uplink readings/s");
  const auto row = [](const char* what, const Steady& s) {
    std::printf("%-34s %12.2f %10.1f %10.1f %22s\n", what, s.CpuPercent(), s.after.rss_kb / 1024.0,
                s.after.hwm_kb / 1024.0,
                std::isnan(s.uplink_readings)
                    ? "-"
                    : fmt::format("{:.0f}", s.uplink_readings / s.seconds).c_str());
  };
  row("without uplink", off);
  row("with one raw json stream on *", on);
  const double cpu = on.CpuPercent() - off.CpuPercent();
  const double rss = (on.after.rss_kb - off.after.rss_kb) / 1024.0;
  std::printf("%-34s %12.2f %10.1f\n", "difference", cpu, rss);
  std::printf("goal: uplink adds <= 1 %% of one core -> %s; RSS within 2 MB -> %s\n",
              cpu <= 1.0 ? "met" : "NOT met", std::abs(rss) <= 2.0 ? "met" : "NOT met");
}

}  // namespace
}  // namespace edge::bench

constexpr char kUsage[] =
    "usage: uplink_bench [--tags T] [--per-tag N]      backlog drain (default 100 x 20000)\n"
    "       uplink_bench --steady [--seconds S]          agent CPU/RSS with and without uplink\n"
    "  Backlog: a samples.db of T x N readings drained by the telemetry uplink to a real\n"
    "  mosquitto, json and influx, next to a bare paho publisher of the same messages (QoS 1,\n"
    "  8 and 64 in flight). Steady: edge-agent polling 100 tags at 10 Hz for S seconds (default\n"
    "  60) after a 10 s warm-up, without and with one raw json stream.\n";

int main(int argc, char** argv) {
  if (edge::bench::PrintedHelp(argc, argv, kUsage)) return 0;
  // Line-buffered even into a pipe: the children this forks must not inherit unflushed output.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int tags = 100, seconds = 60;
  int64_t per_tag = 20000;
  bool steady = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--tags" && i + 1 < argc) {
      tags = std::atoi(argv[++i]);
    } else if (a == "--per-tag" && i + 1 < argc) {
      per_tag = std::atoll(argv[++i]);
    } else if (a == "--seconds" && i + 1 < argc) {
      seconds = std::atoi(argv[++i]);
    } else if (a == "--steady") {
      steady = true;
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (tags < 1 || per_tag < 1 || seconds < 1) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  edge::LogOptions lo;
  lo.level = "warn";
  if (!edge::InitLogging(lo).ok()) return 1;
  if (steady) {
    edge::bench::SteadyState(seconds);
  } else {
    edge::bench::Backlog(tags, per_tag);
  }
  return 0;
}
