// Cost per reading of the telemetry uplink's pure stages (issue #18): encoding a message in
// `json` and `influx`, and the deadband and aggregate filters. The backlog drain aims at
// 200,000+ readings/s end to end (storage read, filter, encode, write-ahead, publish), so each
// stage here should cost well under 1 µs per reading.
//
// Peers from the same run: the JSON payload built as an nlohmann::json document and dumped (what
// the rest of the agent does for its small messages), and line protocol written with one
// fmt::format_to per line (fmt's {} is also the shortest round-trip double).
//
// A message is 10 tags × 100 readings (max_batch 1000, the default), at a 100 ms cadence; half
// the tags carry values read from float32 registers (long shortest forms such as
// 23.399999618530273), half scaled integers (23.4). Reported as items/s = readings/s.
//
// DESIGN: single-threaded; nothing but the measured loop runs.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "bench/bench_usage.h"
#include "uplink/influx_encoding.h"
#include "uplink/json_encoding.h"
#include "uplink/stream_filter.h"

namespace edge::uplink {
namespace {

constexpr int kTags = 10;
constexpr int kReadingsPerTag = 100;
constexpr int64_t kStartUs = 1'795'000'000'000'000;  // late 2026
constexpr int64_t kCadenceUs = 100'000;

std::vector<Series> MakeMessage() {
  std::mt19937_64 rng(18);
  std::normal_distribution<double> noise(0, 0.3);
  std::vector<Series> series(kTags);
  for (int tag = 0; tag < kTags; ++tag) {
    Series& s = series[static_cast<size_t>(tag)];
    s.tag = "plant1.line2.pump" + std::to_string(tag) + ".discharge_pressure";
    double walk = 20 + tag;
    for (int i = 0; i < kReadingsPerTag; ++i) {
      walk += noise(rng);
      const double v = tag % 2 == 0 ? static_cast<double>(static_cast<float>(walk))
                                    : std::round(walk * 10) / 10;
      s.readings.push_back({kStartUs + i * kCadenceUs, v, i % 50 == 49});
    }
  }
  return series;
}

const MessageHeader kHeader{"gateway-0042", "raw", 123456, "", std::nullopt};

void SetReadings(benchmark::State& state, std::string_view payload) {
  state.SetItemsProcessed(state.iterations() * kTags * kReadingsPerTag);
  state.counters["payload_bytes"] = static_cast<double>(payload.size());
}

using EncodeFn = void (*)(const MessageHeader&, std::span<const Series>, std::string&);

void BM_Encode(benchmark::State& state, EncodeFn encode) {
  const std::vector<Series> message = MakeMessage();
  std::string out;
  for (auto _ : state) {
    encode(kHeader, message, out);
    benchmark::DoNotOptimize(out.data());
  }
  SetReadings(state, out);
}

void BM_JsonNlohmannPeer(benchmark::State& state) {
  const std::vector<Series> message = MakeMessage();
  std::string out;
  for (auto _ : state) {
    nlohmann::json doc = {{"gateway", kHeader.gateway}, {"stream", kHeader.stream},
                          {"seq", kHeader.seq}};
    nlohmann::json& series = doc["series"] = nlohmann::json::array();
    for (const Series& s : message) {
      nlohmann::json t = nlohmann::json::array();
      nlohmann::json v = nlohmann::json::array();
      for (const Reading& r : s.readings) {
        t.push_back(r.t_us);
        if (r.bad) {
          v.push_back(nullptr);
        } else {
          v.push_back(r.value);
        }
      }
      series.push_back({{"tag", s.tag}, {"t", std::move(t)}, {"v", std::move(v)}});
    }
    out = doc.dump();
    benchmark::DoNotOptimize(out.data());
  }
  SetReadings(state, out);
}

void BM_InfluxFmtPeer(benchmark::State& state) {
  const std::vector<Series> message = MakeMessage();
  std::string out;
  std::string tag;
  for (auto _ : state) {
    out.clear();
    for (const Series& s : message) {
      tag.clear();
      AppendInfluxTagValue(tag, s.tag);
      for (const Reading& r : s.readings) {
        if (r.bad) {
          fmt::format_to(std::back_inserter(out), "edge,gateway={},tag={} bad=true {}\n",
                         kHeader.gateway, tag, r.t_us * 1000);
        } else {
          fmt::format_to(std::back_inserter(out), "edge,gateway={},tag={} value={} {}\n",
                         kHeader.gateway, tag, r.value, r.t_us * 1000);
        }
      }
    }
    benchmark::DoNotOptimize(out.data());
  }
  SetReadings(state, out);
}

// Feed cost per reading; the output Series is cleared per message as the uplink would.
void BM_Filter(benchmark::State& state, ModeSpec m) {
  const std::vector<Series> message = MakeMessage();
  std::vector<TagFilterState> states(message.size());
  FilterCounters counters;
  Series out;
  int64_t shift = 0;  // each pass continues in time, so aggregate periods keep closing
  for (auto _ : state) {
    for (size_t tag = 0; tag < message.size(); ++tag) {
      out.readings.clear();
      out.aggregates.clear();
      for (Reading r : message[tag].readings) {
        r.t_us += shift;
        Feed(m, states[tag], r, out, counters);
      }
      benchmark::DoNotOptimize(out.readings.data());
    }
    shift += kReadingsPerTag * kCadenceUs;
  }
  state.SetItemsProcessed(state.iterations() * kTags * kReadingsPerTag);
  state.counters["suppressed"] = static_cast<double>(counters.suppressed);
}

ModeSpec DeadbandSpec() {
  ModeSpec m;
  m.kind = ModeSpec::Kind::kDeadband;
  m.band = 0.5;
  m.max_interval_us = 60'000'000;
  return m;
}

ModeSpec AggregateSpec() {
  ModeSpec m;
  m.kind = ModeSpec::Kind::kAggregate;
  m.period_us = 1'000'000;
  return m;
}

BENCHMARK_CAPTURE(BM_Encode, json, &EncodeJson)->Name("Json/ours");
BENCHMARK(BM_JsonNlohmannPeer)->Name("Json/peer:nlohmann-document");
BENCHMARK_CAPTURE(BM_Encode, influx, &EncodeInflux)->Name("Influx/ours");
BENCHMARK(BM_InfluxFmtPeer)->Name("Influx/peer:fmt-per-line");
BENCHMARK_CAPTURE(BM_Filter, deadband, DeadbandSpec())->Name("Filter/deadband");
BENCHMARK_CAPTURE(BM_Filter, aggregate, AggregateSpec())->Name("Filter/aggregate");

constexpr const char* kUsage =
    "usage: uplink_encode_bench [Google Benchmark flags]\n"
    "  cost per reading of the uplink encoders (json, influx) next to an nlohmann document and\n"
    "  fmt per line, and of the deadband and aggregate filters; items/s = readings/s\n\n";

}  // namespace
}  // namespace edge::uplink

int main(int argc, char** argv) {
  if (edge::bench::PrintedHelp(argc, argv, edge::uplink::kUsage)) {
    benchmark::PrintDefaultHelp();
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
