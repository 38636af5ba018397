// End-to-end figures of `edge-agent run` with real parts (issue #7):
//
// 1. Latency from a register change at plc-sim to the alarm at an MQTT subscriber: the bench
//    writes the register over Modbus (libmodbus) and times until a paho subscriber holds the
//    alarm; poll interval 100 ms, a model on a 100 ms grid, raise_after = clear_after = 1, so
//    each write is one transition. p50/p90/p99/max over --transitions (default 200). The target
//    is p99 <= poll interval + 20 ms. The floor, measured in the same run on the same writes, is
//    the least any polling gateway can do: a bare loop in this program that polls the register
//    with libmodbus every 100 ms and publishes a QoS 1 message through paho when the value
//    crosses the threshold (no storage, no windows, no model, no outbox).
// 2. Footprint: RSS and CPU of the agent polling 1,000 float32 tags at 1 Hz from plc-sim and
//    scoring 4 deployments (window 64, 1 s grid), measured over --footprint-seconds after a
//    warm-up. Targets RSS <= 30 MB, CPU <= 3 % of one core.
// 3. With --backlog-hours H: the latency of 1. is measured a second time, with samples.db
//    preloaded with H hours of 100 tags at 10 Hz (tests/support/backlog_preload.h) and a raw
//    json telemetry stream {tags: ["*"], start: oldest} configured, so that the alarms go out while
//    the uplink drains that backlog on the same connection (DESIGN §10: alarms first). A thread
//    reads the agent's /metrics every 250 ms to learn when the drain ended; the transitions
//    written before then are the "during the drain" figures.
//
// usage: e2e_bench [--transitions N] [--footprint-seconds S] [--backlog-hours H]
//                  [--skip-latency] [--skip-footprint]
#include <fmt/format.h>
#include <modbus.h>
#include <mqtt/async_client.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/backlog_preload.h"
#include "bench/bench_usage.h"
#include "bench/proc_usage.h"
#include "tests/support/http_get.h"
#include "tests/support/last_value_model.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/output_search.h"
#include "tests/support/plc_sim.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

const std::string kAgent = EDGE_AGENT_BINARY;
const fs::path kSourceDir = EDGE_SOURCE_DIR;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "e2e_bench: %s\n", what.c_str());
  std::exit(1);
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i =
      std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[i];
}

std::unique_ptr<Subprocess> StartAgent(const fs::path& config) {
  auto agent = std::make_unique<Subprocess>(SubprocessOptions{
      .argv = {kAgent, "run", "--config", config.string(), "--status-interval", "10s"}});
  if (!agent->WaitForOutput("running;", seconds(30)))
    Die("agent did not start: " + agent->Stderr());
  return agent;
}

void WriteFloat(modbus_t* ctx, int address, float value) {
  const std::array<uint16_t, 2> regs = Float32AbcdRegisters(value);
  if (modbus_write_registers(ctx, address, 2, regs.data()) != 2) Die(modbus_strerror(errno));
}

// The floor: poll every 100 ms on an absolute grid, publish on a threshold crossing, until `stop`.
void FloorLoop(int plc_port, int broker_port, const std::atomic<bool>& stop) {
  modbus_t* poll = modbus_new_tcp("127.0.0.1", plc_port);
  if (modbus_connect(poll) != 0) Die("floor: modbus connect");
  mqtt::async_client pub(fmt::format("tcp://127.0.0.1:{}", broker_port), "e2e-bench-floor");
  pub.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
  bool high = false;
  auto next = steady_clock::now();
  while (!stop) {
    std::this_thread::sleep_until(next);
    next += milliseconds(100);
    uint16_t regs[2];
    if (modbus_read_registers(poll, 0, 2, regs) != 2) continue;
    const uint32_t bits = (uint32_t{regs[0]} << 16) | regs[1];
    float value;
    std::memcpy(&value, &bits, sizeof value);
    if ((value > 0.5f) != high) {
      high = !high;
      pub.publish("floor/alarm", high ? "raised" : "cleared", 1, false);
    }
  }
  pub.disconnect()->wait();
  modbus_close(poll);
  modbus_free(poll);
}

