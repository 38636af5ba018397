#include "storage/outbox.h"

#include <gtest/gtest.h>

#include "storage/storage.h"
#include "tests/support/storage_test_util.h"
#include "tests/support/test_files.h"

namespace edge::storage {
namespace {

using edge::testing::ScratchDir;

TEST(Outbox, AppendsReadsInOrderAndDeletesOnlyOnConfirm) {
  ScratchDir dir;
  auto outbox = Outbox::Open((dir.path() / "outbox.db").string());
  ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
  auto s1 = (*outbox)->Append("p/gw/alarms/pump1", R"({"state":"raised"})", 1, false);
  auto s2 = (*outbox)->Append("p/gw/status", "online", 1, true);
  auto s3 = (*outbox)->Append(
      "p/gw/alarms/pump1", [](uint64_t seq) { return "seq=" + std::to_string(seq); }, 0, false);
  ASSERT_TRUE(s1.ok() && s2.ok() && s3.ok());
  EXPECT_LT(*s1, *s2);
  EXPECT_LT(*s2, *s3);

  auto all = (*outbox)->ReadAfter(0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].seq, *s1);
  EXPECT_EQ((*all)[0].topic, "p/gw/alarms/pump1");
  EXPECT_EQ((*all)[0].payload, R"({"state":"raised"})");
  EXPECT_EQ((*all)[0].qos, 1);
  EXPECT_FALSE((*all)[0].retained);
  EXPECT_TRUE((*all)[1].retained);
  EXPECT_EQ((*all)[2].payload, "seq=" + std::to_string(*s3));
  EXPECT_EQ((*all)[2].qos, 0);

  auto after_first = (*outbox)->ReadAfter(*s1, 1);
  ASSERT_TRUE(after_first.ok());
  ASSERT_EQ(after_first->size(), 1u);
  EXPECT_EQ((*after_first)[0].seq, *s2);

  ASSERT_TRUE((*outbox)->Confirm(*s2).ok());
  ASSERT_TRUE((*outbox)->Confirm(*s2).ok());  // a repeated PUBACK is harmless
  auto left = (*outbox)->ReadAfter(0, 10);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].seq, *s1);
  EXPECT_EQ((*left)[1].seq, *s3);
  EXPECT_EQ(*(*outbox)->Pending(), 2u);
}

TEST(Outbox, SequenceKeepsIncreasingAcrossRestartsEvenWhenEmpty) {
  ScratchDir dir;
  const std::string path = (dir.path() / "outbox.db").string();
  uint64_t last = 0;
  for (int run = 0; run < 3; ++run) {
    auto outbox = Outbox::Open(path);
    ASSERT_TRUE(outbox.ok());
    // Unconfirmed messages from the previous run are still there, in order.
    auto pending = (*outbox)->ReadAfter(0, 100);
    ASSERT_TRUE(pending.ok());
    EXPECT_EQ(pending->size(), run == 0 ? 0u : 1u);
    for (const OutboxMessage& m : *pending) ASSERT_TRUE((*outbox)->Confirm(m.seq).ok());
    for (int i = 0; i < 5; ++i) {
      auto seq = (*outbox)->Append("t", "m", 1, false);
      ASSERT_TRUE(seq.ok());
      EXPECT_GT(*seq, last);
      last = *seq;
      if (i < 4) {
        ASSERT_TRUE((*outbox)->Confirm(*seq).ok());
      }
    }
  }
  auto outbox = Outbox::Open(path);
  ASSERT_TRUE(outbox.ok());
  EXPECT_EQ(*(*outbox)->NextSeq(), last + 1);
}

TEST(Outbox, CorruptOutboxIsMovedAsideToo) {
  ScratchDir dir;
  dir.Write("outbox.db", std::string(5000, '\x01'));
  auto storage = Storage::Open(dir.path().string(), {});
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  EXPECT_TRUE((*storage)->outbox().Append("t", "m", 1, false).ok());
  bool found = false;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    if (e.path().filename().string().rfind("outbox.db.corrupt-", 0) == 0) found = true;
  }
  EXPECT_TRUE(found);
}

