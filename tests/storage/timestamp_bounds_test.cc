// Readings dated in the future (issue #23 item 5): refused at ingest and counted; chunks already stored with such dates (a hand-made old database) neither survive age
// retention nor keep it from deleting every other tag's old data, and the retention marks the
// uplink reads stay exact.
#include "storage/timestamp_bounds.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "storage/chunk_codec.h"
#include "storage/sample_db.h"
#include "storage/storage.h"
#include "storage/uplink_store.h"
#include "tests/storage/writer_fixture.h"
#include "tests/support/eventually.h"

namespace edge::storage {
namespace {

using edge::testing::Eventually;
using testing::Fixture;
using testing::PushAll;
using testing::QueryInt;

Timestamp NowMicros() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

// 2100-01-01T00:00:00Z, the wrong clock of the issue.
const Timestamp kYear2100 = FromMicros(4102444800LL * 1000000);

TEST(TimestampBounds, BoundsFollowTheAgentClockAndDoNotJudgeTheFutureBeforeTheFloor) {
  config::StorageConfig config;
  config.retention = std::chrono::hours(1);
  config.max_clock_skew = std::chrono::minutes(5);
  const int64_t now = ToMicros(NowMicros());
  const TimestampBounds b = BoundsAt(now, config);
  EXPECT_FALSE(b.InFuture(now));
  EXPECT_FALSE(b.InFuture(now + 300'000'000));
  EXPECT_TRUE(b.InFuture(now + 300'000'001));
  EXPECT_EQ(b.oldest_us, now - 3600'000'000);  // older: deleted by retention, not refused
  EXPECT_TRUE(b.JudgesFuture());
  // A gateway booted without RTC (clock at 1970): it cannot tell what is in the future.
  const TimestampBounds boot = BoundsAt(1'000'000, config);
  EXPECT_FALSE(boot.JudgesFuture());
  EXPECT_FALSE(boot.InFuture(ToMicros(kYear2100)));
}

TEST(TimestampBounds, FutureReadingsAreRefusedAndCounted) {
  config::StorageConfig config;
  config.retention = std::chrono::hours(1);
  Fixture f(config);
  const TagId good = f.tags.Intern("good");
  const TagId wrong = f.tags.Intern("wrong\nclock");
  const Timestamp now = NowMicros();
  auto writer = f.StartWriter();
  PushAll(f.queue, {{wrong, kYear2100, 1.0},
                    {good, now, 2.0},
                    {wrong, now + std::chrono::minutes(6), 3.0},
                    {good, now + std::chrono::minutes(4), 4.0},
                    {good, now - std::chrono::hours(2), 5.0},
                    {wrong, kYear2100 + std::chrono::seconds(1), 6.0}});
  ASSERT_TRUE(Eventually(
      [&] {
        const WriterStats st = writer->stats();
        return st.samples_committed + st.samples_refused_future == 6;
      },
      std::chrono::seconds(5)));
  writer->Stop();
  const WriterStats st = writer->stats();
  EXPECT_EQ(st.samples_committed, 3u);  // the two-hour-old one too: retention takes it
  EXPECT_EQ(st.samples_refused_future, 3u);
  // The last refused reading, its tag name quoted with the newline escaped.
  EXPECT_EQ(st.last_refused, "tag \"wrong\\nclock\" at 2100-01-01T00:00:01.000Z");
  // (the old one may be gone already: age retention deletes it, it is not refused)
  EXPECT_EQ(QueryInt(f.storage->samples_path(), "SELECT sum(n) FROM chunk") +
                static_cast<int64_t>(st.samples_deleted_age),
            3);
  // The refused readings took no ordinals.
  EXPECT_EQ(QueryInt(f.storage->samples_path(),
                     "SELECT count(*) FROM chunk c JOIN tag t ON t.id = c.tag_id WHERE t.name = "
                     "'wrong' || char(10) || 'clock'"),
            0);
}

// Appends a chunk of `n` readings of tag `name`, 1 s apart from `start`, with ordinal `ord`, as
// an agent before this check could have written it.
void InsertChunk(SqliteDb& db, const std::string& name, Timestamp start, int n, int64_t ord) {
  StatusOr<int64_t> tag = InternTag(db, name);
  ASSERT_TRUE(tag.ok()) << tag.status().ToString();
  std::vector<uint8_t> blob;
  ChunkEncoder encoder;
  for (int i = 0; i < n; ++i) {
    encoder.Append(Sample{0, start + std::chrono::seconds(i), 1.0 * (ord + i)}, blob);
  }
  StatusOr<Statement> insert =
      db.Prepare("INSERT INTO chunk(tag_id, start_us, end_us, n, data, ord) VALUES (?, ?, ?, ?, "
                 "?, ?)");
  ASSERT_TRUE(insert.ok());
  insert->BindInt(1, *tag);
  insert->BindInt(2, ToMicros(start));
  insert->BindInt(3, ToMicros(start + std::chrono::seconds(n - 1)));
  insert->BindInt(4, n);
  insert->BindBlobStatic(5, blob);
  insert->BindInt(6, ord);
  ASSERT_TRUE(insert->Run().ok());
}

TEST(TimestampBounds, AChunkDatedInTheFutureBlocksNoRetention) {
  config::StorageConfig config;
  config.retention = std::chrono::hours(1);
  WriterOptions options = Fixture::Fast();
  options.retention_interval = std::chrono::milliseconds(20);
  options.retention_step = 16;  // the oldest 16 rows by id: all of them the wrong clock's
  Fixture f(config, options);
  const Timestamp now = NowMicros();
  const Timestamp old = now - std::chrono::hours(2);
  {
    auto db = SqliteDb::Open(f.storage->samples_path(), {});
    ASSERT_TRUE(db.ok());
    // The wrong clock first: a chunk dated 2100, then 40 old chunks of the same tag; then 20
    // old chunks of a good tag and one young one.
    InsertChunk(*db, "wrong", kYear2100, 10, 0);
    for (int k = 0; k < 40; ++k) InsertChunk(*db, "wrong", old + std::chrono::minutes(k), 10, 10 + 10 * k);
    for (int k = 0; k < 20; ++k) InsertChunk(*db, "good", old + std::chrono::minutes(k), 10, 10 * k);
    InsertChunk(*db, "good", now - std::chrono::minutes(1), 10, 200);
  }
  const std::string path = f.storage->samples_path();
  auto writer = f.StartWriter();
  ASSERT_TRUE(Eventually([&] { return QueryInt(path, "SELECT count(*) FROM chunk") == 1; },
                         std::chrono::seconds(5)));
  writer->Stop();
  const WriterStats st = writer->stats();
  EXPECT_EQ(st.samples_deleted_age, 610u);
  EXPECT_EQ(st.samples_deleted_future, 10u);
  // What is left is the good tag's young chunk; the marks say every lower ordinal is gone.
  auto store = UplinkStore::Open(path);
  ASSERT_TRUE(store.ok());
  const int64_t wrong_id = QueryInt(path, "SELECT id FROM tag WHERE name = 'wrong'");
  const int64_t good_id = QueryInt(path, "SELECT id FROM tag WHERE name = 'good'");
  StatusOr<TagExtent> we = (*store)->Extent(wrong_id);
  StatusOr<TagExtent> ge = (*store)->Extent(good_id);
  ASSERT_TRUE(we.ok() && ge.ok());
  EXPECT_EQ(we->removed_ord, 410);
  EXPECT_EQ(we->end_ord, 410);
  EXPECT_EQ(ge->removed_ord, 200);
  std::vector<Sample> out;
  OrdinalRead read;
  ASSERT_TRUE((*store)->ReadFrom(good_id, 0, 100, 0, out, &read).ok());
  EXPECT_EQ(read.first_ord, 200);  // an uplink cursor at 0 is told of a gap of exactly 200
  EXPECT_EQ(read.end_ord, 210);
}

TEST(TimestampBounds, AYoungChunkKeepsTheLaterOldOnesOfItsTag) {
  // A source that went back in time: a young chunk with lower ordinals than old ones. Each tag
  // loses its oldest ordinals first, so the old ones wait (tag.removed_ord stays exact).
  config::StorageConfig config;
  config.retention = std::chrono::hours(1);
  WriterOptions options = Fixture::Fast();
  options.retention_interval = std::chrono::milliseconds(20);
  Fixture f(config, options);
  const Timestamp now = NowMicros();
  {
    auto db = SqliteDb::Open(f.storage->samples_path(), {});
    ASSERT_TRUE(db.ok());
    InsertChunk(*db, "back", now - std::chrono::hours(3), 5, 0);
    InsertChunk(*db, "back", now - std::chrono::minutes(2), 5, 5);
    InsertChunk(*db, "back", now - std::chrono::hours(2), 5, 10);
    InsertChunk(*db, "other", now - std::chrono::hours(2), 5, 0);
  }
  const std::string path = f.storage->samples_path();
  auto writer = f.StartWriter();
  ASSERT_TRUE(Eventually([&] { return writer->stats().samples_deleted_age == 10; },
                         std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a few more passes
  writer->Stop();
  EXPECT_EQ(writer->stats().samples_deleted_age, 10u);
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM chunk"), 2);
  EXPECT_EQ(QueryInt(path, "SELECT min(ord) FROM chunk"), 5);
}

}  // namespace
}  // namespace edge::storage
