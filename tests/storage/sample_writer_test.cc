// The writer, reader and retention against a real SQLite file in a scratch directory.
#include "storage/sample_writer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "storage/storage.h"
#include "tests/storage/writer_fixture.h"
#include "tests/support/storage_test_util.h"
#include "tests/support/test_files.h"

namespace edge::storage {
namespace {

namespace fs = std::filesystem;
using edge::testing::ReadFile;
using edge::testing::ScratchDir;
using testing::At;
using testing::Fixture;
using testing::IntegrityCheck;
using testing::PushAll;
using testing::QueryInt;

TEST(SampleWriter, CommitsEverySampleAndReadsRangesBackInOrder) {
  Fixture f;
  const TagId a = f.tags.Intern("pump1.pressure");
  const TagId b = f.tags.Intern("pump1.flow");
  auto writer = f.StartWriter();
  std::vector<Sample> batch;
  for (int i = 0; i < 1000; ++i) {
    batch.push_back({a, At(i * 100000), i * 1.0, i % 7 == 0 ? Quality::kBad : Quality::kGood});
    batch.push_back({b, At(i * 100000 + 5), -i * 1.0, Quality::kGood});
    if (i % 50 == 49) {  // several commits, some growing open chunks
      PushAll(f.queue, batch);
      batch.clear();
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  }
  writer->Stop();
  EXPECT_EQ(writer->stats().samples_committed, 2000u);
  EXPECT_GT(writer->stats().commits, 1u);

  std::vector<Sample> got = f.Read("pump1.pressure", At(0), At(1000LL * 100000));
  ASSERT_EQ(got.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(got[i].ts, At(i * 100000));
    EXPECT_EQ(got[i].value, i * 1.0);
    EXPECT_EQ(got[i].quality, i % 7 == 0 ? Quality::kBad : Quality::kGood);
  }
  // Inclusive bounds, a window in the middle of chunks.
  got = f.Read("pump1.flow", At(250 * 100000 + 5), At(260 * 100000 + 5));
  ASSERT_EQ(got.size(), 11u);
  EXPECT_EQ(got.front().value, -250.0);
  EXPECT_EQ(got.back().value, -260.0);
  EXPECT_TRUE(f.Read("no.such.tag", At(0), At(1000000000)).empty());
  EXPECT_EQ(IntegrityCheck(f.storage->samples_path()), "ok");
}

TEST(SampleWriter, SmallCommitsGrowOneChunkPerTagInPlace) {
  Fixture f;
  const TagId a = f.tags.Intern("slow.tag");
  auto writer = f.StartWriter();
  for (int c = 0; c < 20; ++c) {
    const uint64_t before = writer->stats().commits;
    PushAll(f.queue, {{a, At(c * 200000), 1.0 * c, Quality::kGood},
                      {a, At(c * 200000 + 100000), 1.0 * c, Quality::kGood}});
    while (writer->stats().commits == before)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  writer->Stop();
  EXPECT_EQ(writer->stats().commits, 20u);
  // 40 samples < kOpenChunkSamples: all in one row, rewritten by each commit.
  EXPECT_EQ(QueryInt(f.storage->samples_path(), "SELECT count(*) FROM chunk"), 1);
  EXPECT_EQ(QueryInt(f.storage->samples_path(), "SELECT n FROM chunk"), 40);
  EXPECT_EQ(f.Read("slow.tag", At(0), At(10000000)).size(), 40u);
}

TEST(SampleWriter, TagIdsPersistAcrossRestartsWithADifferentRegistryOrder) {
  ScratchDir dir;
  BoundedQueue<Sample> queue(1024);
  for (int run = 0; run < 2; ++run) {
    auto storage = Storage::Open(dir.path().string(), {});
    ASSERT_TRUE(storage.ok());
    TagRegistry tags;
    if (run == 1) tags.Intern("c");
    const TagId b = tags.Intern("b");
    const TagId a = tags.Intern("a");
    auto writer = (*storage)->CreateWriter(tags, queue, Fixture::Fast());
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Start().ok());
    PushAll(queue, {{a, At(run * 1000), 10.0 + run, Quality::kGood},
                    {b, At(run * 1000), 20.0 + run, Quality::kGood}});
    (*writer)->Stop();
  }
  auto reader = SampleReader::Open((dir.path() / "samples.db").string());
  ASSERT_TRUE(reader.ok());
  std::vector<Sample> a, b;
  ASSERT_TRUE(reader->ReadRange("a", At(0), At(5000), 0, a).ok());
  ASSERT_TRUE(reader->ReadRange("b", At(0), At(5000), 0, b).ok());
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(a[0].value, 10.0);
  EXPECT_EQ(a[1].value, 11.0);
  EXPECT_EQ(b[1].value, 21.0);
  auto names = reader->TagNames();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(SampleWriter, TagsInternedAfterStartAreStoredUnderTheirNames) {
  Fixture f;
  f.tags.Intern("static");
  auto writer = f.storage->CreateWriter(f.tags, f.queue, Fixture::Fast(), SystemClockInstance());
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Start().ok());
  // As MQTT topic templates add names at run time, on another thread than the writer's.
  const TagId late = f.tags.Intern("line3/pump7/vib");
  PushAll(f.queue, {{late, At(5), 7.0, Quality::kGood}, {0, At(6), 1.0, Quality::kGood}});
  (*writer)->Stop();
  EXPECT_EQ((*writer)->stats().samples_committed, 2u);
  const std::vector<Sample> got = f.Read("line3/pump7/vib", At(0), At(10));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, 7.0);
}

TEST(SampleReader, ReadLastStepsGivesTheWindowHistoryOfEachTag) {
  Fixture f;
  const TagId x = f.tags.Intern("x");
  const TagId y = f.tags.Intern("y");
  auto writer = f.StartWriter();
  std::vector<Sample> batch;
  for (int i = 0; i < 600; ++i) {  // 60 s of 10 Hz
    batch.push_back({x, At(i * 100000), 1.0 * i, Quality::kGood});
    if (i % 2 == 0) batch.push_back({y, At(i * 100000), 2.0 * i, Quality::kGood});
  }
  PushAll(f.queue, batch);
  writer->Stop();
  auto reader = f.storage->OpenReader();
  ASSERT_TRUE(reader.ok());
  std::vector<std::vector<Sample>> out;
  const std::vector<std::string> names = {"y", "x", "missing"};
  ASSERT_TRUE(reader->ReadLastSteps(names, 16, std::chrono::seconds(1), At(59900000), out).ok());
  ASSERT_EQ(out.size(), 3u);
  // (43.9 s, 59.9 s]: x has 160 samples, y (5 Hz) 80.
  ASSERT_EQ(out[1].size(), 160u);
  EXPECT_EQ(out[1].front().ts, At(44000000));
  EXPECT_EQ(out[1].back().ts, At(59900000));
  EXPECT_EQ(out[1].front().tag, 1u);
  ASSERT_EQ(out[0].size(), 80u);
  EXPECT_EQ(out[0].back().value, 2.0 * 598);
  EXPECT_TRUE(out[2].empty());
}

TEST(SampleWriter, StopDrainsWhatIsQueued) {
  Fixture f;
  const TagId a = f.tags.Intern("a");
  WriterOptions slow;
  slow.commit_interval = std::chrono::seconds(30);  // only Stop() makes it commit
  f.options = slow;
  auto writer = f.StartWriter();
  std::vector<Sample> batch;
  for (int i = 0; i < 5000; ++i) batch.push_back({a, At(i), 1.0, Quality::kGood});
  PushAll(f.queue, batch);
  writer->Stop();
  EXPECT_EQ(writer->stats().samples_committed, 5000u);
  EXPECT_EQ(f.Read("a", At(0), At(5000)).size(), 5000u);
}

TEST(Retention, AgeRetentionDeletesOldChunksWhileIngestGoesOn) {
  config::StorageConfig config;
  config.retention = std::chrono::hours(1);
  WriterOptions options = Fixture::Fast();
  options.retention_interval = std::chrono::milliseconds(20);
  options.retention_step = 50;
  Fixture f(config, options);
  const TagId a = f.tags.Intern("a");
  const TagId b = f.tags.Intern("b");
  auto writer = f.StartWriter();
  const Timestamp now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  // Three hours of history at 1 Hz per tag, oldest first, then live samples for a while.
  std::vector<Sample> batch;
  for (int s = 3 * 3600; s > 0; --s) {
    batch.push_back({a, now - std::chrono::seconds(s), 1.0, Quality::kGood});
    batch.push_back({b, now - std::chrono::seconds(s), 2.0, Quality::kGood});
  }
  PushAll(f.queue, batch);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
  int i = 0;
  while (std::chrono::steady_clock::now() < until) {
    PushAll(f.queue, {{a, now + std::chrono::milliseconds(i + 1), 3.0, Quality::kGood}});
    ++i;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  writer->Stop();
  const WriterStats stats = writer->stats();
  EXPECT_GT(stats.chunks_deleted_age, 0u);
  std::vector<Sample> old_a =
      f.Read("a", now - std::chrono::hours(4), now - std::chrono::minutes(61));
  std::vector<Sample> old_b =
      f.Read("b", now - std::chrono::hours(4), now - std::chrono::minutes(61));
  // Chunks span at most 10 minutes: nothing older than retention + one chunk span survives.
  for (const Sample& s : old_a) EXPECT_GE(s.ts, now - std::chrono::minutes(71));
  EXPECT_LE(old_a.size(), 600u);
  EXPECT_LE(old_b.size(), 600u);
  // The last hour and the live samples are all there.
  EXPECT_EQ(f.Read("b", now - std::chrono::minutes(59), now).size(), 59u * 60u);
  EXPECT_EQ(f.Read("a", now, now + std::chrono::hours(1)).size(), static_cast<size_t>(i));
  EXPECT_EQ(stats.samples_deleted_age + f.Read("a", now - std::chrono::hours(4), now).size() +
                f.Read("b", now - std::chrono::hours(4), now).size(),
            2u * 3 * 3600);
}

TEST(Retention, SizeCapHoldsUnderSustainedIngest) {
  config::StorageConfig config;
  config.max_size_bytes = 4 << 20;
  Fixture f(config);
  for (int k = 0; k < 100; ++k) f.tags.Intern("tag" + std::to_string(k));
  auto writer = f.StartWriter();
  std::atomic<bool> done{false};
  std::atomic<int64_t> last_us{0};
  std::thread producer([&] {
    std::vector<Sample> round(100);
    for (int64_t r = 0; r < 20000; ++r) {  // 2 M samples, ~22 MB encoded: 5x the cap
      for (int k = 0; k < 100; ++k)
        round[k] = {static_cast<TagId>(k), At(r * 1000), 1.0 * r, Quality::kGood};
      PushAll(f.queue, round);
      last_us = r * 1000;
    }
    done = true;
  });
  const fs::path db = f.storage->samples_path();
  uintmax_t largest = 0, largest_main = 0, largest_wal = 0;
  while (!done) {
    std::error_code ec;
    uintmax_t total = fs::file_size(db, ec);
    largest_main = std::max(largest_main, total);
    const uintmax_t wal = fs::file_size(db.string() + "-wal", ec);
    if (!ec) total += wal;
    if (!ec) largest_wal = std::max(largest_wal, wal);
    largest = std::max(largest, total);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  producer.join();
  writer->Stop();
  const WriterStats stats = writer->stats();
  std::printf("size cap %llu: largest samples.db %llu + WAL %llu, largest sum %llu\n",
              static_cast<unsigned long long>(config.max_size_bytes),
              static_cast<unsigned long long>(largest_main),
              static_cast<unsigned long long>(largest_wal),
              static_cast<unsigned long long>(largest));
  EXPECT_EQ(stats.samples_committed, 2000000u);
  EXPECT_GT(stats.chunks_deleted_size, 0u);
  EXPECT_LE(largest, config.max_size_bytes)
      << "samples.db + WAL exceeded storage.max_size: largest main file " << largest_main
      << ", largest WAL " << largest_wal;
  std::error_code ec;
  EXPECT_LE(fs::file_size(db) + fs::file_size(db.string() + "-wal", ec), config.max_size_bytes);
  // Oldest first: the newest samples are all there, the oldest are gone.
  EXPECT_EQ(f.Read("tag42", At(19000 * 1000), At(20000 * 1000)).size(), 1000u);
  EXPECT_TRUE(f.Read("tag42", At(0), At(1000 * 1000)).empty());
  EXPECT_EQ(IntegrityCheck(db.string()), "ok");
}

TEST(Recovery, GarbageFileIsMovedAsideAndAFreshDatabaseCreated) {
  ScratchDir dir;
  const std::string garbage(8192, 'x');
  dir.Write("samples.db", garbage);
  auto storage = Storage::Open(dir.path().string(), {});
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  const OpenReport& report = (*storage)->samples_report();
  EXPECT_TRUE(report.moved_aside);
  EXPECT_NE(report.moved_to.find("samples.db.corrupt-"), std::string::npos);
  EXPECT_EQ(ReadFile(report.moved_to), garbage);
  EXPECT_EQ(IntegrityCheck((dir.path() / "samples.db").string()), "ok");
  // And it works.
  TagRegistry tags;
  tags.Intern("a");
  BoundedQueue<Sample> queue(16);
  auto writer = (*storage)->CreateWriter(tags, queue, Fixture::Fast());
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Start().ok());
  ASSERT_TRUE(queue.TryPush({0, At(1), 1.0, Quality::kGood}));
  (*writer)->Stop();
  EXPECT_EQ((*writer)->stats().samples_committed, 1u);
}

TEST(Recovery, DamagedPagesAreDetectedByQuickCheck) {
  ScratchDir dir;
  std::string path;
  {
    auto storage = Storage::Open(dir.path().string(), {});
    ASSERT_TRUE(storage.ok());
    path = (*storage)->samples_path();
    TagRegistry tags;
    for (int k = 0; k < 20; ++k) tags.Intern("t" + std::to_string(k));
    BoundedQueue<Sample> queue(1 << 16);
    auto writer = (*storage)->CreateWriter(tags, queue, Fixture::Fast());
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Start().ok());
    std::vector<Sample> batch;
    for (int i = 0; i < 20000; ++i)
      batch.push_back({static_cast<TagId>(i % 20), At(i), 1.0 * i, Quality::kGood});
    PushAll(queue, batch);
    (*writer)->Stop();
  }
  {
    // Checkpoint the WAL into the file, then overwrite pages 3.. with junk (keeping the header).
    SqliteDb db = std::move(SqliteDb::Open(path, {})).value();
    ASSERT_TRUE(db.Exec("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE").ok());
  }
  ASSERT_GT(fs::file_size(path), 16u * 4096);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(2 * 4096);
    const std::string junk(8 * 4096, '\x5a');
    file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto storage = Storage::Open(dir.path().string(), {});
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  EXPECT_TRUE((*storage)->samples_report().moved_aside);
  EXPECT_FALSE((*storage)->samples_report().corruption.empty());
  EXPECT_TRUE(fs::exists((*storage)->samples_report().moved_to));
  EXPECT_EQ(IntegrityCheck(path), "ok");
}

}  // namespace
}  // namespace edge::storage
