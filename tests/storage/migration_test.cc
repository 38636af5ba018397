// A database made by schema version 1 (tests/storage/golden/samples_v1.db, written by
// make_golden_v1.py in the same folder) opens in this build: the rows are migrated to chunks
// and every sample reads back unchanged.
#include <gtest/gtest.h>

#include <filesystem>

#include "storage/storage.h"
#include "tests/support/storage_test_util.h"
#include "tests/support/test_files.h"

namespace edge::storage {
namespace {

namespace fs = std::filesystem;
using edge::testing::ScratchDir;
using testing::AtGolden;

TEST(Migration, OpensAVersion1DatabaseAndKeepsEverySample) {
  ScratchDir dir;
  fs::copy_file(fs::path(EDGE_SOURCE_DIR) / "tests/storage/golden/samples_v1.db",
                dir.path() / "samples.db");
  config::StorageConfig config;
  config.retention = std::chrono::hours(24 * 365 * 100);  // the golden data is from 2026-01-01
  auto storage = Storage::Open(dir.path().string(), config);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  EXPECT_EQ((*storage)->samples_report().migrated_from, 1);
  EXPECT_FALSE((*storage)->samples_report().moved_aside);

  const std::string path = (*storage)->samples_path();
  {
    SqliteDb db = std::move(SqliteDb::Open(path, {})).value();
    EXPECT_EQ(*db.QueryInt("PRAGMA user_version"), kSampleSchemaVersion);
    EXPECT_EQ(*db.QueryInt("SELECT count(*) FROM sqlite_schema WHERE name = 'sample'"), 0);
    EXPECT_EQ(*db.QueryInt("PRAGMA auto_vacuum"), 2);  // INCREMENTAL
  }
  auto reader = (*storage)->OpenReader();
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
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
  }
  // The migrated database takes new samples for the same tags (persistent ids kept).
  TagRegistry tags;
  const TagId flow = tags.Intern("pump1.flow");
  BoundedQueue<Sample> queue(16);
  auto writer = (*storage)->CreateWriter(tags, queue);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Start().ok());
  ASSERT_TRUE(queue.TryPush({flow, AtGolden(40000000), 99.0, Quality::kGood}));
  (*writer)->Stop();
  std::vector<Sample> got;
  ASSERT_TRUE(reader->ReadRange("pump1.flow", AtGolden(0), AtGolden(3600000000LL), 0, got).ok());
  EXPECT_EQ(got.size(), 301u);
  EXPECT_EQ(got.back().value, 99.0);
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
