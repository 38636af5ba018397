#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace edge {
namespace {

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_EQ(s.ExitCode(), 0);
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(Status, ToStringNamesCodeAndMessage) {
  Status s = Status::InvalidArgument("agent.yaml:3:5: unknown key 'foo'");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "agent.yaml:3:5: unknown key 'foo'");
  EXPECT_EQ(s.ToString(), "invalid argument: agent.yaml:3:5: unknown key 'foo'");
  EXPECT_EQ(Status::IoError("disk").ToString(), "I/O error: disk");
}

TEST(Status, ExitCodeFollowsDesign) {
  // DESIGN §4: 2 for bad input (config, CSV, model package), 1 for any runtime failure.
  EXPECT_EQ(Status::InvalidArgument("x").ExitCode(), 2);
  EXPECT_EQ(Status::DataLoss("corrupt manifest").ExitCode(), 2);
  for (Status s :
       {Status::NotFound("x"), Status::AlreadyExists("x"), Status::FailedPrecondition("x"),
        Status::ResourceExhausted("x"), Status::Unavailable("x"), Status::DeadlineExceeded("x"),
        Status::IoError("x"), Status::Unimplemented("x"), Status::Internal("x")}) {
    EXPECT_EQ(s.ExitCode(), 1) << s.ToString();
  }
}

TEST(Status, EveryCodeHasAName) {
  for (int c = static_cast<int>(StatusCode::kOk); c <= static_cast<int>(StatusCode::kInternal);
       ++c) {
    EXPECT_NE(StatusCodeName(static_cast<StatusCode>(c)), "unknown") << c;
  }
}

TEST(StatusOr, HoldsValueOrError) {
  StatusOr<int> v = 42;
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 42);
  EXPECT_TRUE(v.status().ok());

  StatusOr<int> e = Status::NotFound("model pump-anomaly");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(e.status().message(), "model pump-anomaly");
}

TEST(StatusOr, FromOkStatusBecomesInternalError) {
  StatusOr<int> v = Status::Ok();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInternal);
}

TEST(StatusOr, ArrowReachesMembers) {
  StatusOr<std::string> v = std::string("line3-pc1");
  EXPECT_EQ(v->size(), 9u);
}

TEST(StatusOrDeathTest, ValueOnErrorAborts) {
  StatusOr<int> e = Status::Unavailable("broker away");
  EXPECT_DEATH((void)e.value(), "broker away");
}

TEST(StatusDeathTest, CheckAbortsWithFileAndLine) {
  EXPECT_DEATH(EDGE_CHECK(1 + 1 == 3), "status_test.cc:[0-9]+: check failed: 1 \\+ 1 == 3");
}

StatusOr<int> ParsePositive(int x) {
  if (x <= 0) return Status::InvalidArgument("not positive: " + std::to_string(x));
  return x;
}

StatusOr<int> SumOfPositives(int a, int b) {
  EDGE_ASSIGN_OR_RETURN(int pa, ParsePositive(a));
  EDGE_ASSIGN_OR_RETURN(const int pb, ParsePositive(b));  // two on adjacent lines
  return pa + pb;
}

StatusOr<int> SumOnOneLine(int a, int b) {
  // clang-format off
  EDGE_ASSIGN_OR_RETURN(int pa, ParsePositive(a)); EDGE_ASSIGN_OR_RETURN(int pb, ParsePositive(b));
  // clang-format on
  return pa + pb;
}

TEST(StatusMacros, AssignOrReturnTwiceOnOneLine) {
  EXPECT_EQ(*SumOnOneLine(1, 2), 3);
  EXPECT_FALSE(SumOnOneLine(1, 0).ok());
}

TEST(StatusMacros, AssignOrReturnAssignsOrPropagates) {
  StatusOr<int> ok = SumOfPositives(2, 3);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);

  StatusOr<int> bad = SumOfPositives(2, -7);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "not positive: -7");
}

StatusOr<std::unique_ptr<int>> MakeBox(int v) { return std::make_unique<int>(v); }

StatusOr<int> Unbox(int v) {
  EDGE_ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(v));  // move-only value
  return *box;
}

TEST(StatusMacros, AssignOrReturnMovesMoveOnlyValues) {
  StatusOr<int> v = Unbox(9);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 9);
}

int g_steps = 0;
Status Step(bool fail) {
  ++g_steps;
  return fail ? Status::IoError("step failed") : Status::Ok();
}
Status TwoSteps(bool fail_first) {
  EDGE_RETURN_IF_ERROR(Step(fail_first));
  EDGE_RETURN_IF_ERROR(Step(false));
  return Status::Ok();
}

TEST(StatusMacros, ReturnIfErrorStopsAtFirstError) {
  g_steps = 0;
  EXPECT_TRUE(TwoSteps(false).ok());
  EXPECT_EQ(g_steps, 2);

  g_steps = 0;
  Status s = TwoSteps(true);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(g_steps, 1);
}

}  // namespace
}  // namespace edge
