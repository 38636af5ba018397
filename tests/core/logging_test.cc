#include "core/logging.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "core/time_format.h"

namespace edge {
namespace {

// True if `text` is one console line: an RFC 3339 UTC timestamp with milliseconds within a
// minute of now, a space, then `rest` and a newline.
::testing::AssertionResult IsConsoleLine(std::string_view text, std::string_view rest) {
  constexpr size_t kStampLength = 24;  // 2026-11-23T10:00:00.123Z
  if (text.size() < kStampLength + 1) return ::testing::AssertionFailure() << "short: " << text;
  const std::string_view stamp = text.substr(0, kStampLength);
  auto ts = ParseRfc3339(stamp);
  if (!ts.ok() || stamp.back() != 'Z' || stamp[19] != '.') {
    return ::testing::AssertionFailure() << "no UTC millisecond timestamp: " << text;
  }
  const auto age = std::chrono::system_clock::now() - *ts;
  if (age < -std::chrono::minutes(1) || age > std::chrono::minutes(1)) {
    return ::testing::AssertionFailure() << "timestamp is not now: " << text;
  }
  if (text.substr(kStampLength) != " " + std::string(rest) + "\n") {
    return ::testing::AssertionFailure() << "unexpected line: " << text;
  }
  return ::testing::AssertionSuccess();
}

TEST(ParseLogLevel, AcceptsTheConfigNames) {
  EXPECT_EQ(*ParseLogLevel("trace"), spdlog::level::trace);
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("info"), spdlog::level::info);
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("warning"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
  EXPECT_EQ(*ParseLogLevel("err"), spdlog::level::err);
  EXPECT_EQ(*ParseLogLevel("critical"), spdlog::level::critical);
  EXPECT_EQ(*ParseLogLevel("off"), spdlog::level::off);
}

TEST(ParseLogLevel, RejectsUnknownNames) {
  for (const char* bad : {"", "INFO", "verbose", "fatal", "info "}) {
    auto level = ParseLogLevel(bad);
    ASSERT_FALSE(level.ok()) << bad;
    EXPECT_EQ(level.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(level.status().message().find(std::string("'") + bad + "'"), std::string::npos);
  }
}

// Each test leaves logging as a fresh process has it: stderr, info, no JOURNAL_STREAM.
class LoggingTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("JOURNAL_STREAM");
    ASSERT_TRUE(InitLogging(LogOptions{}).ok());
  }

  // Logging options that write into `out_`.
  LogOptions ToStream(LogFormat format, std::string level = "info") {
    LogOptions options;
    options.level = std::move(level);
    options.format = format;
    options.sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    return options;
  }

  std::ostringstream out_;
};

TEST_F(LoggingTest, JournalFormatPrefixesSdDaemonPriorities) {
  ASSERT_TRUE(InitLogging(ToStream(LogFormat::kJournal, "trace")).ok());
  auto log = GetLogger("modbus");
  log->trace("t");
  log->debug("d");
  log->info("press-plc connected");
  log->warn("press-plc: read timeout");
  log->error("press-plc: {} failures", 3);
  log->critical("c");
  EXPECT_EQ(out_.str(),
            "<7>modbus: t\n"
            "<7>modbus: d\n"
            "<6>modbus: press-plc connected\n"
            "<4>modbus: press-plc: read timeout\n"
            "<3>modbus: press-plc: 3 failures\n"
            "<2>modbus: c\n");
}

TEST_F(LoggingTest, ConsoleFormatHasUtcTimestampLevelAndModule) {
  ASSERT_TRUE(InitLogging(ToStream(LogFormat::kConsole)).ok());
  GetLogger("config")->warn("agent.yaml: key 'foo' is unknown");
  EXPECT_TRUE(IsConsoleLine(out_.str(), "[warning] config: agent.yaml: key 'foo' is unknown"));
}

TEST_F(LoggingTest, LevelFiltersEveryLogger) {
  auto early = GetLogger("storage");  // created before InitLogging
  ASSERT_TRUE(InitLogging(ToStream(LogFormat::kJournal, "warn")).ok());
  early->info("hidden");
  GetLogger("mqtt")->debug("hidden");
  early->warn("shown");
  EXPECT_EQ(out_.str(), "<4>storage: shown\n");
}

TEST_F(LoggingTest, LoggersCreatedBeforeInitFollowTheNewSink) {
  auto log = GetLogger("inference");
  ASSERT_TRUE(InitLogging(ToStream(LogFormat::kJournal)).ok());
  log->info("model loaded");
  EXPECT_EQ(out_.str(), "<6>inference: model loaded\n");
  EXPECT_EQ(GetLogger("inference"), log);  // one logger per module
}

TEST_F(LoggingTest, DefaultSpdlogLoggerSharesTheSink) {
  ASSERT_TRUE(InitLogging(ToStream(LogFormat::kJournal)).ok());
  spdlog::warn("from a library");
  EXPECT_EQ(out_.str(), "<4>edge: from a library\n");
}

TEST_F(LoggingTest, BadLevelLeavesLoggingAsItWas) {
  ASSERT_TRUE(InitLogging(ToStream(LogFormat::kJournal)).ok());
  LogOptions bad;
  bad.level = "loud";
  Status s = InitLogging(bad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  GetLogger("agent")->info("still here");
  EXPECT_EQ(out_.str(), "<6>agent: still here\n");
}

// Runs `body` with stderr redirected into a pipe and returns what it wrote.
template <typename Body>
std::string CaptureStderr(Body body) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  std::fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  close(fds[1]);
  body();
  std::fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  char buf[4096];
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  return out;
}

// What systemd sets: "device:inode" of the stream it connected to stderr.
void SetJournalStreamToStderr() {
  struct stat st {};
  ASSERT_EQ(fstat(STDERR_FILENO, &st), 0);
  const std::string value = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  setenv("JOURNAL_STREAM", value.c_str(), 1);
}

TEST_F(LoggingTest, UnderSystemdStderrGetsPriorityPrefixesAndNoTimestamps) {
  const std::string err = CaptureStderr([] {
    SetJournalStreamToStderr();
    EXPECT_TRUE(StderrIsJournal());
    ASSERT_TRUE(InitLogging(LogOptions{}).ok());  // kAuto, to stderr
    GetLogger("agent")->info("started");
    GetLogger("modbus")->error("press-plc: connection refused");
  });
  EXPECT_EQ(err,
            "<6>agent: started\n"
            "<3>modbus: press-plc: connection refused\n");
}

TEST_F(LoggingTest, InheritedJournalStreamThatIsNotStderrIsIgnored) {
  const std::string err = CaptureStderr([] {
    // The inode of another file: stderr was redirected after systemd set the variable.
    struct stat st {};
    ASSERT_EQ(stat("/", &st), 0);
    const std::string value = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
    setenv("JOURNAL_STREAM", value.c_str(), 1);
    EXPECT_FALSE(StderrIsJournal());
    ASSERT_TRUE(InitLogging(LogOptions{}).ok());
    GetLogger("agent")->info("started");
  });
  EXPECT_TRUE(IsConsoleLine(err, "[info] agent: started"));
}

TEST_F(LoggingTest, MalformedJournalStreamIsNotTheJournal) {
  for (const char* value : {"", ":", "12", "12:", ":34", "a:b", "1:2:3", "-1:5"}) {
    setenv("JOURNAL_STREAM", value, 1);
    EXPECT_FALSE(StderrIsJournal()) << value;
  }
  unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(StderrIsJournal());
}

}  // namespace
}  // namespace edge
