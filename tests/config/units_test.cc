#include "config/units.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace edge::config {
namespace {

using std::chrono::milliseconds;

milliseconds Ms(std::string_view text) {
  auto d = ParseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status().message();
  return d.ok() ? *d : milliseconds(-1);
}

std::string DurationError(std::string_view text) {
  auto d = ParseDuration(text);
  EXPECT_FALSE(d.ok()) << text << " parsed as " << (d.ok() ? d->count() : 0) << " ms";
  return d.ok() ? "" : d.status().message();
}

// What ParseSize or ParseRate made of `text`, which must parse (0 if it does not).
uint64_t Parsed(const StatusOr<uint64_t>& r, std::string_view text) {
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? *r : 0;
}

// The message ParseSize or ParseRate gave for `text`, which must fail.
std::string Rejection(const StatusOr<uint64_t>& r, std::string_view text) {
  EXPECT_FALSE(r.ok()) << text << " parsed as " << (r.ok() ? *r : 0);
  return r.ok() ? "" : r.status().message();
}

uint64_t Bytes(std::string_view text) { return Parsed(ParseSize(text), text); }
std::string SizeError(std::string_view text) { return Rejection(ParseSize(text), text); }
uint64_t Rate(std::string_view text) { return Parsed(ParseRate(text), text); }
std::string RateError(std::string_view text) { return Rejection(ParseRate(text), text); }

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(Ms("250ms"), milliseconds(250));
  EXPECT_EQ(Ms("5s"), milliseconds(5000));
  EXPECT_EQ(Ms("10m"), milliseconds(600000));
  EXPECT_EQ(Ms("2h"), milliseconds(7200000));
  EXPECT_EQ(Ms("7d"), milliseconds(7LL * 24 * 3600 * 1000));
  EXPECT_EQ(Ms("0s"), milliseconds(0));
}

TEST(ParseDuration, AcceptsFractionsThatAreWholeMilliseconds) {
  EXPECT_EQ(Ms("1.5s"), milliseconds(1500));
  EXPECT_EQ(Ms("0.25m"), milliseconds(15000));
  EXPECT_EQ(Ms("0.001s"), milliseconds(1));
  EXPECT_EQ(Ms("1.0000000000s"), milliseconds(1000));  // zeros beyond 9 digits are harmless
  EXPECT_EQ(DurationError("0.5ms"), "'0.5ms' is not a whole number of milliseconds");
  EXPECT_EQ(DurationError("0.0001s"), "'0.0001s' is not a whole number of milliseconds");
}

TEST(ParseDuration, AddsCompoundParts) {
  EXPECT_EQ(Ms("1h30m"), milliseconds(90 * 60 * 1000));
  EXPECT_EQ(Ms("1m30s"), milliseconds(90 * 1000));
  EXPECT_EQ(Ms("2s500ms"), milliseconds(2500));
}

TEST(ParseDuration, BareNumberNeedsAUnit) {
  EXPECT_EQ(DurationError("100"), "'100' needs a unit (ms, s, m, h, d), e.g. 100ms or 100s");
  EXPECT_EQ(DurationError("1.5"), "'1.5' needs a unit (ms, s, m, h, d), e.g. 1.5s");
  EXPECT_EQ(DurationError("0"), "'0' needs a unit (ms, s, m, h, d), e.g. 0ms or 0s");
}

TEST(ParseDuration, RejectsSignsAndJunk) {
  EXPECT_EQ(DurationError("-5s"), "'-5s' is negative; durations are >= 0");
  EXPECT_EQ(DurationError("+5s"), "'+5s': write the duration without a sign");
  EXPECT_EQ(DurationError(""), "empty duration; write e.g. 5s");
  EXPECT_EQ(DurationError("5 s"), "'5 s': write the number and its unit without a space");
  EXPECT_EQ(DurationError("5sec"), "'5sec': unknown unit 'sec'; use ms, s, m, h or d");
  EXPECT_EQ(DurationError("1w"), "'1w': unknown unit 'w'; use ms, s, m, h or d");
  EXPECT_EQ(DurationError("fast"), "'fast' is not a duration; write e.g. 250ms, 5s, 10m, 2h, 7d");
  EXPECT_EQ(DurationError("5s "), "'5s ' is not a duration; write e.g. 250ms, 5s, 10m, 2h, 7d");
  EXPECT_EQ(DurationError(".5s"), "'.5s' is not a duration; write e.g. 250ms, 5s, 10m, 2h, 7d");
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_EQ(DurationError("99999999999999999999d"), "'99999999999999999999d' is too large");
  EXPECT_EQ(DurationError("9999999999999d"), "'9999999999999d' is too large");
}

TEST(FormatDuration, UsesTheLargestExactUnit) {
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(5000)), "5s");
  EXPECT_EQ(FormatDuration(milliseconds(90000)), "90s");
  EXPECT_EQ(FormatDuration(milliseconds(600000)), "10m");
  EXPECT_EQ(FormatDuration(std::chrono::hours(2)), "2h");
  EXPECT_EQ(FormatDuration(std::chrono::hours(24 * 7)), "7d");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(-5000)), "-5s");
}

