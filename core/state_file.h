// State files: small files the agent wrote itself and reads back at start (alarm_state.json, a
// repository model's state.json). Whatever the agent wrote can be damaged: a technician's edit,
// a disk fault, a copy from another version. A damaged state file must never stop the service,
// or it would stop it again at every start (a crash loop under systemd's Restart=). So every
// reader checks the type of every field in `parse` (no nlohmann value(), which throws), and a
// file that fails is moved aside as `<name>.damaged-<UTC time>` for a technician to look at,
// logged, and counted (DamagedStateFiles(), edge_state_files_damaged_total in /metrics); the
// caller then goes on as if the file were absent.
//
// Thread-safety: functions share no state but the atomic count; one reader per path at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>

#include "core/status.h"

namespace edge {

enum class StateFileRead {
  kAbsent,   // no such file
  kRead,     // read, and `parse` accepted it
  kDamaged,  // unreadable, too large, or `parse` refused it: moved aside (if it could be)
};

// Reads `path` (at most `max_bytes`) and hands its text to `parse`, which returns why the text is
// not a valid state file, or OK. A damaged file is renamed to `<path>.damaged-<time>` (left in
// place if even that fails, and said so in the log). Never throws, never fails the caller.
StateFileRead ReadStateFile(const std::filesystem::path& path, size_t max_bytes,
                            const std::function<Status(std::string_view text)>& parse);

// State files found damaged since the process started.
uint64_t DamagedStateFiles();

}  // namespace edge