// One latency run: per transition the latency (ms) and when its register write was made.
struct LatencyRun {
  std::vector<double> ms, floor_ms;
  std::vector<steady_clock::time_point> written;  // parallel to ms
  int lost = 0;
  // Backlog runs: readings preloaded, the uplink's confirmed readings when the transitions began
  // and ended, and when the drain ended (max(): it did not end during the transitions).
  uint64_t backlog = 0;
  double uplink_at_start = 0, uplink_at_end = 0;
  steady_clock::time_point first{}, last{}, drained = steady_clock::time_point::max();
};

void PrintRow(const char* what, const std::vector<double>& ms) {
  if (ms.empty()) {
    std::printf("%-34s %8s\n", what, "(none)");
    return;
  }
  std::printf("%-34s %8.1f %8.1f %8.1f %8.1f %6zu\n", what, Percentile(ms, 50), Percentile(ms, 90),
              Percentile(ms, 99), *std::max_element(ms.begin(), ms.end()), ms.size());
}

void PrintLatency(int transitions, const LatencyRun& run) {
  const std::vector<double>& latencies_ms = run.ms;
  const std::vector<double>& floor_ms = run.floor_ms;
  std::printf(
      "\n== end-to-end latency: register write at plc-sim -> alarm at an MQTT subscriber%s\n",
      run.backlog > 0 ? ", while the uplink drains a backlog" : "");
  std::printf(
      "poll interval 100 ms, model grid 100 ms, raise_after = clear_after = 1, %d transitions, "
      "%d missing\n",
      transitions, run.lost);
  std::printf("%-34s %8s %8s %8s %8s %6s\n", "", "p50 ms", "p90 ms", "p99 ms", "max ms", "n");
  PrintRow("edge-agent", latencies_ms);
  if (!floor_ms.empty()) {
    PrintRow("floor: poll + publish loop", floor_ms);
    std::printf("ratio edge-agent / floor: p50 %.2f, p99 %.2f\n",
                Percentile(latencies_ms, 50) / Percentile(floor_ms, 50),
                Percentile(latencies_ms, 99) / Percentile(floor_ms, 99));
  }
  std::vector<double> during;
  if (run.backlog > 0) {
    for (size_t i = 0; i < run.ms.size(); ++i) {
      if (run.written[i] < run.drained) during.push_back(run.ms[i]);
    }
    PrintRow("edge-agent, written during the drain", during);
    // The rate over the part of the transitions the drain lasted.
    const double span =
        std::chrono::duration<double>(std::min(run.last, run.drained) - run.first).count();
    std::printf(
        "backlog %llu readings; the uplink confirmed %.0f of them during the transitions, "
        "%.0f readings/s while it drained; drain %s\n",
        static_cast<unsigned long long>(run.backlog), run.uplink_at_end - run.uplink_at_start,
        (run.uplink_at_end - run.uplink_at_start) / span,
        run.drained == steady_clock::time_point::max()
            ? "still running at the end"
            : fmt::format("ended {:.1f} s after the first transition",
                          std::chrono::duration<double>(run.drained - run.first).count())
                  .c_str());
  }
  const double p99 = Percentile(during.empty() ? latencies_ms : during, 99);
  std::printf("target: p99 <= 120 ms -> %s (p99 / target = %.2f)\n",
              p99 <= 120.0 ? "met" : "NOT met", p99 / 120.0);
}

