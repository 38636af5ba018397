// The samples database (<data_dir>/samples.db): schema, migrations, opening with corruption
// recovery, persistent tag ids and retention.
//
// Layout (schema version 2), and why:
//
//   tag(id INTEGER PRIMARY KEY, name TEXT UNIQUE)          persistent name -> id; TagRegistry
//                                                           ids are per process, these are not
//   chunk(id INTEGER PRIMARY KEY, tag_id, start_us, end_us, n, data BLOB)
//   INDEX chunk_by_tag_start ON chunk(tag_id, start_us)
//
// Each chunk row holds up to kMaxChunkSamples samples of ONE tag, packed by storage/chunk_codec.h
// (about 11 bytes per sample). Rows are appended in commit order, so the table's B-tree only
// grows at its right edge, retention deletes a contiguous range of the oldest rowids, and the
// index gets one entry per chunk instead of one per sample. We measured the alternatives
// (bench/storage_bench.cc prints all of them from the same run; figures in bench/RESULTS.md):
//  - one row per sample in an append-only rowid table: fast appends (the "raw floor"), but a
//    "last N seconds of tag T" read scans everything (or needs a (tag, ts) index, which turns
//    every insert into a random B-tree update across 1,000 tags);
//  - one row per sample in a (tag, ts) WITHOUT ROWID table: fast reads, but 1,000 interleaved
//    tags make every insert a random leaf update (about 0.1 M rows/s);
//  - per-tag chunks (this layout): one index entry per chunk, one row per tag per commit;
//    reads of one tag touch a few rows per ~100 samples.
// Slow tags (a few samples per commit) would otherwise make a row per 2 samples. The writer keeps
// each tag's newest chunk "open" while it holds fewer than kOpenChunkSamples samples and spans less
// than kMaxChunkSpan, and rewrites that row in place (UPDATE of data, end_us, n). The index is on
// start_us, which such an UPDATE does not change, so growing a chunk never touches the index.
// A range read [from, to] scans the index for start_us in [from - kMaxChunkSpan, to] and keeps
// chunks whose end_us >= from.
//
// Durability and concurrency: WAL mode, synchronous=NORMAL (a power cut may lose the last
// commits but never corrupts; the outbox in its own file uses FULL), auto_vacuum=INCREMENTAL so
// the file can be shrunk after the size cap is lowered. Readers (export, window rebuild) use
// their own read-only connections and never block the writer.
//
// Schema versions (PRAGMA user_version):
//   1  tag + sample(tag_id, ts_us, value, quality): one row per sample (the first storage build;
//      tests/storage/golden/samples_v1.db is such a file, made by make_golden_v1.py)
//   2  the chunk layout above. Migration 1 -> 2 packs the rows into chunks in one transaction.
//
// Thread-safety: functions that take a SqliteDb use it from the calling thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "storage/sqlite_db.h"

namespace edge::storage {

inline constexpr int kSampleSchemaVersion = 2;
inline constexpr int kMaxChunkSamples = 256;
inline constexpr int kOpenChunkSamples = 64;
inline constexpr std::chrono::microseconds kMaxChunkSpan = std::chrono::minutes(10);

inline constexpr std::string_view kSamplesFile = "samples.db";
inline constexpr std::string_view kOutboxFile = "outbox.db";

// What OpenWithRecovery found.
struct OpenReport {
  bool created = false;      // the file did not exist
  bool moved_aside = false;  // it was corrupt and was renamed
  std::string moved_to;      // where the corrupt file went
  std::string corruption;    // what was wrong
  int migrated_from = 0;     // user_version before migrations (0: none ran)
};

// Opens `path` read-write (creating it), checks it with PRAGMA quick_check and, if it is not a
// database or is corrupt, renames it (and its -wal/-shm) to "<path>.corrupt-<UTC time>", logs
// one error line naming both paths, and creates a fresh one. Then applies `prepare` (schema and
// migrations). Errors other than corruption (permissions, disk) are returned.
using PrepareFn = Status (*)(SqliteDb& db, int* migrated_from);
[[nodiscard]] StatusOr<SqliteDb> OpenWithRecovery(const std::string& path, PrepareFn prepare,
                                                  OpenReport* report);

// Sets the pragmas of a writing samples connection and creates / migrates the schema.
[[nodiscard]] Status PrepareSampleDb(SqliteDb& db, int* migrated_from);

// The persistent id of tag `name`, inserting it if new.
[[nodiscard]] StatusOr<int64_t> InternTag(SqliteDb& db, std::string_view name);

// Bytes of the database that hold live data: (page_count - freelist_count) * page_size.
[[nodiscard]] StatusOr<int64_t> LiveBytes(SqliteDb& db);

}  // namespace edge::storage
