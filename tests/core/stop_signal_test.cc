#include "core/stop_signal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

namespace edge {
namespace {

using namespace std::chrono_literals;

constexpr auto kLiveness = 30s;  // upper bound for "must happen", never a speed expectation

TEST(StopSignal, StartsClearAndLatches) {
  StopSignal stop;
  EXPECT_FALSE(stop.requested());
  stop.Request();
  EXPECT_TRUE(stop.requested());
  stop.Request();  // idempotent
  EXPECT_TRUE(stop.requested());
}

TEST(StopSignal, WaitReturnsFalseAtTheDeadline) {
  StopSignal stop;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(stop.WaitFor(20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  EXPECT_FALSE(stop.WaitUntil(std::chrono::steady_clock::now() - 1s));  // past deadline
}

TEST(StopSignal, RequestWakesALongWaitAtOnce) {
  StopSignal stop;
  std::atomic<bool> entered{false};
  auto waiter = std::async(std::launch::async, [&] {
    entered = true;
    return stop.WaitFor(1h);
  });
  while (!entered) std::this_thread::yield();
  std::this_thread::sleep_for(10ms);  // let it block (the test passes either way)
  stop.Request();
  ASSERT_EQ(waiter.wait_for(kLiveness), std::future_status::ready);
  EXPECT_TRUE(waiter.get());
}

TEST(StopSignal, WaitAfterRequestReturnsTrueAtOnce) {
  StopSignal stop;
  stop.Request();
  EXPECT_TRUE(stop.WaitUntil(std::chrono::steady_clock::time_point::max()));
  EXPECT_TRUE(stop.WaitFor(std::chrono::steady_clock::duration::max()));
}

TEST(StopSignal, RunsStopCallbacks) {
  StopSignal stop;
  int calls = 0;
  std::stop_callback on_stop(stop.token(), [&] { ++calls; });
  EXPECT_EQ(calls, 0);
  stop.Request();
  EXPECT_EQ(calls, 1);  // synchronously, in Request()
  stop.Request();
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace edge
