// A samples.db holding a backlog of readings, written the way the daemon writes them (Storage
// and its SampleWriter thread, per-tag chunks, one transaction per commit interval), for the
// benches that measure the telemetry uplink draining it (uplink_bench, e2e_bench
// --backlog-hours) and the end-to-end test of an alarm overtaking a backlog.
//
// The readings: `tags` tags named <prefix>0, <prefix>1, ..., each with `per_tag` readings
// `step_us` apart ending `step_us` before `end_us`, values random doubles in [0, 100) (they do
// not compress: the payload sizes are those of real, noisy signals), all of good quality.
//
// Thread-safety: call from one thread; it starts (and joins) the writer's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/bounded_queue.h"
#include "core/sample.h"
#include "core/status.h"
#include "core/tag_registry.h"
#include "storage/chunk_codec.h"
#include "storage/storage.h"

namespace edge::testing {

struct BacklogSpec {
  int tags = 100;
  int64_t per_tag = 20000;
  std::string prefix = "line.t";
  int64_t step_us = 100'000;  // 10 Hz
  int64_t end_us = 0;         // 0: now
};

// Writes the backlog into `storage`'s samples.db (Storage::Open made it); returns the number of
// readings committed, or the writer's error.
[[nodiscard]] inline StatusOr<uint64_t> PreloadBacklog(storage::Storage& storage,
                                                       const BacklogSpec& spec) {
  TagRegistry registry;
  for (int k = 0; k < spec.tags; ++k) registry.Intern(spec.prefix + std::to_string(k));
  BoundedQueue<Sample> queue(1 << 18);
  storage::WriterOptions options;
  options.commit_interval = std::chrono::milliseconds(200);
  EDGE_ASSIGN_OR_RETURN(std::unique_ptr<storage::SampleWriter> writer,
                        storage.CreateWriter(registry, queue, options));
  EDGE_RETURN_IF_ERROR(writer->Start());
  const int64_t end_us =
      spec.end_us != 0 ? spec.end_us : storage::ToMicros(
                                         std::chrono::floor<std::chrono::microseconds>(
                                             std::chrono::system_clock::now()));
  const int64_t first_us = end_us - spec.per_tag * spec.step_us;
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> value(0.0, 100.0);
  std::vector<Sample> round(static_cast<size_t>(spec.tags));
  for (int64_t i = 0; i < spec.per_tag; ++i) {
    const Timestamp ts = storage::FromMicros(first_us + i * spec.step_us);
    for (int k = 0; k < spec.tags; ++k) {
      round[static_cast<size_t>(k)] = Sample{static_cast<TagId>(k), ts, value(rng), Quality::kGood};
    }
    // The queue is bounded: wait for the writer rather than drop.
    for (std::span<const Sample> rest(round); !rest.empty();) {
      rest = rest.subspan(queue.PushBatch(rest));
      if (!rest.empty()) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  writer->Stop();
  const storage::WriterStats stats = writer->stats();
  const uint64_t want = static_cast<uint64_t>(spec.tags) * static_cast<uint64_t>(spec.per_tag);
  if (stats.samples_committed != want) {
    return Status::Internal(storage.samples_path() + ": the preload committed " +
                            std::to_string(stats.samples_committed) + " of " +
                            std::to_string(want) + " readings");
  }
  return stats.samples_committed;
}

}  // namespace edge::testing
