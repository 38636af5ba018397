// Ordinals, retention marks and the uplink's cursor store against a real samples.db written by
// the real SampleWriter in a scratch directory.
#include "storage/uplink_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "storage/chunk_codec.h"
#include "storage/storage.h"
#include "tests/storage/writer_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/storage_test_util.h"

namespace edge::storage {
namespace {

using edge::testing::Eventually;
using testing::At;
using testing::Fixture;
using testing::PushAll;
using testing::QueryInt;

std::unique_ptr<UplinkStore> OpenStore(Fixture& f) {
  auto store = f.storage->OpenUplinkStore();
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

int64_t DbTagId(Fixture& f, const std::string& name) {
  return QueryInt(f.storage->samples_path(), "SELECT id FROM tag WHERE name = '" + name + "'");
}

struct Read {
  std::vector<Sample> samples;
  OrdinalRead ord;
};

Read ReadFrom(UplinkStore& store, int64_t tag_id, int64_t from_ord, size_t max) {
  Read r;
  const Status s = store.ReadFrom(tag_id, from_ord, max, 7, r.samples, &r.ord);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return r;
}

TagExtent ExtentOf(UplinkStore& store, int64_t tag_id) {
  StatusOr<TagExtent> e = store.Extent(tag_id);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? *e : TagExtent{};
}

// `count` samples of `tag` whose value is their index from `first`, 1 s apart from At(first s).
std::vector<Sample> Numbered(TagId tag, int first, int count) {
  std::vector<Sample> v;
  for (int i = first; i < first + count; ++i) {
    v.push_back({tag, At(i * 1000000LL), 1.0 * i, i % 5 == 4 ? Quality::kBad : Quality::kGood});
  }
  return v;
}

config::StorageConfig OneHourRetention() {
  config::StorageConfig config;
  config.retention = std::chrono::hours(1);
  return config;
}

WriterOptions FrequentAgeRetention() {
  WriterOptions options = Fixture::Fast();
  options.retention_interval = std::chrono::milliseconds(20);
  return options;
}

// Every sample's value is its ordinal (what Numbered writes, one tag at a time).
void ExpectValuesAreOrdinals(const Read& r) {
  ASSERT_EQ(static_cast<int64_t>(r.samples.size()), r.ord.end_ord - r.ord.first_ord);
  for (size_t i = 0; i < r.samples.size(); ++i) {
    ASSERT_EQ(r.samples[i].value, static_cast<double>(r.ord.first_ord + static_cast<int64_t>(i)))
        << "sample " << i << " of a read from ordinal " << r.ord.first_ord;
  }
}

TEST(UplinkStore, OrdinalsAreDenseAcrossOpenChunkGrowthAndWriterRestarts) {
  Fixture f;
  const TagId a = f.tags.Intern("a");
  {
    auto writer = f.StartWriter();
    for (int c = 0; c < 5; ++c) Fixture::PushAndCommit(*writer, f.queue, Numbered(a, c * 3, 3));
    // Five commits, one row grown in place.
    EXPECT_EQ(QueryInt(f.storage->samples_path(), "SELECT count(*) FROM chunk"), 1);
    Fixture::PushAndCommit(*writer, f.queue, Numbered(a, 15, 300));
    writer->Stop();
  }
  {
    // Another registry order: the writer maps the tag to the same row and ordinal.
    TagRegistry tags;
    tags.Intern("b");
    const TagId a2 = tags.Intern("a");
    auto writer = f.storage->CreateWriter(tags, f.queue, Fixture::Fast());
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Start().ok());
    PushAll(f.queue, Numbered(a2, 315, 10));
    (*writer)->Stop();
  }
  const std::string path = f.storage->samples_path();
  // Each chunk starts where the previous one of the tag ended.
  EXPECT_EQ(QueryInt(path,
                     "SELECT count(*) FROM chunk c JOIN chunk p ON p.tag_id = c.tag_id AND "
                     "p.id = (SELECT max(id) FROM chunk WHERE tag_id = c.tag_id AND id < "
                     "c.id) WHERE c.ord != p.ord + p.n"),
            0);
  EXPECT_EQ(QueryInt(path, "SELECT min(ord) FROM chunk"), 0);
  auto store = OpenStore(f);
  const int64_t id = DbTagId(f, "a");
  const Read r = ReadFrom(*store, id, 0, 100000);
  EXPECT_EQ(r.ord.first_ord, 0);
  EXPECT_EQ(r.ord.end_ord, 325);
  ExpectValuesAreOrdinals(r);
  EXPECT_EQ(r.samples[4].quality, Quality::kBad);
  EXPECT_EQ(r.samples[7].tag, 7u);
  const TagExtent e = ExtentOf(*store, id);
  EXPECT_EQ(e.removed_ord, 0);
  EXPECT_EQ(e.removed_end_us, 0);
  EXPECT_EQ(e.end_ord, 325);
}

TEST(UplinkStore, ReadFromCrossesChunksStopsAtMaxAndFollowsTheOpenChunk) {
  Fixture f;
  const TagId a = f.tags.Intern("a");
  auto writer = f.StartWriter();
  Fixture::PushAndCommit(*writer, f.queue, Numbered(a, 0, 1000));
  const std::string path = f.storage->samples_path();
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM chunk"), 4);  // 256 + 256 + 256 + 232
  auto store = OpenStore(f);
  const int64_t id = DbTagId(f, "a");

  Read r = ReadFrom(*store, id, 250, 20);  // across the first chunk boundary
  EXPECT_EQ(r.ord.first_ord, 250);
  EXPECT_EQ(r.ord.end_ord, 270);
  ExpectValuesAreOrdinals(r);
  r = ReadFrom(*store, id, 990, 100);
  EXPECT_EQ(r.ord.first_ord, 990);
  EXPECT_EQ(r.ord.end_ord, 1000);
  ExpectValuesAreOrdinals(r);
  r = ReadFrom(*store, id, 1000, 100);
  EXPECT_TRUE(r.samples.empty());
  EXPECT_EQ(r.ord.first_ord, 1000);
  EXPECT_EQ(r.ord.end_ord, 1000);
  r = ReadFrom(*store, id, 5, 0);
  EXPECT_TRUE(r.samples.empty());

  // Small reads, each from where the last ended, give every reading once, and append.
  std::vector<Sample> all = {Sample{}};
  for (int64_t next = 0; next < 1000;) {
    OrdinalRead read;
    ASSERT_TRUE(store->ReadFrom(id, next, 7, 3, all, &read).ok());
    ASSERT_EQ(read.first_ord, next);
    ASSERT_GT(read.end_ord, next);
    next = read.end_ord;
  }
  ASSERT_EQ(all.size(), 1001u);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(all[i + 1].value, i);
    ASSERT_EQ(all[i + 1].ts, At(i * 1000000LL));
    ASSERT_EQ(all[i + 1].tag, 3u);
  }

