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
//
// usage: e2e_bench [--transitions N] [--footprint-seconds S] [--skip-latency] [--skip-footprint]
#include <fmt/format.h>
#include <modbus.h>
#include <mqtt/async_client.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_usage.h"
#include "tests/support/last_value_model.h"
#include "tests/support/mosquitto_broker.h"
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

void PrintLatency(int transitions, int lost, const std::vector<double>& latencies_ms,
                  const std::vector<double>& floor_ms) {
  std::printf(
      "\n== end-to-end latency: register write at plc-sim -> alarm at an MQTT subscriber\n");
  std::printf(
      "poll interval 100 ms, model grid 100 ms, raise_after = clear_after = 1, %d transitions, "
      "%d missing\n",
      transitions, lost);
  std::printf("%-28s %8s %8s %8s %8s\n", "", "p50 ms", "p90 ms", "p99 ms", "max ms");
  std::printf("%-28s %8.1f %8.1f %8.1f %8.1f\n", "edge-agent", Percentile(latencies_ms, 50),
              Percentile(latencies_ms, 90), Percentile(latencies_ms, 99),
              *std::max_element(latencies_ms.begin(), latencies_ms.end()));
  if (!floor_ms.empty()) {
    std::printf("%-28s %8.1f %8.1f %8.1f %8.1f\n", "floor: poll + publish loop",
                Percentile(floor_ms, 50), Percentile(floor_ms, 90), Percentile(floor_ms, 99),
                *std::max_element(floor_ms.begin(), floor_ms.end()));
    std::printf("ratio edge-agent / floor: p50 %.2f, p99 %.2f\n",
                Percentile(latencies_ms, 50) / Percentile(floor_ms, 50),
                Percentile(latencies_ms, 99) / Percentile(floor_ms, 99));
  }
  std::printf("target: p99 <= 120 ms -> %s (p99 / target = %.2f)\n",
              Percentile(latencies_ms, 99) <= 120.0 ? "met" : "NOT met",
              Percentile(latencies_ms, 99) / 120.0);
}

void Latency(int transitions) {
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
  const fs::path config =
      dir.Write("agent.yaml", fmt::format(R"(gateway: {{id: bench, data_dir: {}}}
upstream: {{broker: "tcp://127.0.0.1:{}", topic_prefix: plant1}}
modbus:
  - {{name: plc, host: 127.0.0.1, port: {}, poll_interval: 100ms, timeout: 300ms,
     tags: [{{name: pump1.pressure, table: holding, address: 0, type: float32}}]}}
models:
  deployments:
    - {{asset: pump1, package: {}, inputs: {{pressure: pump1.pressure}},
       alarm: {{raise_after: 1, clear_after: 1}}}}
)",
                                          (dir.path() / "data").string(), broker.port(), plc.port(),
                                          (dir.path() / "pkg").string()));

  mqtt::async_client sub(fmt::format("tcp://127.0.0.1:{}", broker.port()), "e2e-bench-sub");
  sub.start_consuming();
  sub.connect(mqtt::connect_options_builder().clean_session(true).finalize())->wait();
  sub.subscribe("plant1/bench/alarms/#", 1)->wait();
  sub.subscribe("floor/alarm", 1)->wait();

  std::atomic<bool> stop_floor{false};
  std::thread floor([&] { FloorLoop(plc.port(), broker.port(), stop_floor); });

  std::unique_ptr<Subprocess> agent = StartAgent(config);
  std::this_thread::sleep_for(seconds(2));  // windows fill with normal values

  std::mt19937 rng(42);
  std::uniform_int_distribution<int> jitter_ms(0, 100);
  std::vector<double> latencies_ms, floor_ms;
  int lost = 0;
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
        if (msg->to_string() == expect_floor && !got_floor) floor_ms.push_back(ms);
        got_floor = got_floor || msg->to_string() == expect_floor;
      } else if (msg->to_string().find(expect) != std::string::npos && !got) {
        latencies_ms.push_back(ms);
        got = true;
      }
    }
    if (!got) ++lost;
  }
  stop_floor = true;
  floor.join();
  agent->Signal(SIGTERM);
  agent->Wait(seconds(20));
  sub.disconnect()->wait();
  modbus_close(ctx);
  modbus_free(ctx);
  if (latencies_ms.empty()) Die("no alarm arrived");

  PrintLatency(transitions, lost, latencies_ms, floor_ms);
}

struct ProcUsage {
  double cpu_seconds = 0;
  long rss_kb = 0;
  long hwm_kb = 0;
};

ProcUsage Usage(pid_t pid) {
  ProcUsage u;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which is in parentheses): utime is field 14, stime 15.
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::vector<std::string> fields{std::istream_iterator<std::string>(rest), {}};
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  u.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) u.rss_kb = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) u.hwm_kb = std::stol(line.substr(6));
  }
  return u;
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
  const ProcUsage before = Usage(agent->pid());
  std::this_thread::sleep_for(seconds(measure_seconds));
  const ProcUsage after = Usage(agent->pid());
  // The mosquitto broker in the same run, idle but connected, for scale.
  const ProcUsage peer = Usage(broker.pid());
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
    "usage: e2e_bench [--transitions N] [--footprint-seconds S] [--skip-latency] "
    "[--skip-footprint]\n"
    "  alarm latency from a plc-sim register change to the MQTT alarm (N transitions, default\n"
    "  200), next to a bare poll-and-publish loop; then the agent's RSS and CPU with 1,000 tags\n"
    "  and 4 deployments over S seconds (default 60)\n";

int main(int argc, char** argv) {
  if (edge::bench::PrintedHelp(argc, argv, kUsage)) return 0;
  // Line-buffered even into a pipe: the children this forks must not inherit unflushed output.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int transitions = 200, footprint_seconds = 60;
  bool latency = true, footprint = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--transitions" && i + 1 < argc) {
      transitions = std::atoi(argv[++i]);
    } else if (a == "--footprint-seconds" && i + 1 < argc) {
      footprint_seconds = std::atoi(argv[++i]);
    } else if (a == "--skip-latency") {
      latency = false;
    } else if (a == "--skip-footprint") {
      footprint = false;
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (latency) edge::testing::Latency(transitions);
  if (footprint) edge::testing::Footprint(footprint_seconds);
  return 0;
}
