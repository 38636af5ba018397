// SampleReader: reads stored samples back from samples.db: a range of one tag, the recent
// history of a set of tags (to rebuild model windows after a restart), and every sample of
// some tags in a time range (edge-agent export).
//
// It opens its own read-only connection. In WAL mode readers never block the writer and see the
// last committed state when a read transaction starts, so export works while the daemon runs
// (it takes no agent lock). Samples come back in time order per tag. It reads schema versions 2
// and 3 (storage/sample_db.h): version 3 only added columns and tables, so a file an older agent
// left behind can be exported without migrating it.
//
// Thread-safety: one SampleReader per thread.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/sample.h"
#include "core/status.h"
#include "storage/sqlite_db.h"

namespace edge::storage {

class SampleReader {
 public:
  // NotFound if the file does not exist (nothing was stored yet).
  [[nodiscard]] static StatusOr<SampleReader> Open(const std::string& db_path);

  // Stored tag names, sorted.
  [[nodiscard]] StatusOr<std::vector<std::string>> TagNames();

  // Samples of `tag` with from <= ts <= to, in time order, appended to `out` with Sample::tag
  // set to `as`. An unknown tag gives no samples (not an error).
  [[nodiscard]] Status ReadRange(std::string_view tag, Timestamp from, Timestamp to, TagId as,
                                 std::vector<Sample>& out);

  // Streams the samples of `tag` with from <= ts <= to to `fn`, a chunk at a time (at most
  // kMaxChunkSamples per call), in chunk order, which is time order unless a source delivered
  // samples out of order. Memory stays bounded however long the range (export).
  [[nodiscard]] Status Scan(std::string_view tag, Timestamp from, Timestamp to, TagId as,
                            const std::function<void(std::span<const Sample>)>& fn);

  // For rebuilding windows: for each of `tags`, the samples in (end - steps * step, end], in time
  // order; out[i] belongs to tags[i] (Sample::tag = i).
  [[nodiscard]] Status ReadLastSteps(std::span<const std::string> tags, int steps,
                                     std::chrono::microseconds step, Timestamp end,
                                     std::vector<std::vector<Sample>>& out);

 private:
  explicit SampleReader(SqliteDb db) : db_(std::move(db)) {}
  [[nodiscard]] StatusOr<std::optional<int64_t>> FindTag(std::string_view tag);

  // One row of the range query; `data` is valid during the callback only.
  struct ChunkRow {
    std::span<const uint8_t> data;
    int64_t start_us;
    int64_t end_us;
    int64_t n;
  };
  // Calls `on_chunk` for each stored chunk of `tag` that overlaps [from_us, to_us], in start
  // order. An error from `on_chunk` (a chunk that does not decode) is DataLoss naming the tag.
  [[nodiscard]] Status ForEachChunk(std::string_view tag, int64_t from_us, int64_t to_us,
                                    const std::function<Status(const ChunkRow&)>& on_chunk);

  SqliteDb db_;
  std::vector<Sample> scratch_;
  Statement find_tag_;
  Statement range_;
};

}  // namespace edge::storage