  // The open chunk: a new row of 3, then grown in place by 2; the cursor at 1003 finds the 2.
  Fixture::PushAndCommit(*writer, f.queue, Numbered(a, 1000, 3));
  r = ReadFrom(*store, id, 1000, 100);
  EXPECT_EQ(r.ord.end_ord, 1003);
  ExpectValuesAreOrdinals(r);
  Fixture::PushAndCommit(*writer, f.queue, Numbered(a, 1003, 2));
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM chunk"), 5);
  r = ReadFrom(*store, id, 1003, 100);
  EXPECT_EQ(r.ord.first_ord, 1003);
  EXPECT_EQ(r.ord.end_ord, 1005);
  ExpectValuesAreOrdinals(r);
  writer->Stop();
}

TEST(UplinkStore, ReadsEveryReadingOnceWhileTheWriterGrowsChunks) {
  Fixture f;
  const TagId a = f.tags.Intern("live");
  auto writer = f.StartWriter();
  auto store = OpenStore(f);
  const int64_t id = DbTagId(f, "live");
  constexpr int kTotal = 3000;
  std::thread producer([&] {  // ~10 samples per 10 ms commit: most grow the open chunk in place
    for (int i = 0; i < kTotal; i += 4) {
      PushAll(f.queue, Numbered(a, i, 4));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<Sample> got;
  int64_t next = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (next < kTotal && std::chrono::steady_clock::now() < deadline) {
    OrdinalRead read;
    ASSERT_TRUE(store->ReadFrom(id, next, 100, 0, got, &read).ok());
    ASSERT_EQ(read.first_ord, next) << "a gap where nothing was deleted";
    next = read.end_ord;
  }
  producer.join();
  writer->Stop();
  ASSERT_EQ(got.size(), static_cast<size_t>(kTotal));
  for (int i = 0; i < kTotal; ++i) ASSERT_EQ(got[i].value, i);
  // Fewer rows than commits: chunks did grow under the reader.
  EXPECT_LT(QueryInt(f.storage->samples_path(), "SELECT count(*) FROM chunk"),
            static_cast<int64_t>(writer->stats().commits));
}

TEST(Retention, AgeRetentionMarksRemovedOrdinalsSoTheGapIsExact) {
  Fixture f(OneHourRetention(), FrequentAgeRetention());
  const TagId a = f.tags.Intern("a");
  const TagId gone = f.tags.Intern("gone");
  const TagId late = f.tags.Intern("late");
  const Timestamp now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  std::vector<Sample> batch;
  for (int i = 0; i < 3 * 3600; ++i) {  // 3 hours at 1 Hz, value = ordinal
    batch.push_back({a, now - std::chrono::seconds(3 * 3600 - i), 1.0 * i, Quality::kGood});
  }
  for (int i = 0; i < 100; ++i) {  // all older than the retention
    batch.push_back(
        {gone, now - std::chrono::hours(2) + std::chrono::seconds(i), 1.0 * i, Quality::kGood});
  }
  // A source that went back in time: a young chunk, then an old one (ts < start: a new chunk).
  // The old one must stay while the young one, with lower ordinals, does.
  for (int i = 0; i < 10; ++i) {
    const auto ts = now - (i < 5 ? std::chrono::seconds(10) : std::chrono::hours(2));
    batch.push_back({late, ts + std::chrono::milliseconds(i), 1.0 * i, Quality::kGood});
  }
  auto writer = f.StartWriter();
  PushAll(f.queue, batch);
  const std::string path = f.storage->samples_path();
  const int64_t gone_id = DbTagId(f, "gone");
  ASSERT_TRUE(Eventually(
      [&] {
        return writer->stats().samples_committed == batch.size() &&
               QueryInt(path, "SELECT count(*) FROM chunk WHERE tag_id = " +
                                  std::to_string(gone_id)) == 0;
      },
      std::chrono::seconds(20)));
  writer->Stop();
  const WriterStats stats = writer->stats();

  auto store = OpenStore(f);
  const TagExtent ea = ExtentOf(*store, DbTagId(f, "a"));
  EXPECT_GT(ea.removed_ord, 0);
  EXPECT_EQ(ea.end_ord, 3 * 3600);
  // A cursor at 0 learns that exactly removed_ord readings are gone, then reads the rest.
  const Read r = ReadFrom(*store, DbTagId(f, "a"), 0, 100000);
  EXPECT_EQ(r.ord.first_ord, ea.removed_ord);
  EXPECT_EQ(r.ord.end_ord, 3 * 3600);
  ExpectValuesAreOrdinals(r);
  // removed_end_us is the time of the last deleted reading, older than the retention.
  const int64_t last_removed = ea.removed_ord - 1;
  EXPECT_EQ(ea.removed_end_us, ToMicros(now - std::chrono::seconds(3 * 3600 - last_removed)));
  EXPECT_LT(ea.removed_end_us, ToMicros(now - std::chrono::hours(1)));

  const TagExtent eg = ExtentOf(*store, gone_id);
  EXPECT_EQ(eg.removed_ord, 100);
  EXPECT_EQ(eg.end_ord, 100);
  EXPECT_EQ(eg.removed_end_us, ToMicros(now - std::chrono::hours(2) + std::chrono::seconds(99)));
  const Read rg = ReadFrom(*store, gone_id, 40, 10);  // empty, but the gap still shows
  EXPECT_TRUE(rg.samples.empty());
  EXPECT_EQ(rg.ord.first_ord, 100);
  EXPECT_EQ(rg.ord.end_ord, 100);

  const int64_t late_id = DbTagId(f, "late");
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM chunk WHERE tag_id = " + std::to_string(late_id)),
            2);
  EXPECT_EQ(ExtentOf(*store, late_id).removed_ord, 0);
  EXPECT_EQ(ReadFrom(*store, late_id, 0, 100).samples.size(), 10u);

  EXPECT_EQ(stats.samples_deleted_age, static_cast<uint64_t>(ea.removed_ord + 100));
}

TEST(Retention, SizeRetentionMarksRemovedOrdinalsOfEveryTag) {
  config::StorageConfig config;
  config.max_size_bytes = 2 << 20;
  Fixture f(config);
  constexpr int kTags = 10;
  constexpr int kRounds = 60000;  // 600,000 samples, ~6.6 MB encoded: 3x the cap
  for (int k = 0; k < kTags; ++k) f.tags.Intern("tag" + std::to_string(k));
  auto writer = f.StartWriter();
  std::vector<Sample> round(kTags);
  for (int r = 0; r < kRounds; ++r) {
    for (int k = 0; k < kTags; ++k) round[k] = {static_cast<TagId>(k), At(r * 1000LL), 1.0 * r};
    PushAll(f.queue, round);
  }
  writer->Stop();
  const WriterStats stats = writer->stats();
  ASSERT_GT(stats.samples_deleted_size, 0u);

  auto store = OpenStore(f);
  uint64_t removed = 0;
  for (int k = 0; k < kTags; ++k) {
    const int64_t id = DbTagId(f, "tag" + std::to_string(k));
    const TagExtent e = ExtentOf(*store, id);
    EXPECT_GT(e.removed_ord, 0) << k;
    EXPECT_EQ(e.end_ord, kRounds);
    EXPECT_EQ(e.removed_end_us, ToMicros(At((e.removed_ord - 1) * 1000LL)));
    const Read r = ReadFrom(*store, id, 0, kRounds);
    EXPECT_EQ(r.ord.first_ord, e.removed_ord);
    EXPECT_EQ(r.ord.end_ord, kRounds);
    ExpectValuesAreOrdinals(r);
    removed += static_cast<uint64_t>(e.removed_ord);
  }
  EXPECT_EQ(removed, stats.samples_deleted_size);
}

TEST(Retention, OrdinalsAreNotReusedAfterEveryChunkOfATagWasDeleted) {
  Fixture f(OneHourRetention(), FrequentAgeRetention());
  const TagId gone = f.tags.Intern("gone");
  const Timestamp now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  std::vector<Sample> old;
  for (int i = 0; i < 50; ++i) {
    old.push_back({gone, now - std::chrono::hours(2) + std::chrono::seconds(i), 1.0 * i});
  }
  const std::string path = f.storage->samples_path();
  {
    auto writer = f.StartWriter();
    PushAll(f.queue, old);
    ASSERT_TRUE(Eventually([&] { return writer->stats().samples_deleted_age == 50; },
                           std::chrono::seconds(20)));
    writer->Stop();
  }
  EXPECT_EQ(QueryInt(path, "SELECT count(*) FROM chunk"), 0);
  {
    auto writer = f.StartWriter();  // a restart: the next ordinal comes from removed_ord
    PushAll(f.queue, {{gone, now, 50.0}, {gone, now + std::chrono::seconds(1), 51.0}});
    writer->Stop();
  }
  EXPECT_EQ(QueryInt(path, "SELECT min(ord) FROM chunk"), 50);
  auto store = OpenStore(f);
  const Read r = ReadFrom(*store, DbTagId(f, "gone"), 0, 100);
  EXPECT_EQ(r.ord.first_ord, 50);
  EXPECT_EQ(r.ord.end_ord, 52);
  ExpectValuesAreOrdinals(r);
}

TEST(UplinkStore, StreamsInflightMessagesAndCursorsPersist) {
  Fixture f;
  auto store = OpenStore(f);
  StatusOr<UplinkStreamRow> raw = store->LoadOrCreateStream("raw", 111);
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  EXPECT_TRUE(raw->created);
  EXPECT_EQ(raw->name, "raw");
  EXPECT_EQ(raw->next_seq, 1u);
  EXPECT_EQ(raw->created_us, 111);
  raw = store->LoadOrCreateStream("raw", 222);
  ASSERT_TRUE(raw.ok());
  EXPECT_FALSE(raw->created);
  EXPECT_EQ(raw->created_us, 111);
  ASSERT_TRUE(store->LoadOrCreateStream("agg", 5).ok());

  const std::vector<UplinkInflight> rows = {{1, "plan one"}, {2, std::string("a\0b", 3)}, {3, ""}};
  ASSERT_TRUE(store->PutInflight("raw", rows, 4).ok());
  EXPECT_EQ(store->PutInflight("nope", rows, 4).code(), StatusCode::kNotFound);
  // A seq already in flight: an error, and nothing of the transaction stays.
  const std::vector<UplinkInflight> clash = {{5, "x"}, {2, "again"}};
  EXPECT_FALSE(store->PutInflight("raw", clash, 9).ok());

  const std::vector<UplinkCursor> first = {{1, 5, "s1"}, {2, 0, ""}};
  ASSERT_TRUE(store->Commit("raw", 2, first).ok());
  const std::vector<UplinkCursor> agg = {{1, 77, "agg state"}};
  ASSERT_TRUE(store->Commit("agg", 0, agg).ok());
  const std::vector<UplinkCursor> second = {{1, 9, std::string("\0\1", 2)}};
  ASSERT_TRUE(store->Commit("raw", 0, second).ok());  // upsert; no inflight row goes

  store = OpenStore(f);  // everything above survives a new connection
  raw = store->LoadOrCreateStream("raw", 333);
  ASSERT_TRUE(raw.ok());
  EXPECT_FALSE(raw->created);
  EXPECT_EQ(raw->next_seq, 4u);
  auto inflight = store->LoadInflight("raw");
  ASSERT_TRUE(inflight.ok());
  ASSERT_EQ(inflight->size(), 1u);
  EXPECT_EQ((*inflight)[0].seq, 3u);
  EXPECT_EQ((*inflight)[0].plan, "");
  auto cursors = store->LoadCursors("raw");
  ASSERT_TRUE(cursors.ok());
  ASSERT_EQ(cursors->size(), 2u);
  EXPECT_EQ((*cursors)[0].tag_id, 1);
  EXPECT_EQ((*cursors)[0].ord, 9);
  EXPECT_EQ((*cursors)[0].state, std::string("\0\1", 2));
  EXPECT_EQ((*cursors)[1].tag_id, 2);
  EXPECT_EQ((*cursors)[1].ord, 0);

  ASSERT_TRUE(store->PutInflight("raw", std::vector<UplinkInflight>{{4, "four"}}, 5).ok());
  inflight = store->LoadInflight("raw");
  ASSERT_TRUE(inflight.ok());
  ASSERT_EQ(inflight->size(), 2u);
  EXPECT_EQ((*inflight)[1].plan, "four");

  cursors = store->LoadCursors("agg");  // another stream's cursors are its own
  ASSERT_TRUE(cursors.ok());
  ASSERT_EQ(cursors->size(), 1u);
  EXPECT_EQ((*cursors)[0].state, "agg state");
}

TEST(UplinkStore, TagsAfterListsStoredTagsById) {
  Fixture f;
  f.tags.Intern("x");
  f.tags.Intern("y");
  f.tags.Intern("z");
  f.StartWriter()->Stop();
  auto store = OpenStore(f);
  auto tags = store->TagsAfter(0);
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 3u);
  EXPECT_EQ((*tags)[0].name, "x");
  EXPECT_EQ((*tags)[2].name, "z");
  EXPECT_LT((*tags)[0].id, (*tags)[1].id);
  tags = store->TagsAfter((*tags)[1].id);
  ASSERT_TRUE(tags.ok());
  ASSERT_EQ(tags->size(), 1u);
  EXPECT_EQ((*tags)[0].name, "z");
  EXPECT_EQ(store->Extent(12345).status().code(), StatusCode::kNotFound);
}

TEST(UplinkStore, FirstOrdAtOrAfterAndBacklog) {
  Fixture f;
  const TagId a = f.tags.Intern("a");
  auto writer = f.StartWriter();
  Fixture::PushAndCommit(*writer, f.queue, Numbered(a, 0, 1000));  // chunks at 0, 256, 512, 768
  writer->Stop();
  auto store = OpenStore(f);
  const int64_t id = DbTagId(f, "a");
  auto first = [&](int64_t ts_us) {
    StatusOr<int64_t> ord = store->FirstOrdAtOrAfter(id, ts_us);
    EXPECT_TRUE(ord.ok()) << ord.status().ToString();
    return ord.ok() ? *ord : -1;
  };
  const int64_t t0 = ToMicros(At(0));
  EXPECT_EQ(first(t0 - 3600000000LL), 0);
  EXPECT_EQ(first(t0), 0);
  EXPECT_EQ(first(t0 + 500000000), 500);
  EXPECT_EQ(first(t0 + 500500000), 501);
  EXPECT_EQ(first(t0 + 256000000), 256);  // a chunk's first sample
  EXPECT_EQ(first(t0 + 255000001), 256);  // just after a chunk's last
  EXPECT_EQ(first(t0 + 999000000), 999);
  EXPECT_EQ(first(t0 + 999000001), 1000);  // none: end_ord

  const std::string path = f.storage->samples_path();
  auto chunk_bytes = [&](int ord) {
    return QueryInt(path, "SELECT length(data) FROM chunk WHERE ord = " + std::to_string(ord));
  };
  auto backlog = store->BacklogOf(id, 0);
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(backlog->readings, 1000);
  EXPECT_EQ(backlog->bytes, QueryInt(path, "SELECT sum(length(data)) FROM chunk"));
  EXPECT_EQ(backlog->oldest_us, t0);
  backlog = store->BacklogOf(id, 300);  // 212 of the chunk at 256 are unsent
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(backlog->readings, 700);
  EXPECT_EQ(backlog->bytes, chunk_bytes(256) * 212 / 256 + chunk_bytes(512) + chunk_bytes(768));
  EXPECT_EQ(backlog->oldest_us, t0 + 300000000);
  backlog = store->BacklogOf(id, 1000);
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(backlog->readings, 0);
  EXPECT_EQ(backlog->bytes, 0);
  EXPECT_EQ(backlog->oldest_us, 0);
}

}  // namespace
}  // namespace edge::storage