// Reads the uplink's confirmed readings from /metrics every 250 ms until `stop`; sets
// run.drained when they reach run.backlog. The stream matches every tag, so the live tag's
// readings count too: the drain is seen to end at most a poll or two early.
void WatchDrain(int http_port, LatencyRun& run, const std::atomic<bool>& stop) {
  const std::string series = "edge_uplink_readings_total{stream=\"backlog\"}";
  while (!stop) {
    const double confirmed = MetricValue(HttpGet(http_port, "/metrics").body, series);
    if (!std::isnan(confirmed) && confirmed >= static_cast<double>(run.backlog)) {
      run.drained = steady_clock::now();
      return;
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
}

std::string LatencyConfig(const ScratchDir& dir, int broker_port, int plc_port, int http_port) {
  std::string yaml = fmt::format(R"(gateway: {{id: bench, data_dir: {}}}
upstream: {{broker: "tcp://127.0.0.1:{}", topic_prefix: plant1}}
modbus:
  - {{name: plc, host: 127.0.0.1, port: {}, poll_interval: 100ms, timeout: 300ms,
     tags: [{{name: pump1.pressure, table: holding, address: 0, type: float32}}]}}
models:
  deployments:
    - {{asset: pump1, package: {}, inputs: {{pressure: pump1.pressure}},
       alarm: {{raise_after: 1, clear_after: 1}}}}
)",
                                 (dir.path() / "data").string(), broker_port, plc_port,
                                 (dir.path() / "pkg").string());
  if (http_port != 0) {
    yaml += fmt::format(
        "http: {{listen: \"127.0.0.1:{}\"}}\n"
        "uplink:\n  telemetry:\n    - {{name: backlog, tags: [\"*\"], start: oldest}}\n",
        http_port);
  }
  return yaml;
}

// Preloads <dir>/data/samples.db with `hours` of 100 tags at 10 Hz ending now.
uint64_t Preload(const ScratchDir& dir, double hours) {
  auto storage = storage::Storage::Open((dir.path() / "data").string(), {});
  if (!storage.ok()) Die(storage.status().ToString());
  const auto per_tag = static_cast<int64_t>(hours * 36000);
  StatusOr<uint64_t> stored =
      testing::PreloadBacklog(**storage, {.tags = 100, .per_tag = per_tag});
  if (!stored.ok()) Die(stored.status().ToString());
  return *stored;
}

LatencyRun Latency(int transitions, double backlog_hours) {
  ScratchDir dir;
  MosquittoBroker broker;
  if (!broker.ok()) Die("mosquitto: " + broker.error());
  const fs::path map =
      dir.Write("plc.yaml", "tags:\n  - {name: p, table: holding, address: 0, type: float32}\n");
  PlcSim plc(map.string());
  if (plc.port() == 0) Die("plc-sim: " + plc.error());
  modbus_t* ctx = modbus_new_tcp("127.0.0.1", plc.port());
  if (modbus_connect(ctx) != 0) Die("modbus connect");
  WriteFloat(ctx, 0, 0.1f);
  const std::string made = MakeLastValuePackage({.agent_binary = kAgent,
                                                 .python = EDGE_TEST_PYTHON,
                                                 .source_dir = kSourceDir,
                                                 .window = 4,
                                                 .step_ms = 100,
                                                 .threshold = 0.5},
                                                dir.path() / "pkg");
  if (!made.empty()) Die(made);
  LatencyRun run;
  const int http_port = backlog_hours > 0 ? FreeLoopbackPort() : 0;
  if (backlog_hours > 0) run.backlog = Preload(dir, backlog_hours);
  const fs::path config =
      dir.Write("agent.yaml", LatencyConfig(dir, broker.port(), plc.port(), http_port));

  mqtt::async_client sub(fmt::format("tcp://127.0.0.1:{}", broker.port()), "e2e-bench-sub");
  sub.start_consuming();
  sub.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
  sub.subscribe("plant1/bench/alarms/#", 1)->wait();
  sub.subscribe("floor/alarm", 1)->wait();

  std::atomic<bool> stop_floor{false};
  std::thread floor([&] { FloorLoop(plc.port(), broker.port(), stop_floor); });

  std::unique_ptr<Subprocess> agent = StartAgent(config);
  std::this_thread::sleep_for(seconds(2));  // windows fill with normal values
  const std::string confirmed = "edge_uplink_readings_total{stream=\"backlog\"}";
  std::thread watch;
  if (http_port != 0) {
    // Not there yet (NaN) while the uplink's first round runs: nothing confirmed.
    run.uplink_at_start = MetricValue(HttpGet(http_port, "/metrics").body, confirmed);
    if (std::isnan(run.uplink_at_start)) run.uplink_at_start = 0;
    watch = std::thread([&] { WatchDrain(http_port, run, stop_floor); });
  }

  std::mt19937 rng(42);
  std::uniform_int_distribution<int> jitter_ms(0, 100);
  run.first = steady_clock::now();
  for (int i = 0; i < transitions; ++i) {
    const bool raise = i % 2 == 0;
    const std::string expect = raise ? "\"state\":\"raised\"" : "\"state\":\"cleared\"";
    const std::string expect_floor = raise ? "raised" : "cleared";
    std::this_thread::sleep_for(milliseconds(150 + jitter_ms(rng)));  // any phase of the poll
    const auto t0 = steady_clock::now();
    WriteFloat(ctx, 0, raise ? 0.9f : 0.1f);
    bool got = false, got_floor = false;
    while (steady_clock::now() - t0 < seconds(5) && !(got && got_floor)) {
      mqtt::const_message_ptr msg;
      if (!sub.try_consume_message_for(&msg, milliseconds(500)) || !msg) continue;
      const double ms = std::chrono::duration<double, std::milli>(steady_clock::now() - t0).count();
      if (msg->get_topic() == "floor/alarm") {
        if (msg->to_string() == expect_floor && !got_floor) run.floor_ms.push_back(ms);
        got_floor = got_floor || msg->to_string() == expect_floor;
      } else if (msg->to_string().find(expect) != std::string::npos && !got) {
        run.ms.push_back(ms);
        run.written.push_back(t0);
        got = true;
      }
    }
    if (!got) ++run.lost;
  }
  run.last = steady_clock::now();
  stop_floor = true;
  floor.join();
  if (watch.joinable()) watch.join();
  if (http_port != 0) {
    const HttpReply metrics = HttpGet(http_port, "/metrics");
    run.uplink_at_end = MetricValue(metrics.body, confirmed);
    if (std::isnan(run.uplink_at_end)) {
      const std::string log = agent->Stderr();
      std::fprintf(stderr, "e2e_bench: no %s in /metrics (HTTP %d); the agent's log ends:\n%s\n",
                   confirmed.c_str(), metrics.status,
                   log.substr(log.size() > 3000 ? log.size() - 3000 : 0).c_str());
    }
  }
  agent->Signal(SIGTERM);
  agent->Wait(seconds(20));
  sub.disconnect()->wait();
  modbus_close(ctx);
  modbus_free(ctx);
  if (run.ms.empty()) Die("no alarm arrived");
  return run;
}

void Footprint(int measure_seconds) {
  ScratchDir dir;
  MosquittoBroker broker;
  if (!broker.ok()) Die("mosquitto: " + broker.error());
  constexpr int kTags = 1000;
  std::string map = "tags:\n", agent_tags;
  for (int i = 0; i < kTags; ++i) {
    map += fmt::format("  - {{name: t{}, table: holding, address: {}, type: float32}}\n", i, 2 * i);
    agent_tags += fmt::format(
        "      - {{name: line.t{}, table: holding, address: {}, type: float32}}\n", i, 2 * i);
  }
  PlcSim plc(dir.Write("plc.yaml", map).string());
  if (plc.port() == 0) Die("plc-sim: " + plc.error());
  const std::string made = MakeLastValuePackage({.agent_binary = kAgent,
                                                 .python = EDGE_TEST_PYTHON,
                                                 .source_dir = kSourceDir,
                                                 .window = 64,
                                                 .step_ms = 1000,
                                                 .threshold = 0.5},
                                                dir.path() / "pkg");
  if (!made.empty()) Die(made);
  std::string deployments;
  for (int d = 0; d < 4; ++d) {
    deployments +=
        fmt::format("    - {{asset: pump{}, package: {}, inputs: {{pressure: line.t{}}}}}\n", d,
                    (dir.path() / "pkg").string(), d * 250);
  }
  const fs::path config = dir.Write(
      "agent.yaml",
      fmt::format(
          "gateway: {{id: bench, data_dir: {}}}\nupstream: {{broker: \"tcp://127.0.0.1:{}\", "
          "topic_prefix: plant1}}\nmodbus:\n  - name: plc\n    host: 127.0.0.1\n    port: {}\n"
          "    poll_interval: 1s\n    tags:\n{}models:\n  deployments:\n{}",
          (dir.path() / "data").string(), broker.port(), plc.port(), agent_tags, deployments));
  std::unique_ptr<Subprocess> agent = StartAgent(config);
  std::this_thread::sleep_for(seconds(10));  // warm-up: connections, first commits, caches
  const bench::ProcUsage before = bench::ReadProcUsage(agent->pid());
  std::this_thread::sleep_for(seconds(measure_seconds));
  const bench::ProcUsage after = bench::ReadProcUsage(agent->pid());
  // The mosquitto broker in the same run, idle but connected, for scale.
  const bench::ProcUsage peer = bench::ReadProcUsage(broker.pid());
  agent->Signal(SIGTERM);
  if (agent->Wait(seconds(20)) != 0) Die("agent did not stop cleanly: " + agent->Stderr());
  const double cpu_pct = 100.0 * (after.cpu_seconds - before.cpu_seconds) / measure_seconds;
  std::printf(
      "\n== footprint: 1,000 float32 tags at 1 Hz from plc-sim, 4 deployments (window 64, "
      "1 s grid), %d s after a 10 s warm-up\n",
      measure_seconds);
  std::printf("%-22s %10s %10s %12s\n", "", "RSS MB", "peak MB", "CPU % core");
  std::printf("%-22s %10.1f %10.1f %12.2f\n", "edge-agent", after.rss_kb / 1024.0,
              after.hwm_kb / 1024.0, cpu_pct);
  std::printf("%-22s %10.1f %10.1f %12s\n", "mosquitto (for scale)", peer.rss_kb / 1024.0,
              peer.hwm_kb / 1024.0, "-");
  std::printf("targets: RSS <= 30 MB -> %s; CPU <= 3 %% -> %s\n",
              after.hwm_kb / 1024.0 <= 30.0 ? "met" : "NOT met",
              cpu_pct <= 3.0 ? "met" : "NOT met");
}

}  // namespace
}  // namespace edge::testing

