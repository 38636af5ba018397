#include "core/logging.h"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <map>
#include <vector>

#include "core/mutex.h"
#include "core/thread_annotations.h"

namespace edge {
namespace {

// Writes the sd-daemon(3) priority prefix for the message's level.
class SdPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
              spdlog::memory_buf_t& dest) override {
    const std::string_view prefix = Prefix(msg.level);
    dest.append(prefix.data(), prefix.data() + prefix.size());
  }

  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<SdPriorityFlag>();
  }

 private:
  static std::string_view Prefix(spdlog::level::level_enum level) {
    switch (level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        return "<7>";  // SD_DEBUG
      case spdlog::level::info:
        return "<6>";  // SD_INFO
      case spdlog::level::warn:
        return "<4>";  // SD_WARNING
      case spdlog::level::err:
        return "<3>";  // SD_ERR
      case spdlog::level::critical:
        return "<2>";  // SD_CRIT
      default:
        return "<6>";
    }
  }
};

constexpr char kJournalPattern[] = "%*%n: %v";
constexpr char kConsolePattern[] = "%Y-%m-%dT%H:%M:%S.%eZ [%l] %n: %v";
constexpr char kDefaultLoggerName[] = "edge";

std::unique_ptr<spdlog::formatter> MakeFormatter(LogFormat format) {
  if (format == LogFormat::kAuto) {
    format = StderrIsJournal() ? LogFormat::kJournal : LogFormat::kConsole;
  }
  if (format == LogFormat::kJournal) {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<SdPriorityFlag>('*').set_pattern(kJournalPattern);
    return f;
  }
  return std::make_unique<spdlog::pattern_formatter>(kConsolePattern,
                                                     spdlog::pattern_time_type::utc);
}

// The process-wide logging state. Every logger writes to `hub`, a dist_sink whose one target
// InitLogging swaps under the dist_sink's own lock, so loggers never see a half-changed sink.
struct LoggingState {
  Mutex mu;
  const std::shared_ptr<spdlog::sinks::dist_sink_mt> hub;  // set once; has its own lock
  spdlog::level::level_enum level GUARDED_BY(mu) = spdlog::level::info;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers GUARDED_BY(mu);

  LoggingState() : hub(std::make_shared<spdlog::sinks::dist_sink_mt>()) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(MakeFormatter(LogFormat::kAuto));
    hub->set_sinks({std::move(sink)});
  }
};

LoggingState& State() {
  // Never destroyed: threads may still log while static destructors run at exit.
  static auto* state = new LoggingState();
  return *state;
}

std::shared_ptr<spdlog::logger> GetLoggerLocked(LoggingState& s, std::string_view module)
    REQUIRES(s.mu) {
  if (auto it = s.loggers.find(module); it != s.loggers.end()) return it->second;
  auto logger = std::make_shared<spdlog::logger>(std::string(module), s.hub);
  logger->set_level(s.level);
  s.loggers.emplace(std::string(module), logger);
  return logger;
}

}  // namespace

StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  using spdlog::level::level_enum;
  static constexpr std::pair<std::string_view, level_enum> kLevels[] = {
      {"trace", level_enum::trace}, {"debug", level_enum::debug},       {"info", level_enum::info},
      {"warn", level_enum::warn},   {"warning", level_enum::warn},      {"error", level_enum::err},
      {"err", level_enum::err},     {"critical", level_enum::critical}, {"off", level_enum::off},
  };
  for (const auto& [text, level] : kLevels) {
    if (name == text) return level;
  }
  return Status::InvalidArgument(fmt::format(
      "unknown log level '{}' (expected trace, debug, info, warn, error, critical or off)", name));
}

Status InitLogging(const LogOptions& options) {
  EDGE_ASSIGN_OR_RETURN(const spdlog::level::level_enum level, ParseLogLevel(options.level));
  spdlog::sink_ptr sink = options.sink;
  if (sink == nullptr) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(MakeFormatter(options.format));

  LoggingState& s = State();
  MutexLock lock(&s.mu);
  s.hub->set_sinks({std::move(sink)});
  s.level = level;
  for (auto& [name, logger] : s.loggers) logger->set_level(level);
  spdlog::set_default_logger(GetLoggerLocked(s, kDefaultLoggerName));
  return Status::Ok();
}

std::shared_ptr<spdlog::logger> GetLogger(std::string_view module) {
  LoggingState& s = State();
  MutexLock lock(&s.mu);
  return GetLoggerLocked(s, module);
}

bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  const std::string_view value(env);
  const size_t colon = value.find(':');
  if (colon == std::string_view::npos) return false;
  unsigned long long dev = 0, ino = 0;
  const auto dev_end = value.data() + colon;
  const auto ino_end = value.data() + value.size();
  const auto [dev_ptr, dev_ec] = std::from_chars(value.data(), dev_end, dev);
  if (dev_ec != std::errc() || dev_ptr != dev_end) return false;
  const auto [ino_ptr, ino_ec] = std::from_chars(dev_end + 1, ino_end, ino);
  if (ino_ec != std::errc() || ino_ptr != ino_end) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace edge
