// Logging: one spdlog setup for the whole process, with one logger per module ("modbus",
// "config", "storage", ...) that all write through one shared sink.
//
// Two line formats:
//  - journal: when stderr is connected to the systemd journal (we run as a service), each line
//    is "<P>module: message" with no timestamp (journald stamps it) and P the sd-daemon(3)
//    priority prefix (SD_CRIT "<2>", SD_ERR "<3>", SD_WARNING "<4>", SD_INFO "<6>",
//    SD_DEBUG "<7>"), so `journalctl -p warning` filters by our levels.
//  - console: "2026-11-23T10:00:00.123Z [warning] module: message" (UTC), for a terminal.
// Detection follows systemd.exec(5): JOURNAL_STREAM holds "device:inode" of the journal stream;
// it counts only if it matches stderr (a child whose stderr was redirected inherits the
// variable but is not writing to the journal).
//
// Runtime faults that can repeat quickly (PLC timeouts) go through RateLimitedLog
// (core/rate_limited_log.h) so they cannot flood the journal.
//
// Thread-safety: GetLogger and the loggers it returns are safe from any thread. InitLogging may
// be called again at any time (e.g. on reload); existing loggers switch to the new sink, format
// and level.
#pragma once

#include <spdlog/common.h>
#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edge {

enum class LogFormat {
  kAuto,  // kJournal if stderr is the systemd journal (JOURNAL_STREAM matches), else kConsole
  kJournal,
  kConsole,
};

struct LogOptions {
  std::string level = "info";  // trace debug info warn error critical off
  LogFormat format = LogFormat::kAuto;
  // Where lines go; null means stderr. Tests pass e.g. an spdlog ostream_sink to read the lines.
  spdlog::sink_ptr sink;
};

// InvalidArgument naming the level for an unknown level; the set above, plus "warning" and
// "err" as spdlog spells them.
[[nodiscard]] StatusOr<spdlog::level::level_enum> ParseLogLevel(std::string_view name);

// Applies `options` to every logger, present and future. Until the first call, loggers write to
// stderr at level info in the kAuto format. Also makes spdlog's default logger (spdlog::info())
// write through the same sink as module "edge".
[[nodiscard]] Status InitLogging(const LogOptions& options);

// The logger for `module`, created on first use. Cache it (a member or a function-local static):
// each call takes a lock.
std::shared_ptr<spdlog::logger> GetLogger(std::string_view module);

// True if stderr is the systemd journal stream named by $JOURNAL_STREAM.
bool StderrIsJournal();

}  // namespace edge
