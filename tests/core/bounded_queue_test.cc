#include "core/bounded_queue.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <numeric>
#include <thread>
#include <vector>

#include "core/sample.h"

namespace edge {
namespace {

using namespace std::chrono_literals;

// Upper bound for "this must happen", never a performance expectation.
constexpr auto kLiveness = 30s;

std::vector<int> Iota(int from, int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), from);
  return v;
}

TEST(BoundedQueue, DropsNewestWhenFullAndCountsIt) {
  BoundedQueue<int> q(3);
  EXPECT_TRUE(q.TryPush(1));
  EXPECT_TRUE(q.TryPush(2));
  EXPECT_TRUE(q.TryPush(3));
  EXPECT_FALSE(q.TryPush(4));
  EXPECT_FALSE(q.TryPush(5));

  const QueueStats s = q.GetStats();
  EXPECT_EQ(s.pushed, 3u);
  EXPECT_EQ(s.dropped, 2u);
  EXPECT_EQ(s.depth, 3u);
  EXPECT_EQ(s.capacity, 3u);
  EXPECT_EQ(s.high_water, 3u);

  // The oldest items were kept.
  std::vector<int> out;
  EXPECT_EQ(q.PopBatch(out, 10, 0ms), 3u);
  EXPECT_EQ(out, (std::vector<int>{1, 2, 3}));
}

TEST(BoundedQueue, KeepsOrderAcrossTheRingBoundary) {
  BoundedQueue<int> q(4);
  std::vector<int> out;
  for (int round = 0; round < 10; ++round) {  // head and tail wrap several times
    ASSERT_TRUE(q.TryPush(3 * round));
    ASSERT_TRUE(q.TryPush(3 * round + 1));
    ASSERT_TRUE(q.TryPush(3 * round + 2));
    ASSERT_EQ(q.PopBatch(out, 3, 0ms), 3u);
  }
  EXPECT_EQ(out, Iota(0, 30));
}

TEST(BoundedQueue, PopBatchTakesAtMostMaxItemsAndAppends) {
  BoundedQueue<int> q(8);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(q.TryPush(i));
  std::vector<int> out = {-1};
  EXPECT_EQ(q.PopBatch(out, 2, 0ms), 2u);
  EXPECT_EQ(out, (std::vector<int>{-1, 0, 1}));
  EXPECT_EQ(q.PopBatch(out, 0, 1h), 0u);  // max_items 0: returns at once
  EXPECT_EQ(q.PopBatch(out, 100, 0ms), 3u);
  EXPECT_EQ(out, (std::vector<int>{-1, 0, 1, 2, 3, 4}));
  EXPECT_EQ(q.GetStats().popped, 5u);
  EXPECT_EQ(q.GetStats().depth, 0u);
}

TEST(BoundedQueue, PushBatchPushesWhatFitsAndDropsTheRest) {
  BoundedQueue<int> q(5);
  ASSERT_TRUE(q.TryPush(100));
  ASSERT_TRUE(q.TryPush(101));
  const std::vector<int> batch = {0, 1, 2, 3, 4};
  EXPECT_EQ(q.PushBatch(batch), 3u);

  QueueStats s = q.GetStats();
  EXPECT_EQ(s.pushed, 5u);
  EXPECT_EQ(s.dropped, 2u);
  EXPECT_EQ(s.depth, 5u);

  std::vector<int> out;
  q.PopBatch(out, 10, 0ms);
  EXPECT_EQ(out, (std::vector<int>{100, 101, 0, 1, 2}));  // the batch's tail was dropped

  EXPECT_EQ(q.PushBatch(std::span<const int>()), 0u);
  EXPECT_EQ(q.GetStats().dropped, 2u);
}

TEST(BoundedQueue, PushBatchWrapsAroundTheRing) {
  BoundedQueue<int> q(5);
  std::vector<int> out;
  ASSERT_EQ(q.PushBatch(Iota(0, 4)), 4u);
  ASSERT_EQ(q.PopBatch(out, 3, 0ms), 3u);  // head at 3, tail at 4
  ASSERT_EQ(q.PushBatch(Iota(4, 4)), 4u);  // fills slots 4, 0, 1, 2
  ASSERT_EQ(q.PopBatch(out, 10, 0ms), 5u);
  EXPECT_EQ(out, Iota(0, 8));
}

