// TelemetryStream over a real samples.db (uplink/telemetry_stream.h): messages cut in order per
// tag, a message written ahead and not confirmed is rebuilt after a restart with the same seq and
// payload, cursors move only on confirmation, retention gaps become gap messages with the exact
// count, and `start` picks where a new stream begins.
#include "uplink/telemetry_stream.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "storage/chunk_codec.h"
#include "storage/uplink_store.h"
#include "tests/storage/writer_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/storage_test_util.h"

namespace edge::uplink {
namespace {

using nlohmann::json;
using storage::testing::At;
using storage::testing::Fixture;

constexpr char kTopic[] = "plant1/gw/telemetry/raw";

config::TelemetryStream RawStream(int max_batch) {
  config::TelemetryStream s;
  s.name = "raw";
  s.tags = {"pump1.*"};
  s.max_batch = max_batch;
  s.start_oldest = true;
  return s;
}

// Stores `n` readings of each of `tags`, 100 ms apart from `first_us` (relative to BaseMicros).
void Store(Fixture& f, const std::vector<std::string>& tags, int n, int64_t first_us) {
  auto writer = f.StartWriter();
  std::vector<Sample> samples;
  for (int i = 0; i < n; ++i) {
    for (const std::string& tag : tags) {
      samples.push_back({f.tags.Intern(tag), At(first_us + i * 100'000), i * 1.5, Quality::kGood});
    }
  }
  Fixture::PushAndCommit(*writer, f.queue, samples);
  writer->Stop();
}

std::unique_ptr<storage::UplinkStore> OpenStore(Fixture& f) {
  auto store = storage::UplinkStore::Open(f.storage->samples_path());
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return std::move(*store);
}

int64_t Now() {
  return storage::ToMicros(std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now()));
}

// Writes the window's new plans ahead, as the uplink thread does before publishing.
void WriteAhead(storage::UplinkStore& store, TelemetryStream& stream) {
  std::vector<storage::UplinkInflight> rows;
  for (const WindowEntry* e : stream.window().Unwritten()) rows.push_back({e->seq, SavePlan(e->plan)});
  ASSERT_TRUE(store.PutInflight(stream.name(), rows, stream.window().next_seq()).ok());
  stream.window().MarkAllWritten();
}

// Moves the cursors over the confirmed messages, as the uplink thread's round does.
Status Commit(storage::UplinkStore& store, TelemetryStream& stream) {
  if (!stream.TakeConfirmed()) return Status::Ok();
  EDGE_RETURN_IF_ERROR(store.InOneTransaction([&] { return stream.WriteConfirmed(store); }));
  stream.Committed();
  return Status::Ok();
}

// Sends everything and confirms it; returns the payloads in order.
std::vector<WindowEntry> SendAll(TelemetryStream& stream) {
  std::vector<WindowEntry> sent;
  while (WindowEntry* e = stream.window().NextToSend()) {
    stream.window().MarkSent(e, std::chrono::steady_clock::now());
    sent.push_back(*e);
  }
  for (const WindowEntry& e : sent) stream.window().OnResult(e.seq, true);
  return sent;
}

// (tag, t) -> value of every reading in the JSON payloads.
std::map<std::pair<std::string, int64_t>, double> Readings(const std::vector<WindowEntry>& sent) {
  std::map<std::pair<std::string, int64_t>, double> out;
  for (const WindowEntry& e : sent) {
    if (e.payload.empty() || e.plan.kind != MessagePlan::Kind::kData) continue;
    const json j = json::parse(e.payload);
    for (const json& s : j["series"]) {
      for (size_t i = 0; i < s["t"].size(); ++i) {
        EXPECT_TRUE(out.emplace(std::make_pair(s["tag"].get<std::string>(), s["t"][i].get<int64_t>()),
                                s["v"][i].get<double>())
                        .second)
            << "a reading in two messages";
      }
    }
  }
  return out;
}

TEST(TelemetryStreamTest, CutsEveryReadingOnceInBatchesAndCommitsOnConfirmation) {
  Fixture f;
  Store(f, {"pump1.a", "pump1.b", "other.c"}, 50, 0);
  auto store = OpenStore(f);
  TelemetryStream stream(RawStream(30), "gw", kTopic);
  ASSERT_TRUE(stream.Open(*store, Now()).ok());
  ASSERT_TRUE(stream.Fill(*store, Now()).ok());
  WriteAhead(*store, stream);
  const std::vector<WindowEntry> sent = SendAll(stream);
  ASSERT_EQ(sent.size(), 4u) << "100 readings in messages of at most 30";
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(sent[i].seq, i + 1);
    EXPECT_EQ(sent[i].topic, kTopic);
    EXPECT_LE(sent[i].readings, 30u);
  }
  const auto readings = Readings(sent);
  EXPECT_EQ(readings.size(), 100u) << "other.c is not matched; pump1.a and pump1.b are";
  EXPECT_EQ(readings.count({"pump1.a", storage::testing::BaseMicros() + 49 * 100'000}), 1u);
  ASSERT_TRUE(Commit(*store, stream).ok());
  EXPECT_EQ(stream.stats().messages, 4u);
  EXPECT_EQ(stream.stats().readings, 100u);

  // A new stream object on the same file continues after the committed cursor: nothing again.
  TelemetryStream again(RawStream(30), "gw", kTopic);
  ASSERT_TRUE(again.Open(*store, Now()).ok());
  ASSERT_TRUE(again.Fill(*store, Now()).ok());
  EXPECT_TRUE(again.window().empty());
  EXPECT_EQ(again.window().next_seq(), 5u) << "seq survives the restart";
}

TEST(TelemetryStreamTest, AMessageWrittenAheadIsRebuiltWithItsSeqAndPayloadAfterARestart) {
  Fixture f;
  Store(f, {"pump1.a", "pump1.b"}, 40, 0);
  auto store = OpenStore(f);
  std::vector<WindowEntry> before;
  {
    TelemetryStream stream(RawStream(25), "gw", kTopic);
    ASSERT_TRUE(stream.Open(*store, Now()).ok());
    ASSERT_TRUE(stream.Fill(*store, Now()).ok());
    WriteAhead(*store, stream);
    before = SendAll(stream);  // all four sent; the agent dies before committing any PUBACK
  }
  ASSERT_EQ(before.size(), 4u);
  // The next run commits only the first one (its PUBACK came again), then dies too.
  {
    TelemetryStream stream(RawStream(25), "gw", kTopic);
    ASSERT_TRUE(stream.Open(*store, Now()).ok());
    ASSERT_EQ(stream.window().size(), 4u);
    stream.window().MarkSent(stream.window().NextToSend(), std::chrono::steady_clock::now());
    stream.window().OnResult(1, true);
    ASSERT_TRUE(Commit(*store, stream).ok());
  }
  // More readings arrive; the restarted stream sends messages 2..4 exactly as before, then new ones.
  Store(f, {"pump1.a", "pump1.b"}, 5, 40 * 100'000);
  TelemetryStream stream(RawStream(25), "gw", kTopic);
  ASSERT_TRUE(stream.Open(*store, Now()).ok());
  ASSERT_EQ(stream.window().size(), 3u);
  ASSERT_TRUE(stream.Fill(*store, Now()).ok());
  WriteAhead(*store, stream);
  const std::vector<WindowEntry> after = SendAll(stream);
  ASSERT_GE(after.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(after[i].seq, before[i + 1].seq);
    EXPECT_EQ(after[i].payload, before[i + 1].payload) << "seq " << after[i].seq << " changed";
  }
  std::vector<WindowEntry> all = {before[0]};
  all.insert(all.end(), after.begin(), after.end());
  EXPECT_EQ(Readings(all).size(), 90u) << "every reading once across the restart";
}

TEST(TelemetryStreamTest, ReadingsRetentionRemovedBeforeTheyWereSentBecomeAGapMessage) {
  // Retention of one hour, checked every 20 ms; three hours of readings at 1 Hz arrive while the
  // stream's cursor stands at the first of them (the broker was away): two hours go unsent.
  config::StorageConfig one_hour;
  one_hour.retention = std::chrono::hours(1);
  storage::WriterOptions frequent = Fixture::Fast();
  frequent.retention_interval = std::chrono::milliseconds(20);
  Fixture f(one_hour, frequent);
  const TagId a = f.tags.Intern("pump1.a");
  auto writer = f.StartWriter();  // maps pump1.a to its persistent id
  auto store = OpenStore(f);
  StatusOr<std::vector<storage::StoredTag>> tags = store->TagsAfter(0);
  ASSERT_TRUE(tags.ok() && tags->size() == 1);
  ASSERT_TRUE(store->LoadOrCreateStream("raw", Now()).ok());
  const storage::UplinkCursor at_zero{(*tags)[0].id, 0, SaveState(TagFilterState{})};
  ASSERT_TRUE(store->Commit("raw", 0, {&at_zero, 1}).ok());

  const Timestamp now = storage::FromMicros(Now());
  std::vector<Sample> batch;
  for (int i = 0; i < 3 * 3600; ++i) {
    batch.push_back({a, now - std::chrono::seconds(3 * 3600 - i), 1.0 * i, Quality::kGood});
  }
  Fixture::PushAndCommit(*writer, f.queue, batch);
  ASSERT_TRUE(edge::testing::Eventually(
      [&] {
        StatusOr<storage::TagExtent> e = store->Extent((*tags)[0].id);
        return e.ok() && e->removed_ord >= 3600;
      },
      std::chrono::seconds(20)));
  writer->Stop();
  StatusOr<storage::TagExtent> extent = store->Extent((*tags)[0].id);
  ASSERT_TRUE(extent.ok());

  TelemetryStream stream(RawStream(100000), "gw", kTopic);
  ASSERT_TRUE(stream.Open(*store, Now()).ok());
  ASSERT_TRUE(stream.Fill(*store, Now()).ok());
  WriteAhead(*store, stream);
  const std::vector<WindowEntry> sent = SendAll(stream);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].topic, std::string(kTopic) + "/gap");
  const json gap = json::parse(sent[0].payload);
  EXPECT_EQ(gap["gateway"], "gw");
  EXPECT_EQ(gap["stream"], "raw");
  EXPECT_EQ(gap["readings"].get<int64_t>(), extent->removed_ord);
  EXPECT_GE(gap["to"].get<int64_t>(), extent->removed_end_us);
  const auto readings = Readings(sent);
  EXPECT_EQ(static_cast<int64_t>(readings.size()), 3 * 3600 - extent->removed_ord);
  EXPECT_EQ(readings.begin()->second, static_cast<double>(extent->removed_ord))
      << "the first reading sent is the first one retention left";
  ASSERT_TRUE(Commit(*store, stream).ok());
  EXPECT_EQ(stream.stats().gaps, 1u);
  EXPECT_EQ(static_cast<int64_t>(stream.stats().gap_readings), extent->removed_ord);
}

TEST(TelemetryStreamTest, StartNowBeginsAtTheStreamsCreationAndOldestAtTheFirstStoredReading) {
  Fixture f;
  Store(f, {"pump1.a"}, 10, 0);  // a day ago
  auto store = OpenStore(f);
  config::TelemetryStream now_stream = RawStream(1000);
  now_stream.name = "live";
  now_stream.start_oldest = false;
  TelemetryStream live(now_stream, "gw", kTopic);
  ASSERT_TRUE(live.Open(*store, Now()).ok());
  TelemetryStream history(RawStream(1000), "gw", kTopic);
  ASSERT_TRUE(history.Open(*store, Now()).ok());
  ASSERT_TRUE(live.Fill(*store, Now()).ok());
  ASSERT_TRUE(history.Fill(*store, Now()).ok());
  EXPECT_TRUE(live.window().empty()) << "start: now sent readings from before the stream existed";
  ASSERT_EQ(history.window().size(), 1u);
  EXPECT_EQ(history.window().Unwritten()[0]->readings, 10u);
}

}  // namespace
}  // namespace edge::uplink
