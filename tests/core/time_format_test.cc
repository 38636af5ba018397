#include "core/time_format.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>

namespace edge {
namespace {

using namespace std::chrono_literals;
using std::chrono::sys_days;

Timestamp At(std::chrono::year_month_day ymd, std::chrono::microseconds tod) {
  return Timestamp{sys_days{ymd}} + tod;
}

TEST(FormatRfc3339Millis, FormatsUtcWithThreeFractionDigits) {
  EXPECT_EQ(FormatRfc3339Millis(Timestamp{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(At(2026y / 11 / 23, 10h + 123ms)), "2026-11-23T10:00:00.123Z");
  EXPECT_EQ(FormatRfc3339Millis(At(2024y / 2 / 29, 23h + 59min + 59s + 7ms)),
            "2024-02-29T23:59:59.007Z");
}

TEST(FormatRfc3339Millis, TruncatesTowardThePast) {
  EXPECT_EQ(FormatRfc3339Millis(At(2026y / 11 / 23, 10h + 123999us)), "2026-11-23T10:00:00.123Z");
  // Before the epoch, truncation toward zero would give the wrong second.
  EXPECT_EQ(FormatRfc3339Millis(Timestamp{-1us}), "1969-12-31T23:59:59.999Z");
}

TEST(FormatRfc3339Millis, AppendsWithoutClearing) {
  std::string row = "ts=";
  AppendRfc3339Millis(Timestamp{}, row);
  EXPECT_EQ(row, "ts=1970-01-01T00:00:00.000Z");
}

TEST(ParseRfc3339, ParsesUtc) {
  auto t = ParseRfc3339("2026-11-23T10:00:00.123Z");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(*t, At(2026y / 11 / 23, 10h + 123ms));

  t = ParseRfc3339("2026-11-20T10:00:00Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, At(2026y / 11 / 20, 10h));
}

TEST(ParseRfc3339, ParsesFractionsOfAnyLength) {
  EXPECT_EQ(*ParseRfc3339("2026-11-23T10:00:00.1Z"), At(2026y / 11 / 23, 10h + 100ms));
  EXPECT_EQ(*ParseRfc3339("2026-11-23T10:00:00.000250Z"), At(2026y / 11 / 23, 10h + 250us));
  // Past microseconds: truncated.
  EXPECT_EQ(*ParseRfc3339("2026-11-23T10:00:00.123456789Z"), At(2026y / 11 / 23, 10h + 123456us));
}

TEST(ParseRfc3339, AppliesNumericOffsets) {
  const Timestamp utc = At(2026y / 11 / 23, 10h);
  EXPECT_EQ(*ParseRfc3339("2026-11-23T11:00:00+01:00"), utc);
  EXPECT_EQ(*ParseRfc3339("2026-11-23T04:30:00-05:30"), utc);
  EXPECT_EQ(*ParseRfc3339("2026-11-23T10:00:00-00:00"), utc);
  // The offset carries across a date boundary.
  EXPECT_EQ(*ParseRfc3339("2026-11-24T00:30:00+14:30"), utc);
}

TEST(ParseRfc3339, AcceptsLowercaseAndSpaceSeparator) {
  const Timestamp utc = At(2026y / 11 / 23, 10h);
  EXPECT_EQ(*ParseRfc3339("2026-11-23t10:00:00z"), utc);
  EXPECT_EQ(*ParseRfc3339("2026-11-23 10:00:00Z"), utc);
}

TEST(ParseRfc3339, ReadsLeapSecondAsEndOfMinute) {
  EXPECT_EQ(*ParseRfc3339("2016-12-31T23:59:60Z"), At(2016y / 12 / 31, 24h - 1us));
}

TEST(ParseRfc3339, RoundTripsFormattedTimes) {
  std::mt19937_64 rng(20261123);
  // Milliseconds from 1970 to 2100.
  std::uniform_int_distribution<int64_t> ms(0, 4'102'444'800'000);
  for (int i = 0; i < 2000; ++i) {
    const Timestamp t{std::chrono::milliseconds(ms(rng))};
    const std::string text = FormatRfc3339Millis(t);
    auto back = ParseRfc3339(text);
    ASSERT_TRUE(back.ok()) << text << ": " << back.status().ToString();
    EXPECT_EQ(*back, t) << text;
  }
}

TEST(ParseRfc3339, RejectsMalformedText) {
  for (const char* bad : {
           "",
           "2026-11-23",                // no time
           "2026-11-23T10:00:00",       // no zone
           "2026-11-23T10:00Z",         // no seconds
           "2026-1-23T10:00:00Z",       // one-digit month
           "2026/11/23T10:00:00Z",      // wrong separators
           "2026-11-23X10:00:00Z",      // wrong date/time separator
           "2026-11-23T10:00:00.Z",     // empty fraction
           "2026-11-23T10:00:00,5Z",    // comma fraction
           "2026-11-23T10:00:00+0100",  // offset without colon
           "2026-11-23T10:00:00+1:00",  // one-digit offset hour
           "2026-11-23T10:00:00Z ",     // trailing space
           "2026-11-23T10:00:00ZZ",     // trailing garbage
           " 2026-11-23T10:00:00Z",     // leading space
           "-10m",                      // a relative time is not RFC 3339
           "1700000000000",             // epoch ms is not RFC 3339
       }) {
    auto t = ParseRfc3339(bad);
    ASSERT_FALSE(t.ok()) << "accepted '" << bad << "'";
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(t.status().message().find(std::string("'") + bad + "'"), std::string::npos)
        << t.status().message();
  }
}

TEST(ParseRfc3339, RejectsOutOfRangeFields) {
  for (const char* bad : {
           "2026-13-01T00:00:00Z",       // month 13
           "2026-00-10T00:00:00Z",       // month 0
           "2026-02-29T00:00:00Z",       // not a leap year
           "2026-04-31T00:00:00Z",       // April has 30 days
           "2026-11-00T00:00:00Z",       // day 0
           "2026-11-23T24:00:00Z",       // hour 24
           "2026-11-23T10:60:00Z",       // minute 60
           "2026-11-23T10:00:61Z",       // second 61
           "2026-11-23T10:00:00+24:00",  // offset hour 24
           "2026-11-23T10:00:00+01:60",  // offset minute 60
       }) {
    auto t = ParseRfc3339(bad);
    EXPECT_FALSE(t.ok()) << "accepted '" << bad << "'";
  }
}

}  // namespace
}  // namespace edge
