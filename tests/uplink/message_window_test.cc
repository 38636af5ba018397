// MessageWindow: seq assignment, write-ahead before publishing, confirmation in order, and
// sending again what the broker refused or never answered (uplink/message_window.h).
#include "uplink/message_window.h"

#include <gtest/gtest.h>

#include <chrono>

namespace edge::uplink {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

MessagePlan Plan(int64_t tag, int64_t from, int64_t to) {
  MessagePlan p;
  p.ranges.push_back({tag, from, to, "", ""});
  return p;
}

TEST(MessageWindowTest, SeqsAreGivenInOrderAndNothingIsSentBeforeItIsWritten) {
  MessageWindow w(8, 1 << 20);
  w.set_next_seq(41);
  w.Add(Plan(1, 0, 10), "t", "a", 10, true);
  w.Add(Plan(1, 10, 20), "t", "b", 10, true);
  ASSERT_EQ(w.Unwritten().size(), 2u);
  EXPECT_EQ(w.Unwritten()[0]->seq, 41u);
  EXPECT_EQ(w.Unwritten()[1]->seq, 42u);
  EXPECT_EQ(w.next_seq(), 43u);
  EXPECT_EQ(w.NextToSend(), nullptr) << "a message went out before its plan was stored";
  w.MarkAllWritten();
  WindowEntry* first = w.NextToSend();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->seq, 41u);
  w.MarkSent(first, Clock::now());
  ASSERT_NE(w.NextToSend(), nullptr);
  EXPECT_EQ(w.NextToSend()->seq, 42u);
}

TEST(MessageWindowTest, ConfirmationsAreTakenOnlyAsAnUnbrokenPrefix) {
  MessageWindow w(8, 1 << 20);
  for (int i = 0; i < 3; ++i) w.Add(Plan(1, i * 10, i * 10 + 10), "t", "p", 10, true);
  w.MarkAllWritten();
  while (WindowEntry* e = w.NextToSend()) w.MarkSent(e, Clock::now());
  w.OnResult(2, true);
  w.OnResult(3, true);
  EXPECT_TRUE(w.TakeConfirmed().empty()) << "seq 2 and 3 committed before seq 1";
  w.OnResult(1, true);
  const std::vector<WindowEntry> done = w.TakeConfirmed();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].seq, 1u);
  EXPECT_EQ(done[2].plan.ranges[0].to_ord, 30);
  EXPECT_TRUE(w.empty());
}

TEST(MessageWindowTest, ARefusedMessageGoesAgainWithItsSeqAndPayload) {
  MessageWindow w(8, 1 << 20);
  w.Add(Plan(1, 0, 5), "t", "payload-1", 5, true);
  w.MarkAllWritten();
  WindowEntry* e = w.NextToSend();
  w.MarkSent(e, Clock::now());
  EXPECT_EQ(w.NextToSend(), nullptr);
  w.OnResult(1, false);
  e = w.NextToSend();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->seq, 1u);
  EXPECT_EQ(e->payload, "payload-1");
}

TEST(MessageWindowTest, UnansweredMessagesAreSentAgainAfterTheirTime) {
  MessageWindow w(8, 1 << 20);
  w.Add(Plan(1, 0, 5), "t", "a", 5, true);
  w.Add(Plan(1, 5, 9), "t", "b", 4, true);
  w.MarkAllWritten();
  const Clock::time_point t0 = Clock::now();
  w.MarkSent(w.NextToSend(), t0);
  w.MarkSent(w.NextToSend(), t0 + seconds(30));
  EXPECT_EQ(w.ResendSentBefore(t0 + seconds(10)), 1u);
  ASSERT_NE(w.NextToSend(), nullptr);
  EXPECT_EQ(w.NextToSend()->seq, 1u);
}

TEST(MessageWindowTest, CursorMovesTakeNoSeqAndCommitInOrder) {
  MessageWindow w(8, 1 << 20);
  w.Add(Plan(1, 0, 5), "t", "a", 5, true);
  w.Add(Plan(1, 5, 50), "", "", 0, false);  // readings inside the deadband: nothing to send
  w.Add(Plan(1, 50, 51), "t", "c", 1, true);
  EXPECT_EQ(w.Unwritten().size(), 2u);
  EXPECT_EQ(w.next_seq(), 3u);
  w.MarkAllWritten();
  while (WindowEntry* e = w.NextToSend()) w.MarkSent(e, Clock::now());
  w.OnResult(2, true);
  EXPECT_TRUE(w.TakeConfirmed().empty());
  w.OnResult(1, true);
  EXPECT_EQ(w.TakeConfirmed().size(), 3u);
}

TEST(MessageWindowTest, RoomIsBoundedByMessagesAndBytes) {
  MessageWindow by_count(2, 1 << 20);
  by_count.Add(Plan(1, 0, 1), "t", "a", 1, true);
  EXPECT_TRUE(by_count.HasRoom());
  by_count.Add(Plan(1, 1, 2), "t", "b", 1, true);
  EXPECT_FALSE(by_count.HasRoom());

  MessageWindow by_bytes(100, 10);
  by_bytes.Add(Plan(1, 0, 1), "t", std::string(11, 'x'), 1, true);
  EXPECT_FALSE(by_bytes.HasRoom());
}

TEST(MessageWindowTest, RestoredMessagesKeepTheirSeqAndMoveTheNextOne) {
  MessageWindow w(8, 1 << 20);
  w.set_next_seq(5);
  w.Restore(7, Plan(1, 0, 3), "t", "x", 3);
  EXPECT_EQ(w.next_seq(), 8u);
  EXPECT_TRUE(w.Unwritten().empty());
  ASSERT_NE(w.NextToSend(), nullptr);
  EXPECT_EQ(w.NextToSend()->seq, 7u);
}

}  // namespace
}  // namespace edge::uplink