TEST(FormatDuration, RoundTripsThroughParseDuration) {
  for (int64_t ms : {1LL, 999LL, 1000LL, 61000LL, 3600000LL, 86400000LL, 123456789LL}) {
    EXPECT_EQ(Ms(FormatDuration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
}

TEST(ParseSize, AcceptsBinaryAndDecimalUnits) {
  EXPECT_EQ(Bytes("4096"), 4096u);
  EXPECT_EQ(Bytes("4096B"), 4096u);
  EXPECT_EQ(Bytes("1KiB"), 1024u);
  EXPECT_EQ(Bytes("512MiB"), 512ull << 20);
  EXPECT_EQ(Bytes("2GiB"), 2ull << 30);
  EXPECT_EQ(Bytes("1TiB"), 1ull << 40);
  EXPECT_EQ(Bytes("1kB"), 1000u);
  EXPECT_EQ(Bytes("100MB"), 100'000'000u);
  EXPECT_EQ(Bytes("2GB"), 2'000'000'000u);
  EXPECT_EQ(Bytes("3TB"), 3'000'000'000'000u);
}

TEST(ParseSize, RoundsFractionsDown) {
  EXPECT_EQ(Bytes("1.5GiB"), 3ull << 29);
  EXPECT_EQ(Bytes("0.1KiB"), 102u);
  EXPECT_EQ(SizeError("1.5"), "'1.5' is not a whole number of bytes");
}

TEST(ParseSize, RejectsUnknownAndAmbiguousUnits) {
  EXPECT_EQ(SizeError("512KB"), "'512KB': unknown unit 'KB'; use kB (1000) or KiB (1024)");
  EXPECT_EQ(SizeError("4gb"),
            "'4gb': unknown unit 'gb'; use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB");
  EXPECT_EQ(SizeError("2 GiB"), "'2 GiB': write the number and its unit without a space");
  EXPECT_EQ(SizeError("-1MiB"), "'-1MiB' is negative; sizes are >= 0");
  EXPECT_EQ(SizeError("big"), "'big' is not a size; write e.g. 512MiB, 2GiB, 100MB");
  EXPECT_EQ(SizeError(""), "empty size; write e.g. 512MiB");
}

TEST(ParseSize, RejectsOverflow) {
  EXPECT_EQ(Bytes("18446744073709551615"), 18446744073709551615ull);
  EXPECT_EQ(SizeError("18446744073709551616"), "'18446744073709551616' is too large");
  EXPECT_EQ(SizeError("20000000TiB"), "'20000000TiB' is too large");
}

TEST(FormatSize, UsesTheLargestExactBinaryUnit) {
  EXPECT_EQ(FormatSize(2ull << 30), "2GiB");
  EXPECT_EQ(FormatSize(512ull << 20), "512MiB");
  EXPECT_EQ(FormatSize(1ull << 20), "1MiB");
  EXPECT_EQ(FormatSize(1000), "1000B");
  EXPECT_EQ(FormatSize(0), "0B");
}

TEST(ParseRate, AcceptsASizePerSecondAndZero) {
  EXPECT_EQ(Rate("256KiB/s"), 256u * 1024);
  EXPECT_EQ(Rate("1MB/s"), 1'000'000u);
  EXPECT_EQ(Rate("500B/s"), 500u);
  EXPECT_EQ(Rate("1.5KiB/s"), 1536u);
  EXPECT_EQ(Rate("2GiB/s"), 2ull << 30);
  EXPECT_EQ(Rate("0"), 0u);  // no limit
}

TEST(ParseRate, NeedsPerSecondAndAUnit) {
  EXPECT_EQ(RateError("256KiB"),
            "'256KiB': a rate needs '/s' (bytes per second), e.g. 256KiB/s; 0 means no limit");
  EXPECT_EQ(RateError("1000"),
            "'1000': a rate needs '/s' (bytes per second), e.g. 1000B/s; 0 means no limit");
  EXPECT_EQ(RateError("1000/s"), "'1000/s' needs a unit, e.g. 1000B/s or 1000KiB/s");
  EXPECT_EQ(RateError("1MB/min"), "'1MB/min': write the rate per second, e.g. 256KiB/s");
  EXPECT_EQ(RateError("/s"), "'/s' needs a size, e.g. 256KiB/s");
  EXPECT_EQ(RateError(""), "empty rate; write e.g. 256KiB/s, or 0 for no limit");
}

TEST(ParseRate, RejectsWhatWouldSilentlyMeanUnlimited) {
  // 0 is "no limit": a rate written with a unit that rounds to 0 must not become one.
  EXPECT_EQ(RateError("0.5B/s"), "'0.5B/s' is less than one byte per second; write 0 for no limit");
  EXPECT_EQ(RateError("0KiB/s"), "'0KiB/s' is less than one byte per second; write 0 for no limit");
  EXPECT_EQ(RateError("-1KiB/s"), "'-1KiB/s' is negative; write 0 for no limit");
}

TEST(ParseRate, QuotesTheWholeRateInSizeErrors) {
  EXPECT_EQ(RateError("1Mbit/s"),
            "'1Mbit/s': unknown unit 'Mbit'; use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB");
  EXPECT_EQ(RateError("512KB/s"), "'512KB/s': unknown unit 'KB'; use kB (1000) or KiB (1024)");
  EXPECT_EQ(RateError("20000000TiB/s"), "'20000000TiB/s' is too large");
}

TEST(FormatRate, RoundTrips) {
  EXPECT_EQ(FormatRate(0), "0");
  EXPECT_EQ(FormatRate(256u * 1024), "256KiB/s");
  EXPECT_EQ(FormatRate(1'000'000), "1000000B/s");
  for (uint64_t r : {uint64_t{0}, uint64_t{1}, uint64_t{1536}, uint64_t{5} << 30}) {
    EXPECT_EQ(Rate(FormatRate(r)), r) << FormatRate(r);
  }
}

}  // namespace
}  // namespace edge::config