TEST(Outbox, AlarmHistoryOutlivesConfirmationAndKeepsTheNewestRows) {
  ScratchDir dir;
  const std::string path = (dir.path() / "outbox.db").string();
  {
    auto outbox = Outbox::Open(path, /*history_rows=*/3);
    ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
    for (int i = 0; i < 5; ++i) {
      auto seq = (*outbox)->AppendAlarm(
          "p/gw/alarms/pump1", [](uint64_t s) { return "{\"seq\":" + std::to_string(s) + "}"; });
      ASSERT_TRUE(seq.ok());
      ASSERT_TRUE((*outbox)->Confirm(*seq).ok());
    }
    ASSERT_TRUE((*outbox)->Append("p/gw/status", "online", 1, true).ok());  // not an alarm
    EXPECT_EQ(*(*outbox)->Pending(), 1u);
  }
  auto outbox = Outbox::Open(path, 3);
  ASSERT_TRUE(outbox.ok());
  auto history = (*outbox)->AlarmHistory(10);
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  ASSERT_EQ(history->size(), 3u);  // the newest three of five, confirmed and still there
  EXPECT_EQ((*history)[0].seq, 3u);
  EXPECT_EQ((*history)[2].seq, 5u);
  EXPECT_EQ((*history)[2].topic, "p/gw/alarms/pump1");
  EXPECT_EQ((*history)[2].payload, R"({"seq":5})");
  EXPECT_EQ((*outbox)->AlarmHistory(1)->at(0).seq, 5u);
}

TEST(Outbox, SchemaOneIsMigratedAndKeepsItsMessagesAndSequence) {
  ScratchDir dir;
  const std::string path = (dir.path() / "outbox.db").string();
  {
    auto db = SqliteDb::Open(path, SqliteOpenOptions{});
    ASSERT_TRUE(db.ok());
    // The schema of the first release, with one unconfirmed message.
    ASSERT_TRUE(db->Exec(R"sql(
CREATE TABLE message(seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL,
  qos INTEGER NOT NULL, retained INTEGER NOT NULL, created_us INTEGER NOT NULL);
CREATE TABLE outbox_seq(id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
INSERT INTO outbox_seq VALUES (1, 42);
INSERT INTO message VALUES (41, 'p/gw/alarms/a', '{"seq":41}', 1, 0, 0);
PRAGMA user_version = 1;
)sql")
                    .ok());
  }
  auto outbox = Outbox::Open(path);
  ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
  auto pending = (*outbox)->ReadAfter(0, 10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].payload, R"({"seq":41})");
  auto seq = (*outbox)->AppendAlarm("p/gw/alarms/a", [](uint64_t s) { return std::to_string(s); });
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 42u);
  EXPECT_EQ((*outbox)->AlarmHistory(10)->size(), 1u);
}

// A row no broker takes (a flipped bit in qos, a topic with a wildcard or bad UTF-8) used to be
// handed to the publisher, whose publish of it failed at every retry, so that every alarm behind
// it waited forever. tests/fuzz/outbox_row_fuzzer checks the same contract on any damage.
TEST(Outbox, DamagedRowsAreSkippedCountedOnceAndDoNotHoldBackLaterMessages) {
  ScratchDir dir;
  const std::string path = (dir.path() / "outbox.db").string();
  auto outbox = Outbox::Open(path);
  ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE((*outbox)->Append("p/gw/alarms/a", "m" + std::to_string(i), 1, false).ok());
  }
  {
    auto db = SqliteDb::Open(path, SqliteOpenOptions{});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("UPDATE message SET qos = 7 WHERE seq = 2;"
                         "UPDATE message SET topic = 'p/+/alarms' WHERE seq = 3;"
                         "UPDATE message SET topic = CAST(x'70C0AF' AS TEXT) WHERE seq = 4")
                    .ok());
  }
  auto first = (*outbox)->ReadAfter(0, 2);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->size(), 2u);  // the limit counts messages, not the damaged rows passed
  EXPECT_EQ((*first)[0].seq, 1u);
  EXPECT_EQ((*first)[1].seq, 5u);
  EXPECT_EQ((*first)[1].payload, "m5");
  EXPECT_EQ((*outbox)->ReadAfter(1, 10)->size(), 1u);  // passes the same rows again
  EXPECT_EQ((*outbox)->damaged_rows(), 3u);            // counted once each
  EXPECT_EQ(*(*outbox)->Pending(), 5u);                // and left in the file
}

}  // namespace
}  // namespace edge::storage
