// Modbus polling: how many requests a poll costs, and how fast the poll path runs next to bare
// libmodbus against the same server.
//
// 1. Plan/<map>: read requests per poll cycle for realistic tag maps, from the RequestPlanner
//    (counter `requests`), next to the optimum (`optimal`, CountOptimalRequests' dynamic
//    program) and to one request per tag (`per_tag`, what a naive driver sends). Timed: the
//    planning itself (done once per device at start).
// 2. Poll/<map>: one full poll cycle through ModbusPoller::Poll (read every planned request,
//    decode every tag, PushBatch into a BoundedQueue, drained in the loop) against plc-sim on
//    loopback, next to Floor/<map>: modbus_read_registers / modbus_read_bits in a tight loop
//    for the very same requests on the same server, with no decoding and no queue. PerTag/<map>
//    is bare libmodbus sending one request per tag (the cost the planner saves).
//    Reported: polls/s (wall clock); the summary adds microseconds per request.
// A summary table (ours / floor / ratio) is printed after the benchmarks.
//
// DESIGN (threads/processes): main() starts one plc-sim child process (PLC_SIM_BINARY, a
// compile definition) on an ephemeral loopback port and kills it at exit; the benchmarks run on
// the main thread only.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <modbus/modbus.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/tag_registry.h"
#include "drivers/modbus_poller.h"
#include "drivers/request_planner.h"

extern char** environ;

