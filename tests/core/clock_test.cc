#include "core/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace edge {
namespace {

using namespace std::chrono_literals;

constexpr auto kLiveness = 30s;  // upper bound for "must happen", never a speed expectation

// Starts a thread sleeping on `clock` until `deadline`; the future holds SleepUntil's result.
std::future<bool> SleepInThread(const FakeClock& clock,
                                std::chrono::steady_clock::time_point deadline,
                                const StopSignal& stop) {
  return std::async(std::launch::async,
                    [&clock, deadline, &stop] { return clock.SleepUntil(deadline, stop); });
}

TEST(FakeClock, StandsStillUntilAdvanced) {
  FakeClock clock;
  const Timestamp wall = clock.Now();
  const auto steady = clock.SteadyNow();
  EXPECT_EQ(wall, Timestamp{std::chrono::sys_days{2026y / 1 / 1}});
  std::this_thread::sleep_for(2ms);
  EXPECT_EQ(clock.Now(), wall);
  EXPECT_EQ(clock.SteadyNow(), steady);

  clock.Advance(1500ms);
  EXPECT_EQ(clock.Now(), wall + 1500ms);
  EXPECT_EQ(clock.SteadyNow(), steady + 1500ms);
}

TEST(FakeClock, WallTimeCanJumpWithoutMovingSteadyTime) {
  FakeClock clock(Timestamp{std::chrono::sys_days{2026y / 11 / 23}});
  const auto steady = clock.SteadyNow();
  clock.SetWallTime(clock.Now() - 1h);  // NTP steps the clock back
  EXPECT_EQ(clock.Now(), Timestamp{std::chrono::sys_days{2026y / 11 / 23}} - 1h);
  EXPECT_EQ(clock.SteadyNow(), steady);
}

TEST(FakeClock, AdvanceWakesASleeperWhenItsDeadlineIsReached) {
  FakeClock clock;
  StopSignal stop;
  auto sleeper = SleepInThread(clock, clock.SteadyNow() + 1s, stop);
  ASSERT_TRUE(clock.WaitForSleepers(1, kLiveness));

  clock.Advance(999ms);  // not yet
  EXPECT_EQ(sleeper.wait_for(20ms), std::future_status::timeout);
  EXPECT_EQ(clock.sleepers(), 1u);

  clock.Advance(1ms);
  ASSERT_EQ(sleeper.wait_for(kLiveness), std::future_status::ready);
  EXPECT_FALSE(sleeper.get());  // deadline, not stop
  EXPECT_EQ(clock.sleepers(), 0u);
}

TEST(FakeClock, AdvanceWakesOnlyTheSleepersItReaches) {
  FakeClock clock;
  StopSignal stop;
  const auto t0 = clock.SteadyNow();
  auto early = SleepInThread(clock, t0 + 1s, stop);
  auto late = SleepInThread(clock, t0 + 5s, stop);
  ASSERT_TRUE(clock.WaitForSleepers(2, kLiveness));

  clock.Advance(2s);
  ASSERT_EQ(early.wait_for(kLiveness), std::future_status::ready);
  EXPECT_FALSE(early.get());
  EXPECT_EQ(late.wait_for(20ms), std::future_status::timeout);

  clock.Advance(3s);
  ASSERT_EQ(late.wait_for(kLiveness), std::future_status::ready);
  EXPECT_FALSE(late.get());
}

TEST(FakeClock, StopWakesASleeperWithoutAdvancingTime) {
  FakeClock clock;
  StopSignal stop;
  auto sleeper = SleepInThread(clock, clock.SteadyNow() + 24h, stop);
  ASSERT_TRUE(clock.WaitForSleepers(1, kLiveness));
  stop.Request();
  ASSERT_EQ(sleeper.wait_for(kLiveness), std::future_status::ready);
  EXPECT_TRUE(sleeper.get());
}

TEST(FakeClock, ReturnsAtOnceForAPastDeadlineOrAStopAlreadyRequested) {
  FakeClock clock;
  StopSignal stop;
  EXPECT_FALSE(clock.SleepUntil(clock.SteadyNow(), stop));
  EXPECT_FALSE(clock.SleepUntil(clock.SteadyNow() - 1s, stop));
  stop.Request();
  EXPECT_TRUE(clock.SleepUntil(clock.SteadyNow() + 1h, stop));
}

TEST(FakeClock, WaitForSleepersTimesOutWhenNobodySleeps) {
  FakeClock clock;
  EXPECT_FALSE(clock.WaitForSleepers(1, 10ms));
}

TEST(FakeClock, DrivesAPollLoop) {
  // The loop shape from clock.h: one poll per interval, stopped promptly.
  FakeClock clock;
  StopSignal stop;
  std::atomic<int> polls{0};
  std::thread poller([&] {
    auto next = clock.SteadyNow();
    while (true) {
      ++polls;
      next += 100ms;
      if (clock.SleepUntil(next, stop)) break;
    }
  });
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(clock.WaitForSleepers(1, kLiveness));
    ASSERT_EQ(polls.load(), i);
    clock.Advance(100ms);
    // Wait until the poller has polled again and gone back to sleep (or is about to).
    const auto give_up = std::chrono::steady_clock::now() + kLiveness;
    while (polls.load() == i && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
  }
  ASSERT_TRUE(clock.WaitForSleepers(1, kLiveness));
  stop.Request();
  poller.join();
  EXPECT_EQ(polls.load(), 6);
}

TEST(SystemClock, FollowsTheSystemClocks) {
  const Clock& clock = SystemClockInstance();
  const auto before = std::chrono::system_clock::now();
  const Timestamp now = clock.Now();
  const auto after = std::chrono::system_clock::now();
  EXPECT_GE(now, std::chrono::floor<std::chrono::microseconds>(before));
  EXPECT_LE(now, after);

  const auto s0 = clock.SteadyNow();
  EXPECT_LE(s0, clock.SteadyNow());
  EXPECT_EQ(&SystemClockInstance(), &clock);
}

TEST(SystemClock, SleepsUntilTheDeadline) {
  const Clock& clock = SystemClockInstance();
  StopSignal stop;
  const auto deadline = clock.SteadyNow() + 20ms;
  EXPECT_FALSE(clock.SleepUntil(deadline, stop));
  EXPECT_GE(clock.SteadyNow(), deadline);
}

TEST(SystemClock, StopWakesASleeperAtOnce) {
  const Clock& clock = SystemClockInstance();
  StopSignal stop;
  auto sleeper = std::async(std::launch::async,
                            [&] { return clock.SleepUntil(clock.SteadyNow() + 1h, stop); });
  std::this_thread::sleep_for(10ms);  // let it block (the test passes either way)
  stop.Request();
  ASSERT_EQ(sleeper.wait_for(kLiveness), std::future_status::ready);
  EXPECT_TRUE(sleeper.get());
}

}  // namespace
}  // namespace edge