TEST(BoundedQueue, HighWaterRemembersTheLargestDepth) {
  BoundedQueue<int> q(10);
  std::vector<int> out;
  q.PushBatch(Iota(0, 6));
  q.PopBatch(out, 4, 0ms);
  q.TryPush(6);
  const QueueStats s = q.GetStats();
  EXPECT_EQ(s.depth, 3u);
  EXPECT_EQ(s.high_water, 6u);
  EXPECT_EQ(s.pushed, 7u);
  EXPECT_EQ(s.popped, 4u);
}

TEST(BoundedQueue, PopBatchTimesOutOnAnEmptyQueue) {
  BoundedQueue<int> q(4);
  std::vector<int> out;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(q.PopBatch(out, 10, 20ms), 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);  // waited the full time
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(q.PopBatch(out, 10, 0ms), 0u);   // zero wait: a poll
  EXPECT_EQ(q.PopBatch(out, 10, -5ms), 0u);  // negative wait: a poll too
}

TEST(BoundedQueue, PopBatchWakesOnPush) {
  BoundedQueue<Sample> q(4);
  auto consumer = std::async(std::launch::async, [&q] {
    std::vector<Sample> out;
    q.PopBatch(out, 10, std::chrono::nanoseconds::max());  // "forever"
    return out;
  });
  std::this_thread::sleep_for(10ms);  // let it block (the test passes either way)
  ASSERT_TRUE(q.TryPush(Sample{7, Timestamp{}, 1.5, Quality::kBad}));
  ASSERT_EQ(consumer.wait_for(kLiveness), std::future_status::ready);
  const std::vector<Sample> got = consumer.get();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].tag, 7u);
  EXPECT_EQ(got[0].value, 1.5);
  EXPECT_EQ(got[0].quality, Quality::kBad);
}

TEST(BoundedQueue, CloseRefusesPushesButLetsConsumersDrain) {
  BoundedQueue<int> q(8);
  q.PushBatch(Iota(0, 3));
  q.Close();
  EXPECT_TRUE(q.closed());
  EXPECT_FALSE(q.TryPush(99));
  EXPECT_EQ(q.PushBatch(Iota(10, 4)), 0u);
  EXPECT_EQ(q.GetStats().dropped, 5u);
  EXPECT_EQ(q.GetStats().pushed, 3u);

  std::vector<int> out;
  EXPECT_EQ(q.PopBatch(out, 2, 1h), 2u);
  EXPECT_EQ(q.PopBatch(out, 2, 1h), 1u);
  EXPECT_EQ(out, Iota(0, 3));
  // Closed and empty: 0 at once, however long the caller would wait.
  auto last = std::async(std::launch::async, [&q] {
    std::vector<int> rest;
    return q.PopBatch(rest, 10, std::chrono::nanoseconds::max());
  });
  ASSERT_EQ(last.wait_for(kLiveness), std::future_status::ready);
  EXPECT_EQ(last.get(), 0u);
  q.Close();  // idempotent
}

TEST(BoundedQueue, CloseWakesEveryBlockedConsumer) {
  BoundedQueue<int> q(8);
  std::vector<std::future<size_t>> consumers;
  for (int i = 0; i < 3; ++i) {
    consumers.push_back(std::async(std::launch::async, [&q] {
      std::vector<int> out;
      return q.PopBatch(out, 10, 1h);
    }));
  }
  std::this_thread::sleep_for(10ms);  // let them block (the test passes either way)
  q.Close();
  for (auto& c : consumers) {
    ASSERT_EQ(c.wait_for(kLiveness), std::future_status::ready);
    EXPECT_EQ(c.get(), 0u);
  }
}