namespace edge::drivers {
namespace {

using config::ModbusTable;
using config::ModbusTag;
using config::ModbusType;

ModbusTag Tag(std::string name, ModbusTable table, uint16_t address, ModbusType type) {
  ModbusTag tag;
  tag.name = std::move(name);
  tag.table = table;
  tag.address = address;
  tag.type = type;
  return tag;
}

// A PLC data block: 200 register tags packed back to back (float32 and uint16 alternating
// groups), plus 64 status coils.
std::vector<ModbusTag> DenseMap() {
  std::vector<ModbusTag> tags;
  uint16_t address = 0;
  for (int i = 0; i < 200; ++i) {
    const ModbusType type = (i / 4) % 2 == 0 ? ModbusType::kFloat32 : ModbusType::kUInt16;
    tags.push_back(Tag(fmt::format("dense.r{}", i), ModbusTable::kHoldingRegister, address, type));
    address = static_cast<uint16_t>(address + config::RegisterCount(tags.back()));
  }
  for (uint16_t i = 0; i < 64; ++i) {
    tags.push_back(Tag(fmt::format("dense.c{}", i), ModbusTable::kCoil, i, ModbusType::kBool));
  }
  return tags;
}

// Tags picked from several machines' blocks: 20 clusters of 10 tags with small gaps (0-3
// registers), the clusters spread over 0..9999; plus 40 coils in 4 groups.
std::vector<ModbusTag> ScatteredMap() {
  std::mt19937 rng(3);
  std::vector<ModbusTag> tags;
  for (int c = 0; c < 20; ++c) {
    auto address = static_cast<uint16_t>(c * 500 + rng() % 200);
    for (int i = 0; i < 10; ++i) {
      const ModbusType type = rng() % 3 == 0 ? ModbusType::kUInt16 : ModbusType::kFloat32;
      tags.push_back(
          Tag(fmt::format("scattered.r{}.{}", c, i), ModbusTable::kHoldingRegister, address, type));
      address = static_cast<uint16_t>(address + config::RegisterCount(tags.back()) + rng() % 4);
    }
  }
  for (int g = 0; g < 4; ++g) {
    for (int i = 0; i < 10; ++i) {
      tags.push_back(Tag(fmt::format("scattered.c{}.{}", g, i), ModbusTable::kCoil,
                         static_cast<uint16_t>(g * 3000 + i * 2), ModbusType::kBool));
    }
  }
  return tags;
}

std::vector<ModbusTag> MapNamed(const std::string& name) {
  return name == "dense" ? DenseMap() : ScatteredMap();
}

struct Figures {
  double polls_per_s = 0;
  double us_per_request = 0;
  size_t requests_per_poll = 0;
};
std::map<std::string, Figures> g_results;  // benchmark name -> figures of its run
int g_port = 0;

void BM_Plan(benchmark::State& state, const std::string& map) {
  const std::vector<ModbusTag> tags = MapNamed(map);
  const PlanLimits limits;
  size_t requests = 0;
  for (auto _ : state) {
    StatusOr<ReadPlan> plan = PlanReads(tags, limits);
    requests = plan->requests.size();
    benchmark::DoNotOptimize(requests);
  }
  state.counters["tags"] = static_cast<double>(tags.size());
  state.counters["requests"] = static_cast<double>(requests);
  state.counters["optimal"] = static_cast<double>(CountOptimalRequests(tags, limits));
  state.counters["per_tag"] = static_cast<double>(tags.size());
}

config::ModbusDevice DeviceFor(const std::string& map) {
  config::ModbusDevice device;
  device.name = map;
  device.host = "127.0.0.1";
  device.port = static_cast<uint16_t>(g_port);
  device.timeout = std::chrono::milliseconds(1000);
  device.tags = MapNamed(map);
  return device;
}

void Record(benchmark::State& state, size_t requests_per_poll) {
  state.counters["polls/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["requests/poll"] = static_cast<double>(requests_per_poll);
}

// Ours: ModbusPoller::Poll, with decoding and the queue.
void BM_Poll(benchmark::State& state, const std::string& map) {
  TagRegistry registry;
  config::ModbusDevice device = DeviceFor(map);
  for (const ModbusTag& t : device.tags) registry.Intern(t.name);
  BoundedQueue<Sample> queue(1 << 16);
  StatusOr<std::unique_ptr<ModbusPoller>> poller =
      ModbusPoller::Create({device}, registry, queue, SystemClockInstance());
  if (!poller.ok() || !(*poller)->Connect().ok()) {
    state.SkipWithError("cannot connect to plc-sim");
    return;
  }
  std::vector<Sample> drained;
  drained.reserve(1 << 12);
  const size_t requests = PlanReads(device.tags, LimitsFor(device))->requests.size();
  for (auto _ : state) {
    if ((*poller)->Poll(0) != ModbusPoller::PollResult::kOk) {
      state.SkipWithError("poll failed");
      break;
    }
    drained.clear();
    queue.PopBatch(drained, 1 << 12, std::chrono::nanoseconds(0));
  }
  Record(state, requests);
}

// Bare libmodbus, the same requests as the plan (or one per tag), nothing else.
void BM_Raw(benchmark::State& state, const std::string& map, bool per_tag) {
  config::ModbusDevice device = DeviceFor(map);
  std::vector<ReadRequest> requests;
  if (per_tag) {
    for (const ModbusTag& t : device.tags) {
      requests.push_back({t.table, t.address, config::RegisterCount(t)});
    }
  } else {
    requests = PlanReads(device.tags, LimitsFor(device))->requests;
  }
  modbus_t* ctx = modbus_new_tcp("127.0.0.1", g_port);
  if (ctx == nullptr || modbus_connect(ctx) != 0) {
    state.SkipWithError("cannot connect to plc-sim");
    if (ctx != nullptr) modbus_free(ctx);
    return;
  }
  uint16_t registers[MODBUS_MAX_READ_REGISTERS];
  uint8_t bits[MODBUS_MAX_READ_BITS];
  for (auto _ : state) {
    for (const ReadRequest& r : requests) {
      const bool bit_table = r.table == ModbusTable::kCoil;
      const int rc = bit_table ? modbus_read_bits(ctx, r.start, r.count, bits)
                               : modbus_read_registers(ctx, r.start, r.count, registers);
      if (rc != r.count) state.SkipWithError("read failed");
    }
  }
  modbus_close(ctx);
  modbus_free(ctx);
  Record(state, requests.size());
}

// Runs plc-sim on an ephemeral port; returns its pid, or -1.
pid_t StartPlcSim(const std::filesystem::path& dir) {
  const std::string map = (dir / "map.yaml").string();
  std::ofstream(map) << "tags: []\n";  // every address reads as 0: enough for timing
  const std::string port_file = (dir / "port").string();
  std::vector<std::string> args = {PLC_SIM_BINARY, "--map", map, "--port-file", port_file};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  for (int i = 0; i < 500 && g_port == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream in(port_file);
    in >> g_port;
  }
  return pid;
}

void PrintSummary() {
  std::printf(
      "\nModbus poll cycle against plc-sim on loopback (ours = ModbusPoller: planned reads + "
      "decode + queue; floor = bare libmodbus, the same requests; per-tag = bare libmodbus, one "
      "request per tag):\n");
  std::printf("%-10s %6s %13s %13s %7s %12s %12s %8s %14s\n", "map", "req", "ours polls/s",
              "floor polls/s", "ratio", "ours us/req", "floor us/req", "req/tag",
              "per-tag polls/s");
  for (const std::string map : {"dense", "scattered"}) {
    const Figures& ours = g_results["Poll/" + map];
    const Figures& floor = g_results["Floor/" + map];
    const Figures& per_tag = g_results["PerTag/" + map];
    std::printf("%-10s %6zu %13.0f %13.0f %7.3f %12.1f %12.1f %8zu %14.0f\n", map.c_str(),
                ours.requests_per_poll, ours.polls_per_s, floor.polls_per_s,
                floor.polls_per_s > 0 ? ours.polls_per_s / floor.polls_per_s : 0.0,
                ours.us_per_request, floor.us_per_request, per_tag.requests_per_poll,
                per_tag.polls_per_s);
  }
}

// Keeps each run's rates for the summary, keyed by benchmark name ("Poll/dense", ...).
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const auto polls = run.counters.find("polls/s");
      const auto requests = run.counters.find("requests/poll");
      if (polls == run.counters.end() || requests == run.counters.end()) continue;
      Figures& f = g_results[run.run_name.function_name];
      f.polls_per_s = polls->second.value;
      f.requests_per_poll = static_cast<size_t>(requests->second.value);
      f.us_per_request = 1e6 / (f.polls_per_s * requests->second.value);
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace
}  // namespace edge::drivers

namespace {

// --help: what the program measures, then Google Benchmark's flags.
void PrintUsage() {
  std::fputs(
      "usage: modbus_bench [Google Benchmark flags]\n"
      "  read requests per poll for realistic tag maps (Plan/*), and poll cycles through\n"
      "  ModbusPoller (Poll/*) next to bare libmodbus (Floor/*, PerTag/*) against plc-sim\n",
      stdout);
  benchmark::PrintDefaultHelp();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace edge::drivers;
  // First, so that --help (which exits here) and bad flags come before plc-sim is started.
  benchmark::Initialize(&argc, argv, PrintUsage);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  char dir_template[] = "/tmp/modbus-bench-XXXXXX";
  const std::filesystem::path dir = mkdtemp(dir_template);
  const pid_t sim = StartPlcSim(dir);
  if (sim < 0 || g_port == 0) {
    std::fprintf(stderr, "modbus_bench: plc-sim (%s) did not start\n", PLC_SIM_BINARY);
    return 1;
  }
  for (const std::string map : {"dense", "scattered"}) {
    benchmark::RegisterBenchmark(("Plan/" + map).c_str(), BM_Plan, map)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("Poll/" + map).c_str(), BM_Poll, map)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime()
        ->MinTime(1.0);
    benchmark::RegisterBenchmark(("Floor/" + map).c_str(), BM_Raw, map, false)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime()
        ->MinTime(1.0);
    benchmark::RegisterBenchmark(("PerTag/" + map).c_str(), BM_Raw, map, true)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime()
        ->MinTime(1.0);
  }
  SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  PrintSummary();
  kill(sim, SIGTERM);
  waitpid(sim, nullptr, 0);
  std::filesystem::remove_all(dir);
  return 0;
}