constexpr char kUsage[] =
    "usage: e2e_bench [--transitions N] [--footprint-seconds S] [--backlog-hours H] "
    "[--skip-latency] [--skip-footprint]\n"
    "  alarm latency from a plc-sim register change to the MQTT alarm (N transitions, default\n"
    "  200), next to a bare poll-and-publish loop; with H > 0, measured again while the uplink\n"
    "  drains H hours of 100 tags at 10 Hz preloaded into samples.db; then the agent's RSS and\n"
    "  CPU with 1,000 tags and 4 deployments over S seconds (default 60)\n";

int main(int argc, char** argv) {
  if (edge::bench::PrintedHelp(argc, argv, kUsage)) return 0;
  // Line-buffered even into a pipe: the children this forks must not inherit unflushed output.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int transitions = 200, footprint_seconds = 60;
  double backlog_hours = 0;
  bool latency = true, footprint = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--transitions" && i + 1 < argc) {
      transitions = std::atoi(argv[++i]);
    } else if (a == "--footprint-seconds" && i + 1 < argc) {
      footprint_seconds = std::atoi(argv[++i]);
    } else if (a == "--backlog-hours" && i + 1 < argc) {
      backlog_hours = std::atof(argv[++i]);
    } else if (a == "--skip-latency") {
      latency = false;
    } else if (a == "--skip-footprint") {
      footprint = false;
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (backlog_hours < 0) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (latency) {
    edge::testing::PrintLatency(transitions, edge::testing::Latency(transitions, 0));
    if (backlog_hours > 0) {
      edge::testing::PrintLatency(transitions, edge::testing::Latency(transitions, backlog_hours));
    }
  }
  if (footprint) edge::testing::Footprint(footprint_seconds);
  return 0;
}