// Four producers push far more than the capacity while one consumer drains: every item is
// either delivered exactly once or counted as dropped, and each producer's items arrive in the
// order it pushed them.
TEST(BoundedQueue, CountsDropsExactlyUnderConcurrentProducers) {
  constexpr int kProducers = 4;
  constexpr uint32_t kPerProducer = 20'000;
  constexpr size_t kCapacity = 64;
  BoundedQueue<Sample> q(kCapacity);

  // The consumer starts only when every producer has pushed its first half: with 40'000 items
  // against 64 slots, drops are certain, not left to scheduling.
  std::latch first_half_done(kProducers);
  std::array<std::vector<bool>, kProducers> accepted;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    accepted[static_cast<size_t>(p)].assign(kPerProducer, false);
    producers.emplace_back([&, p] {
      auto& mine = accepted[static_cast<size_t>(p)];
      for (uint32_t seq = 0; seq < kPerProducer; ++seq) {
        if (seq == kPerProducer / 2) first_half_done.count_down();
        const Sample s{static_cast<TagId>(p), Timestamp{std::chrono::microseconds(seq)},
                       static_cast<double>(seq), Quality::kGood};
        if (seq % 16 == 0) {  // mix single pushes and batches of one
          mine[seq] = q.PushBatch(std::span<const Sample>(&s, 1)) == 1;
        } else {
          mine[seq] = q.TryPush(s);
        }
      }
    });
  }

  std::array<std::vector<uint32_t>, kProducers> received;
  std::thread consumer([&] {
    first_half_done.wait();
    std::vector<Sample> batch;
    batch.reserve(32);
    while (true) {
      batch.clear();
      if (q.PopBatch(batch, 32, 1h) == 0) break;  // only after Close() and drained
      for (const Sample& s : batch) {
        received[s.tag].push_back(static_cast<uint32_t>(s.ts.time_since_epoch().count()));
      }
    }
  });

  for (auto& t : producers) t.join();
  q.Close();
  consumer.join();

  uint64_t total_accepted = 0;
  for (int p = 0; p < kProducers; ++p) {
    const auto& mine = accepted[static_cast<size_t>(p)];
    std::vector<uint32_t> expected;
    for (uint32_t seq = 0; seq < kPerProducer; ++seq) {
      if (mine[seq]) expected.push_back(seq);
    }
    total_accepted += expected.size();
    // Exactly the accepted items, each once, in push order.
    EXPECT_EQ(received[static_cast<size_t>(p)], expected) << "producer " << p;
  }

  const QueueStats s = q.GetStats();
  EXPECT_EQ(s.pushed, total_accepted);
  EXPECT_EQ(s.popped, total_accepted);
  EXPECT_EQ(s.pushed + s.dropped, uint64_t{kProducers} * kPerProducer);
  EXPECT_GE(s.dropped, uint64_t{kProducers} * kPerProducer / 2 - kCapacity);
  EXPECT_EQ(s.high_water, kCapacity);
  EXPECT_EQ(s.depth, 0u);
}

TEST(BoundedQueue, SeveralConsumersShareTheItemsExactlyOnce) {
  constexpr int kItems = 50'000;
  BoundedQueue<int> q(kItems);  // room for all: this test is about consumers, not drops
  std::vector<std::future<std::vector<int>>> consumers;
  for (int c = 0; c < 3; ++c) {
    consumers.push_back(std::async(std::launch::async, [&q] {
      std::vector<int> mine;
      while (q.PopBatch(mine, 100, 1h) > 0) {
      }
      return mine;
    }));
  }
  for (int i = 0; i < kItems; i += 10) ASSERT_EQ(q.PushBatch(Iota(i, 10)), 10u);
  q.Close();

  std::vector<int> seen(kItems, 0);
  for (auto& c : consumers) {
    ASSERT_EQ(c.wait_for(kLiveness), std::future_status::ready);
    for (int v : c.get()) ++seen[static_cast<size_t>(v)];
  }
  EXPECT_EQ(seen, std::vector<int>(kItems, 1));
  EXPECT_EQ(q.GetStats().dropped, 0u);
}

}  // namespace
}  // namespace edge
