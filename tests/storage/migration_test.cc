// Databases made by older schema versions open in this build: version 1
// (tests/storage/golden/samples_v1.db, one row per sample) is packed into chunks and given
// ordinals, version 2 (samples_v2.db, chunks without ordinals) is given ordinals as the running
// sum of n per tag in rowid order; every sample reads back unchanged, by time and by ordinal.
// Both golden files are written by the make_golden_v*.py scripts beside them.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <vector>

#include "storage/storage.h"
#include "tests/support/storage_test_util.h"
#include "tests/support/test_files.h"

namespace edge::storage {
namespace {

namespace fs = std::filesystem;
using edge::testing::ScratchDir;
using testing::AtGolden;

fs::path Golden(const char* name) {
  return fs::path(EDGE_SOURCE_DIR) / "tests/storage/golden" / name;
}

// Opens the golden file `name` copied into `dir` as the agent does.
std::unique_ptr<Storage> OpenCopy(const ScratchDir& dir, const char* name) {
  fs::copy_file(Golden(name), dir.path() / "samples.db");
  config::StorageConfig config;
  config.retention = std::chrono::hours(24 * 365 * 100);  // the golden data is from 2026-01-01
  auto storage = Storage::Open(dir.path().string(), config);
  EXPECT_TRUE(storage.ok()) << storage.status().ToString();
  return storage.ok() ? std::move(*storage) : nullptr;
}

// Everything stored of tag `tag_id`, by ordinal from 0 (first_ord tells what retention took).
std::vector<Sample> ReadByOrdinal(UplinkStore& store, int64_t tag_id, OrdinalRead* read) {
  std::vector<Sample> out;
  EXPECT_TRUE(store.ReadFrom(tag_id, 0, 1 << 20, 0, out, read).ok());
  return out;
}

// Stores one sample of `tag` through a writer on the migrated file.
void StoreOne(Storage& storage, const char* tag, Timestamp ts, double value) {
  TagRegistry tags;
  const TagId id = tags.Intern(tag);
  BoundedQueue<Sample> queue(16);
  auto writer = storage.CreateWriter(tags, queue);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Start().ok());
  ASSERT_TRUE(queue.TryPush({id, ts, value, Quality::kGood}));
  (*writer)->Stop();
}

TEST(Migration, OpensAVersion1DatabaseAndKeepsEverySample) {
  ScratchDir dir;
  std::unique_ptr<Storage> storage = OpenCopy(dir, "samples_v1.db");
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->samples_report().migrated_from, 1);
  EXPECT_FALSE(storage->samples_report().moved_aside);

  const std::string path = storage->samples_path();
  {
    SqliteDb db = std::move(SqliteDb::Open(path, {})).value();
    EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), kSampleSchemaVersion);
    EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM sqlite_schema WHERE name = 'sample'"), 0);
    EXPECT_EQ(*db.QueryInt("PRAGMA auto_vacuum"), 2);  // INCREMENTAL
  }
  auto reader = storage->OpenReader();
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto store = storage->OpenUplinkStore();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const char* names[] = {"pump1.pressure", "pump1.flow", "press.temp"};
  for (int k = 0; k < 3; ++k) {
    std::vector<Sample> got;
    ASSERT_TRUE(reader->ReadRange(names[k], AtGolden(0), AtGolden(3600000000LL), 0, got).ok());
    ASSERT_EQ(got.size(), 300u) << names[k];
    for (int i = 0; i < 300; ++i) {
      EXPECT_EQ(got[i].ts, AtGolden(i * 100000LL + k * 1000));
      EXPECT_EQ(got[i].value, i * 0.5 + k);
      EXPECT_EQ(got[i].quality, i % 10 == 9 ? Quality::kBad : Quality::kGood);
    }
    // Through version 2 to 3: ordinal i is the i-th sample in time order.
    OrdinalRead read;
    const std::vector<Sample> by_ord = ReadByOrdinal(**store, k + 1, &read);
    EXPECT_EQ(read.first_ord, 0);
    EXPECT_EQ(read.end_ord, 300);
    ASSERT_EQ(by_ord.size(), 300u);
    for (int i = 0; i < 300; ++i) EXPECT_EQ(by_ord[i].ts, got[i].ts);
  }
  // The migrated database takes new samples for the same tags (persistent ids kept).
  StoreOne(*storage, "pump1.flow", AtGolden(40000000), 99.0);
  std::vector<Sample> got;
  ASSERT_TRUE(reader->ReadRange("pump1.flow", AtGolden(0), AtGolden(3600000000LL), 0, got).ok());
  EXPECT_EQ(got.size(), 301u);
  EXPECT_EQ(got.back().value, 99.0);
  OrdinalRead read;
  ASSERT_EQ(ReadByOrdinal(**store, 2, &read).size(), 301u);
  EXPECT_EQ(read.end_ord, 301);
}

