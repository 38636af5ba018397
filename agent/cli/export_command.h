// `edge-agent export [--config PATH] [--tags A,B] [--from TIME] [--to TIME]` (DESIGN §4): the
// stored samples as CSV on standard output, so history can be shipped to the cloud side.
//
//   ts,tag,value,quality
//   2026-11-23T10:00:00.100Z,pump1.pressure,3.25,good
//
// ts is RFC 3339 UTC with milliseconds; value is the shortest text that reads back as the same
// double ("nan", "inf" for non-finite values); quality is good or bad. Rows come tag by tag (in
// the order of --tags, or by name), each tag in time order. TIME is RFC 3339
// ("2026-11-23T10:00:00Z") or relative to now ("-10m", "-2h", "-7d"); without --from everything
// from the oldest sample, without --to everything up to now.
//
// The database is gateway.data_dir/samples.db from --config, opened read-only: export takes no
// agent lock and runs while the daemon is writing (WAL readers see the last commit).
//
// Thread-safety: runs on the calling thread.
#pragma once

#include <string>

#include "core/sample.h"
#include "core/status.h"

namespace edge::agent {

struct ExportOptions {
  std::string config_path;
  std::string tags;  // comma separated; empty: all
  std::string from;  // empty: the oldest
  std::string to;    // empty: now
};

// Exit code: 0 success; 2 bad usage or input (config, --tags, --from, --to; message on stderr);
// 1 runtime failure (no database, unreadable database, stdout closed).
int RunExport(const ExportOptions& options);

// RFC 3339, or "-<duration>" relative to `now`. InvalidArgument naming the text otherwise.
[[nodiscard]] StatusOr<Timestamp> ParseExportTime(const std::string& text, Timestamp now);

}  // namespace edge::agent
