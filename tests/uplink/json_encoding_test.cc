// The json encoding (uplink/json_encoding.h): every payload is parsed back with nlohmann and
// compared field by field with what went in.
#include "uplink/json_encoding.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace edge::uplink {
namespace {

using nlohmann::json;

json EncodeAndParse(const MessageHeader& h, const std::vector<Series>& series) {
  std::string out;
  EncodeJson(h, series, out);
  return json::parse(out);  // throws (failing the test) on anything that is not JSON
}

TEST(JsonEncoding, WritesHeaderAndReadings) {
  const MessageHeader h{"gw-1", "raw", 42, "", std::nullopt};
  const json j = EncodeAndParse(
      h, {Series{"pump1.flow", {{1'700'000'000'000'000, 1.5, false},
                                   {1'700'000'000'100'000, -2.25, false}}}});
  EXPECT_EQ(j["gateway"], "gw-1");
  EXPECT_EQ(j["stream"], "raw");
  EXPECT_EQ(j["seq"].get<uint64_t>(), 42u);
  EXPECT_FALSE(j.contains("asset"));
  EXPECT_FALSE(j.contains("alarm_seq"));
  ASSERT_EQ(j["series"].size(), 1u);
  const json& s = j["series"][0];
  EXPECT_EQ(s["tag"], "pump1.flow");
  EXPECT_EQ(s["t"], json::array({1'700'000'000'000'000, 1'700'000'000'100'000}));
  EXPECT_EQ(s["v"][0].get<double>(), 1.5);
  EXPECT_EQ(s["v"][1].get<double>(), -2.25);
  EXPECT_FALSE(s.contains("min"));
}

TEST(JsonEncoding, SeqUsesTheWholeUnsignedRange) {
  const uint64_t seq = std::numeric_limits<uint64_t>::max();
  const json j = EncodeAndParse({"g", "s", seq, "", std::nullopt}, {Series{"a", {{1, 1}}}});
  EXPECT_EQ(j["seq"].get<uint64_t>(), seq);
}

TEST(JsonEncoding, AlarmContextAddsAssetAndAlarmSeq) {
  const json j = EncodeAndParse({"g", "alarm-context", 7, "pump \"A\"", uint64_t{99}},
                                {Series{"a", {{1, 1}}}});
  EXPECT_EQ(j["asset"], "pump \"A\"");
  EXPECT_EQ(j["alarm_seq"].get<uint64_t>(), 99u);
  EXPECT_EQ(j["stream"], "alarm-context");
}

TEST(JsonEncoding, BadAndNonFiniteValuesAreNull) {
  const double inf = std::numeric_limits<double>::infinity();
  const json j = EncodeAndParse(
      {"g", "s", 1, "", std::nullopt},
      {Series{"a", {{1, 3.0, true}, {2, std::nan(""), false}, {3, inf, false},
                       {4, -inf, false}, {5, 0.5, false}}}});
  const json& v = j["series"][0]["v"];
  ASSERT_EQ(v.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(v[i].is_null()) << i;
  EXPECT_EQ(v[4].get<double>(), 0.5);
}

TEST(JsonEncoding, NumbersReadBackExactly) {
  std::mt19937_64 rng(18);
  std::vector<Reading> readings;
  for (int i = 0; i < 5000; ++i) {
    // Random bit patterns cover subnormals, huge and tiny exponents; non-finite ones are skipped.
    double v = std::bit_cast<double>(rng());
    if (!std::isfinite(v)) v = static_cast<double>(i) / 7.0;
    readings.push_back({static_cast<int64_t>(rng() >> 2), v, false});
  }
  readings.push_back({0, -0.0, false});
  readings.push_back({1, std::numeric_limits<double>::denorm_min(), false});
  readings.push_back({2, std::numeric_limits<double>::max(), false});
  const json j = EncodeAndParse({"g", "s", 1, "", std::nullopt}, {Series{"a", readings}});
  const json& s = j["series"][0];
  ASSERT_EQ(s["v"].size(), readings.size());
  for (size_t i = 0; i < readings.size(); ++i) {
    EXPECT_EQ(s["t"][i].get<int64_t>(), readings[i].t_us) << i;
    const double back = s["v"][i].get<double>();
    // "-0" is a JSON integer to nlohmann, so -0.0 reads back as 0: equal, not the same bits.
    if (readings[i].value == 0) {
      EXPECT_EQ(back, 0.0);
    } else {
      EXPECT_EQ(std::bit_cast<uint64_t>(back), std::bit_cast<uint64_t>(readings[i].value)) << i;
    }
  }
}

TEST(JsonEncoding, EscapesStringsAsJson) {
  const std::vector<std::string> names = {
      "quote\"d",  "back\\slash", "ctl\x01\x1f", "new\nline\ttab\r", "température°C",
      "日本語タグ", "emoji 🚀",   "slash/and,comma=eq space"};
  std::vector<Series> series;
  for (const std::string& n : names) series.push_back(Series{n, {{1, 2}}});
  std::string out;
  EncodeJson({"gw \"x\"", "s\\t", 1, "", std::nullopt}, series, out);
  // A raw control character inside a JSON string is invalid: none may reach the payload.
  for (const char c : out) EXPECT_GE(static_cast<unsigned char>(c), 0x20u);
  const json j = json::parse(out);
  EXPECT_EQ(j["gateway"], "gw \"x\"");
  EXPECT_EQ(j["stream"], "s\\t");
  ASSERT_EQ(j["series"].size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(j["series"][i]["tag"], names[i]);
}

TEST(JsonEncoding, InvalidUtf8InANameIsReplacedNotThrown) {
  const json j = EncodeAndParse({"g", "s", 1, "", std::nullopt},
                                {Series{std::string("bad\xff\xfe") + "name", {{1, 2}}}});
  EXPECT_EQ(j["series"][0]["tag"], "bad\xEF\xBF\xBD\xEF\xBF\xBDname");  // two U+FFFD
}

TEST(JsonEncoding, VeryLongTagName) {
  std::string tag(10'000, 'x');
  tag[5000] = '"';
  const json j = EncodeAndParse({"g", "s", 1, "", std::nullopt}, {Series{tag, {{1, 2}}}});
  EXPECT_EQ(j["series"][0]["tag"], tag);
}

TEST(JsonEncoding, EmptySeriesAreSkipped) {
  const json j = EncodeAndParse({"g", "s", 3, "", std::nullopt},
                                {Series{"empty1", {}}, Series{"full", {{1, 2}}},
                                 Series{"empty2", {}}});
  ASSERT_EQ(j["series"].size(), 1u);
  EXPECT_EQ(j["series"][0]["tag"], "full");
  const json none = EncodeAndParse({"g", "s", 4, "", std::nullopt}, {Series{"e", {}}});
  EXPECT_EQ(none["series"], json::array());
}

TEST(JsonEncoding, AggregateSeriesHaveTheFiveArrays) {
  Series s;
  s.tag = "t";
  s.aggregates = {{10'000'000, 1, 3, 2, 3, 4}, {20'000'000, -1.5, 0.25, -0.5, 0, 2}};
  const json j = EncodeAndParse({"g", "agg", 1, "", std::nullopt}, {s});
  const json& a = j["series"][0];
  EXPECT_FALSE(a.contains("v"));
  EXPECT_EQ(a["t"], json::array({10'000'000, 20'000'000}));
  EXPECT_EQ(a["min"], json::array({1.0, -1.5}));
  EXPECT_EQ(a["max"], json::array({3.0, 0.25}));
  EXPECT_EQ(a["mean"], json::array({2.0, -0.5}));
  EXPECT_EQ(a["last"], json::array({3.0, 0.0}));
  EXPECT_EQ(a["count"], json::array({4, 2}));
  EXPECT_TRUE(a["count"][0].is_number_integer());
}

TEST(JsonEncoding, NonFiniteMeanIsNull) {
  Series s;
  s.tag = "t";
  s.aggregates = {{0, 1e308, 1e308, std::nan(""), 1e308, 2}};
  const json j = EncodeAndParse({"g", "agg", 1, "", std::nullopt}, {s});
  EXPECT_TRUE(j["series"][0]["mean"][0].is_null());
  EXPECT_EQ(j["series"][0]["max"][0].get<double>(), 1e308);
}

TEST(JsonEncoding, ASeriesWithBothKindsGivesTwoEntries) {
  Series s = Series{"t", {{5, 1}}};
  s.aggregates = {{0, 1, 1, 1, 1, 1}};
  const json j = EncodeAndParse({"g", "s", 1, "", std::nullopt}, {s});
  ASSERT_EQ(j["series"].size(), 2u);
  EXPECT_TRUE(j["series"][0].contains("v"));
  EXPECT_TRUE(j["series"][1].contains("mean"));
}

TEST(JsonEncoding, ReusesTheOutputString) {
  std::string out = "stale content that must go";
  EncodeJson({"g", "s", 1, "", std::nullopt}, std::vector<Series>{Series{"a", {{1, 2}}}}, out);
  EXPECT_EQ(out, R"({"gateway":"g","stream":"s","seq":1,"series":[{"tag":"a","t":[1],"v":[2]}]})");
}

TEST(JsonEncoding, GapMessage) {
  const std::string gap = EncodeGap("gw\"1", "raw", 1'000, 2'000'000, 12345);
  const json j = json::parse(gap);
  EXPECT_EQ(j.size(), 5u);
  EXPECT_EQ(j["gateway"], "gw\"1");
  EXPECT_EQ(j["stream"], "raw");
  EXPECT_EQ(j["from"].get<int64_t>(), 1'000);
  EXPECT_EQ(j["to"].get<int64_t>(), 2'000'000);
  EXPECT_EQ(j["readings"].get<int64_t>(), 12345);
}

}  // namespace
}  // namespace edge::uplink