TEST(Migration, Version2ChunksGetTheRunningSumOfNPerTagAsOrdinals) {
  ScratchDir dir;
  // What the golden file holds, read before the agent touches it: (rowid, tag, n).
  struct Row {
    int64_t id, tag, n;
  };
  std::vector<Row> rows;
  {
    SqliteOpenOptions options;
    options.read_only = true;
    SqliteDb db = std::move(SqliteDb::Open(Golden("samples_v2.db").string(), options)).value();
    Statement q = std::move(db.Prepare("SELECT id, tag_id, n FROM chunk ORDER BY id")).value();
    while (*q.Step()) rows.push_back({q.ColumnInt(0), q.ColumnInt(1), q.ColumnInt(2)});
  }
  ASSERT_GT(rows.size(), 20u);

  std::unique_ptr<Storage> storage = OpenCopy(dir, "samples_v2.db");
  ASSERT_NE(storage, nullptr);
  EXPECT_EQ(storage->samples_report().migrated_from, 2);
  const std::string path = storage->samples_path();
  std::map<int64_t, int64_t> running;  // tag -> sum of n so far
  {
    SqliteDb db = std::move(SqliteDb::Open(path, {})).value();
    EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), 3);
    EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM sqlite_schema WHERE name IN ('chunk_by_tag_ord', "
                           "'uplink_stream', 'uplink_cursor', 'uplink_inflight')"),
              4);
    EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM tag WHERE removed_ord != 0 OR removed_end_us "
                           "!= 0"),
              0);
    Statement q = std::move(db.Prepare("SELECT id, tag_id, ord FROM chunk ORDER BY id")).value();
    size_t i = 0;
    for (; *q.Step(); ++i) {
      ASSERT_LT(i, rows.size());
      EXPECT_EQ(q.ColumnInt(0), rows[i].id);
      EXPECT_EQ(q.ColumnInt(2), running[rows[i].tag]) << "chunk " << rows[i].id;
      running[rows[i].tag] += rows[i].n;
    }
    EXPECT_EQ(i, rows.size());
  }
  // By ordinal, each tag's samples come back in order; pump1.pressure's first chunk (idx 0..4)
  // was deleted before the migration, so its ordinal 0 is idx 5 (make_golden_v2.py).
  auto store = storage->OpenUplinkStore();
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (int k = 0; k < 3; ++k) {
    const int first_idx = k == 0 ? 5 : 0;
    OrdinalRead read;
    const std::vector<Sample> got = ReadByOrdinal(**store, k + 1, &read);
    EXPECT_EQ(read.first_ord, 0);
    ASSERT_EQ(static_cast<int64_t>(got.size()), read.end_ord);
    ASSERT_GT(got.size(), 200u);
    for (size_t i = 0; i < got.size(); ++i) {
      const int64_t idx = first_idx + static_cast<int64_t>(i);
      ASSERT_EQ(got[i].ts, AtGolden(idx * 100000 + k * 1000)) << "tag " << k << " ord " << i;
      ASSERT_EQ(got[i].value, idx * 0.25 + k);
      ASSERT_EQ(got[i].quality, idx % 7 == 6 ? Quality::kBad : Quality::kGood);
    }
  }
  StatusOr<TagExtent> idle = (*store)->Extent(4);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->end_ord, 0);
  // The writer continues each tag after its last migrated ordinal.
  const int64_t flow_end = running[2];
  StoreOne(*storage, "pump1.flow", AtGolden(3600000000LL), 99.0);
  std::vector<Sample> last;
  OrdinalRead read;
  ASSERT_TRUE((*store)->ReadFrom(2, flow_end, 10, 0, last, &read).ok());
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(read.first_ord, flow_end);
  EXPECT_EQ(last[0].value, 99.0);
}

TEST(Migration, ReaderReadsAVersion2FileWithoutMigratingIt) {
  ScratchDir dir;
  fs::copy_file(Golden("samples_v2.db"), dir.path() / "samples.db");
  auto reader = SampleReader::Open((dir.path() / "samples.db").string());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Sample> got;
  ASSERT_TRUE(reader->ReadRange("pump1.flow", AtGolden(0), AtGolden(3600000000LL), 0, got).ok());
  EXPECT_GT(got.size(), 200u);
  // The uplink, which needs ordinals, refuses it until the agent migrated it.
  auto store = UplinkStore::Open((dir.path() / "samples.db").string());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
}

TEST(Migration, RefusesADatabaseFromANewerAgent) {
  ScratchDir dir;
  {
    SqliteDb db = std::move(SqliteDb::Open((dir.path() / "samples.db").string(), {})).value();
    ASSERT_TRUE(db.Exec("CREATE TABLE future(x); PRAGMA user_version = 99").ok());
  }
  auto storage = Storage::Open(dir.path().string(), {});
  ASSERT_FALSE(storage.ok());
  EXPECT_EQ(storage.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(storage.status().message().find("99"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.path() / "samples.db"));  // left alone, not moved aside
}

}  // namespace
}  // namespace edge::storage
