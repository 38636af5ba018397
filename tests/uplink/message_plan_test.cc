// MessagePlan round trips through its stored form, and a damaged stored plan is refused with a
// reason instead of being half-read (uplink/message_plan.h).
#include "uplink/message_plan.h"

#include <gtest/gtest.h>

#include <string>

namespace edge::uplink {
namespace {

MessagePlan DataPlan() {
  MessagePlan plan;
  plan.kind = MessagePlan::Kind::kData;
  plan.ranges.push_back({7, 100, 250, std::string("\x01\x00\xff state", 10), "end", true});
  plan.ranges.push_back({9, 0, 0, "", std::string(300, '\x7f')});
  plan.flush_us = 1'765'000'000'000'000;
  return plan;
}

TEST(MessagePlanTest, DataPlanRoundTrips) {
  const MessagePlan plan = DataPlan();
  StatusOr<MessagePlan> back = LoadPlan(SavePlan(plan));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, plan);
}

TEST(MessagePlanTest, GapAndPayloadPlansKeepTopicAndPayload) {
  MessagePlan gap;
  gap.kind = MessagePlan::Kind::kGap;
  gap.ranges.push_back({3, 10, 20, "s", "s"});
  gap.topic = "plant1/gw/telemetry/raw/gap";
  gap.payload = R"({"gateway":"gw","stream":"raw","from":1,"to":2,"readings":10})";
  StatusOr<MessagePlan> back = LoadPlan(SavePlan(gap));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, gap);

  MessagePlan payload;
  payload.kind = MessagePlan::Kind::kPayload;
  payload.topic = "plant1/gw/telemetry/alarm-context";
  payload.payload = std::string("binary\0payload", 14);
  back = LoadPlan(SavePlan(payload));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->payload.size(), 14u);
  EXPECT_EQ(*back, payload);
}

TEST(MessagePlanTest, EveryTruncationIsRefused) {
  const std::string bytes = SavePlan(DataPlan());
  for (size_t n = 0; n < bytes.size(); ++n) {
    StatusOr<MessagePlan> back = LoadPlan(std::string_view(bytes).substr(0, n));
    EXPECT_FALSE(back.ok()) << "a plan cut to " << n << " of " << bytes.size()
                            << " bytes was accepted";
    if (!back.ok()) {
      EXPECT_EQ(back.status().code(), StatusCode::kDataLoss);
    }
  }
}

TEST(MessagePlanTest, ForeignOrInconsistentPlansAreRefused) {
  EXPECT_FALSE(LoadPlan("not cbor at all").ok());
  EXPECT_FALSE(LoadPlan("").ok());
  MessagePlan backwards = DataPlan();
  backwards.ranges[0].to_ord = backwards.ranges[0].from_ord - 1;
  StatusOr<MessagePlan> back = LoadPlan(SavePlan(backwards));
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find("range ends before it starts"), std::string::npos);
}

}  // namespace
}  // namespace edge::uplink
