#include "core/rate_limited_log.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace edge {
namespace {

using namespace std::chrono_literals;

class RateLimitedLogTest : public ::testing::Test {
 protected:
  RateLimitedLogTest()
      : logger_(std::make_shared<spdlog::logger>(
            "modbus", std::make_shared<spdlog::sinks::ostream_sink_st>(out_))) {
    logger_->set_pattern("%l %v");
    logger_->set_level(spdlog::level::info);
  }

  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(out_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> logger_;
  FakeClock clock_;
};

TEST_F(RateLimitedLogTest, LetsABurstThroughThenCountsTheRest) {
  RateLimitedLog log(logger_, 3, 1s, clock_);
  for (int i = 0; i < 10; ++i) log.Warn("press-plc/timeout", "press-plc: read timeout #{}", i);
  EXPECT_EQ(Lines(), (std::vector<std::string>{"warning press-plc: read timeout #0",
                                               "warning press-plc: read timeout #1",
                                               "warning press-plc: read timeout #2"}));
  EXPECT_EQ(log.pending_suppressed("press-plc/timeout"), 7u);

  clock_.Advance(1s);
  log.Warn("press-plc/timeout", "press-plc: read timeout #{}", 10);
  ASSERT_EQ(Lines().size(), 4u);
  EXPECT_EQ(Lines()[3], "warning press-plc: read timeout #10 (suppressed 7 similar messages)");
  EXPECT_EQ(log.pending_suppressed("press-plc/timeout"), 0u);

  // The count is reported once: the next message in the window carries none.
  log.Warn("press-plc/timeout", "press-plc: read timeout #{}", 11);
  EXPECT_EQ(Lines().back(), "warning press-plc: read timeout #11");
}

TEST_F(RateLimitedLogTest, WindowEndsExactlyAfterTheInterval) {
  RateLimitedLog log(logger_, 1, 1s, clock_);
  log.Error("k", "a");
  clock_.Advance(999ms);
  log.Error("k", "b");  // same window: suppressed
  clock_.Advance(1ms);
  log.Error("k", "c");
  EXPECT_EQ(Lines(),
            (std::vector<std::string>{"error a", "error c (suppressed 1 similar messages)"}));
}

TEST_F(RateLimitedLogTest, KeysHaveSeparateBudgets) {
  RateLimitedLog log(logger_, 1, 1min, clock_);
  log.Warn("press-plc/timeout", "timeout");
  log.Warn("press-plc/timeout", "timeout");
  log.Warn("oven-plc/timeout", "oven timeout");
  EXPECT_EQ(Lines(), (std::vector<std::string>{"warning timeout", "warning oven timeout"}));
  EXPECT_EQ(log.pending_suppressed("press-plc/timeout"), 1u);
  EXPECT_EQ(log.pending_suppressed("oven-plc/timeout"), 0u);
  EXPECT_EQ(log.pending_suppressed("never-seen"), 0u);
}

TEST_F(RateLimitedLogTest, FlushReportsPendingCountsOnce) {
  RateLimitedLog log(logger_, 1, 1min, clock_);
  for (int i = 0; i < 5; ++i) log.Error("broker/refused", "broker refused the connection");
  log.Flush();
  log.Flush();  // nothing left to report
  EXPECT_EQ(Lines(),
            (std::vector<std::string>{"error broker refused the connection",
                                      "error broker/refused: suppressed 4 similar messages"}));
  EXPECT_EQ(log.pending_suppressed("broker/refused"), 0u);
}

TEST_F(RateLimitedLogTest, MessagesBelowTheLoggerLevelAreNotCounted) {
  RateLimitedLog log(logger_, 1, 1min, clock_);
  for (int i = 0; i < 5; ++i) log.Log(spdlog::level::debug, "k", "debug {}", i);
  EXPECT_TRUE(Lines().empty());
  EXPECT_EQ(log.pending_suppressed("k"), 0u);
  log.Warn("k", "warn");
  EXPECT_EQ(Lines(), std::vector<std::string>{"warning warn"});
}

TEST_F(RateLimitedLogTest, CountsExactlyAcrossThreads) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
  auto logger = std::make_shared<spdlog::logger>("mqtt", sink);
  logger->set_pattern("%v");
  RateLimitedLog log(logger, 5, 1h, clock_);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 1000; ++i) log.Warn("shared", "thread {} message {}", t, i);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Lines().size(), 5u);
  EXPECT_EQ(log.pending_suppressed("shared"), 3995u);
}

}  // namespace
}  // namespace edge
