// The samples database (<data_dir>/samples.db): schema, migrations, opening with corruption
// recovery, persistent tag ids and retention.
//
// Layout (schema version 3), and why:
//
//   tag(id INTEGER PRIMARY KEY, name TEXT UNIQUE,          persistent name -> id; TagRegistry
//       removed_ord, removed_end_us)                       ids are per process, these are not
//   chunk(id INTEGER PRIMARY KEY, tag_id, start_us, end_us, n, data BLOB, ord)
//   INDEX chunk_by_tag_start ON chunk(tag_id, start_us)    time-range reads
//   INDEX chunk_by_tag_ord ON chunk(tag_id, ord)           ordinal reads (the telemetry uplink)
//   uplink_stream, uplink_cursor, uplink_inflight          the uplink's cursors (uplink_store.h)
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
// than kMaxChunkSpan, and rewrites that row in place (UPDATE of data, end_us, n). The indexes are
// on start_us and ord, which such an UPDATE does not change, so growing a chunk never touches them.
// A range read [from, to] scans the index for start_us in [from - kMaxChunkSpan, to] and keeps
// chunks whose end_us >= from.
//
// Ordinals. Every stored reading of a tag has an ordinal: 0, 1, 2, ... in the order the writer
// stored that tag's readings, never reused. chunk.ord is the ordinal of the chunk's first sample
// (sample i of the blob has ordinal ord + i). Timestamps cannot serve as a cursor: a tag may
// repeat or go back in time, and an open chunk grows in place, so "sent up to time t" is neither
// exact nor durable. An ordinal is both: the uplink stores "next unsent ordinal" per tag and
// reads on from it with an index range scan, however the chunk it points into grew meanwhile.
// Retention deletes each tag's readings oldest ordinal first (age retention never deletes a chunk
// while an older chunk of the same tag survives) and, in the same transaction, raises
// tag.removed_ord (every ordinal below it is gone) and tag.removed_end_us (the newest time it
// deleted), so a reader whose cursor fell behind counts exactly how many readings it missed
// (first ordinal found - cursor) instead of skipping them silently. The writer continues each tag
// at max(max(ord + n), removed_ord), so ordinals are never reused, even after retention deleted
// every chunk of a tag.
//
// Durability and concurrency: WAL mode, synchronous=NORMAL (a power cut may lose the last
// commits but never corrupts; the outbox in its own file uses FULL), auto_vacuum=INCREMENTAL so
// the file can be shrunk after the size cap is lowered. Readers (export, window rebuild) use
// their own read-only connections and never block the writer.
//
// Schema versions (PRAGMA user_version):
//   1  tag + sample(tag_id, ts_us, value, quality): one row per sample (the first storage build;
//      tests/storage/golden/samples_v1.db is such a file, made by make_golden_v1.py)
//   2  the chunk layout above without ordinals. Migration 1 -> 2 packs the rows into chunks in
//      one transaction (tests/storage/golden/samples_v2.db, made by make_golden_v2.py).
//   3  ordinals, retention marks and the uplink tables. Migration 2 -> 3 adds the columns and
//      fills chunk.ord with the running sum of n per tag in rowid order, in one transaction. That
//      rewrites every chunk row once: about 30 s, and the file's size in WAL, per million chunks
//      (64 M readings) on a loaded 2-core test machine.
//      Version 2 readers' queries still work on it, so SampleReader reads both.
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

inline constexpr int kSampleSchemaVersion = 3;
// The oldest version SampleReader reads (its queries use only columns that version has).
inline constexpr int kOldestReadableSchemaVersion = 2;
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

// The SELECT that gives a tag's retention marks and its next ordinal, as committed:
//   ?1 = tag.id  ->  (removed_ord, removed_end_us, end_ord = max(max(ord + n), removed_ord))
// No row if the tag does not exist. The last chunk by ord has the largest ord + n (a tag's
// chunks never overlap), so this is one index probe, not a scan.
inline constexpr std::string_view kTagExtentSql =
    "SELECT t.removed_ord, t.removed_end_us, max(t.removed_ord, coalesce((SELECT c.ord + c.n "
    "FROM chunk c WHERE c.tag_id = t.id ORDER BY c.ord DESC LIMIT 1), 0)) FROM tag t "
    "WHERE t.id = ?1";

// Bytes of the database that hold live data: (page_count - freelist_count) * page_size.
[[nodiscard]] StatusOr<int64_t> LiveBytes(SqliteDb& db);

}  // namespace edge::storage
