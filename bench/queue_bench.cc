// Throughput of the ingest queue (core/bounded_queue.h) next to the peer most code uses: a
// std::deque under a std::mutex with a condition_variable, popped one item at a time.
//
// Each iteration moves kItemsPerIteration Samples from P producer threads (1 or 4) to one
// consumer thread, both queues in the same run. Reported as items/s (delivered items). The
// bounded queue is sized so that nothing is dropped (the `dropped` counter shows 0), so both
// sides do the same work; what differs is the preallocated ring, batch pops (one lock per up to
// kPopBatch items) and waking the consumer only when it waits.
//
// DESIGN: every iteration starts P producer threads and one consumer thread and joins them
// before the next; they share only the queue under test.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/bounded_queue.h"
#include "core/sample.h"

namespace edge {
namespace {

constexpr size_t kItemsPerIteration = 1 << 16;
constexpr size_t kPopBatch = 256;
constexpr size_t kPushBatch = 32;  // about one Modbus poll's worth of tags

Sample MakeSample(size_t i) {
  return Sample{static_cast<TagId>(i % 64), Timestamp{std::chrono::microseconds(i)},
                static_cast<double>(i), Quality::kGood};
}

// The peer: unbounded, allocates as the deque grows, one lock and one wake-up per item.
class NaiveQueue {
 public:
  void Push(const Sample& s) {
    {
      std::lock_guard lock(mu_);
      items_.push_back(s);
    }
    cv_.notify_one();
  }
  Sample Pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !items_.empty(); });
    Sample s = items_.front();
    items_.pop_front();
    return s;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Sample> items_;
};

// Splits kItemsPerIteration over `producers` threads running `produce(begin, end)`, while the
// calling thread's `consume()` runs on one more thread; returns when all have finished.
template <typename Produce, typename Consume>
void RunOnce(int producers, Produce produce, Consume consume) {
  std::thread consumer(consume);
  std::vector<std::thread> threads;
  const size_t per = kItemsPerIteration / static_cast<size_t>(producers);
  for (int p = 0; p < producers; ++p) {
    const size_t begin = per * static_cast<size_t>(p);
    threads.emplace_back(produce, begin, begin + per);
  }
  for (auto& t : threads) t.join();
  consumer.join();
}

template <bool kBatchPush>
void BM_BoundedQueue(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  uint64_t dropped = 0;
  double checksum = 0;
  for (auto _ : state) {
    BoundedQueue<Sample> queue(kItemsPerIteration);
    RunOnce(
        producers,
        [&queue](size_t begin, size_t end) {
          if constexpr (kBatchPush) {
            Sample batch[kPushBatch];
            for (size_t i = begin; i < end; i += kPushBatch) {
              const size_t n = std::min(kPushBatch, end - i);
              for (size_t j = 0; j < n; ++j) batch[j] = MakeSample(i + j);
              queue.PushBatch(std::span<const Sample>(batch, n));
            }
          } else {
            for (size_t i = begin; i < end; ++i) queue.TryPush(MakeSample(i));
          }
        },
        [&queue, &checksum] {
          std::vector<Sample> out;
          out.reserve(kPopBatch);
          size_t received = 0;
          while (received < kItemsPerIteration) {
            out.clear();
            received += queue.PopBatch(out, kPopBatch, std::chrono::seconds(10));
            for (const Sample& s : out) checksum += s.value;
          }
        });
    dropped += queue.GetStats().dropped;
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kItemsPerIteration));
  state.counters["dropped"] = static_cast<double>(dropped);
}

void BM_NaiveDequePeer(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(0));
  double checksum = 0;
  for (auto _ : state) {
    NaiveQueue queue;
    RunOnce(
        producers,
        [&queue](size_t begin, size_t end) {
          for (size_t i = begin; i < end; ++i) queue.Push(MakeSample(i));
        },
        [&queue, &checksum] {
          for (size_t received = 0; received < kItemsPerIteration; ++received) {
            checksum += queue.Pop().value;
          }
        });
  }
  benchmark::DoNotOptimize(checksum);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kItemsPerIteration));
}

void Args(benchmark::internal::Benchmark* b) {
  b->ArgName("producers")
      ->Arg(1)
      ->Arg(4)
      ->UseRealTime()
      ->MinTime(0.5)
      ->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_BoundedQueue<false>)->Name("BoundedQueue/TryPush+PopBatch")->Apply(Args);
BENCHMARK(BM_BoundedQueue<true>)->Name("BoundedQueue/PushBatch32+PopBatch")->Apply(Args);
BENCHMARK(BM_NaiveDequePeer)->Name("Peer/mutex+deque+cv,pop-one")->Apply(Args);

}  // namespace
}  // namespace edge

BENCHMARK_MAIN();
