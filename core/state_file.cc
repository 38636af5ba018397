#include "core/state_file.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <ctime>

#include "core/file_util.h"
#include "core/logging.h"

namespace edge {
namespace {

namespace fs = std::filesystem;

std::atomic<uint64_t> damaged_files{0};

// <path>.damaged-20261207T170356.123Z: sortable, and with no ':' for tools that mind it.
fs::path AsidePath(const fs::path& path) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &utc);
  const std::string base =
      fmt::format("{}.damaged-{}.{:03}Z", path.string(), stamp, millis.count());
  // Never over an earlier one: each damaged copy is kept for a technician.
  fs::path aside = base;
  std::error_code ec;
  for (int n = 2; fs::exists(aside, ec) && n < 1000; ++n) aside = fmt::format("{}-{}", base, n);
  return aside;
}

void MoveAside(const fs::path& path, std::string_view why) {
  damaged_files.fetch_add(1, std::memory_order_relaxed);
  const fs::path aside = AsidePath(path);
  std::error_code ec;
  fs::rename(path, aside, ec);
  if (ec) {
    GetLogger("state")->error(
        "{}: damaged ({}), and it cannot be moved aside ({}); going on "
        "without it",
        path.string(), why, ec.message());
    return;
  }
  GetLogger("state")->error("{}: damaged ({}); moved aside to {}; going on without it",
                            path.string(), why, aside.filename().string());
}

}  // namespace

StateFileRead ReadStateFile(const fs::path& path, size_t max_bytes,
                            const std::function<Status(std::string_view text)>& parse) {
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(path, ec);
  if (ec || status.type() == fs::file_type::not_found) return StateFileRead::kAbsent;
  StatusOr<std::string> text = ReadFileToString(path, max_bytes);
  if (!text.ok()) {
    MoveAside(path, text.status().message());
    return StateFileRead::kDamaged;
  }
  if (Status s = parse(*text); !s.ok()) {
    MoveAside(path, s.message());
    return StateFileRead::kDamaged;
  }
  return StateFileRead::kRead;
}

uint64_t DamagedStateFiles() { return damaged_files.load(std::memory_order_relaxed); }

}  // namespace edge
