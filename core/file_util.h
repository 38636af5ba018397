// Whole-file reads and durable writes, for the files an agent must never see half-written:
// installed models, latest.json in a repository tree, persisted versions.
//
// WriteFileDurably writes a temporary file in the destination's directory, fsyncs it, renames it
// over the destination and fsyncs the directory. rename() within one file system is atomic, so a
// reader (or a restart after a power cut) sees the old content or the new, never a mix; the first
// fsync makes sure the renamed name never points at data still only in the page cache, and the
// directory fsync makes the rename itself durable (mosquitto's persist_write.c does the same).
//
// Thread-safety: functions share no state; concurrent writers of one path need their own lock.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edge {

// InvalidArgument naming the file if it cannot be opened or read (a user-supplied input), or if
// it is larger than `max_bytes`.
[[nodiscard]] StatusOr<std::string> ReadFileToString(const std::filesystem::path& path,
                                                     size_t max_bytes = size_t{1} << 30);

[[nodiscard]] Status WriteFileDurably(const std::filesystem::path& path, std::string_view bytes,
                                      int mode = 0644);

[[nodiscard]] Status FsyncDirectory(const std::filesystem::path& dir);

}  // namespace edge
