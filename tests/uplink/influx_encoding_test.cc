// The influx encoding (uplink/influx_encoding.h): each line is split by a small line protocol
// reader written from InfluxDB's documented rules (a backslash takes the next character
// literally; unescaped ',' '=' ' ' separate), and checked field by field.
#include "uplink/influx_encoding.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace edge::uplink {
namespace {

struct Point {
  std::string measurement;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> fields;  // field text as written
  std::string timestamp;
};

// Reads up to an unescaped character of `stops`, unescaping; leaves *i on the stop character.
std::string ReadUntil(const std::string& line, size_t* i, std::string_view stops) {
  std::string out;
  while (*i < line.size() && stops.find(line[*i]) == std::string_view::npos) {
    if (line[*i] == '\\' && *i + 1 < line.size()) ++*i;
    out += line[(*i)++];
  }
  return out;
}

Point ParseLine(const std::string& line) {
  Point p;
  size_t i = 0;
  p.measurement = ReadUntil(line, &i, ", ");
  while (i < line.size() && line[i] == ',') {
    ++i;
    const std::string key = ReadUntil(line, &i, "=");
    ++i;
    p.tags[key] = ReadUntil(line, &i, ", ");
  }
  EXPECT_EQ(line[i], ' ') << line;
  ++i;
  while (i < line.size() && line[i] != ' ') {
    const std::string key = ReadUntil(line, &i, "=");
    ++i;
    // Field values here are numbers, booleans or quoted strings without quotes or commas inside.
    const size_t end = line.find_first_of(", ", i);
    p.fields[key] = line.substr(i, end - i);
    i = end;
    if (line[i] == ',') ++i;
  }
  ++i;
  p.timestamp = line.substr(i);
  return p;
}

std::vector<Point> EncodeAndParse(std::string_view gateway, const std::vector<Series>& series) {
  std::string out;
  EncodeInflux({gateway, "s", 1, "", std::nullopt}, series, out);
  std::vector<Point> points;
  if (out.empty()) return points;
  EXPECT_EQ(out.back(), '\n');
  size_t start = 0;
  while (start < out.size()) {
    const size_t nl = out.find('\n', start);
    points.push_back(ParseLine(out.substr(start, nl - start)));
    start = nl + 1;
  }
  return points;
}

TEST(InfluxEncoding, OneLinePerReading) {
  std::string out;
  EncodeInflux({"gw1", "s", 1, "", std::nullopt},
               std::vector<Series>{Series{"pump1.flow", {{1'700'000'000'000'001, 1.5, false},
                                                             {0, 2, false}}}},
               out);
  EXPECT_EQ(out,
            "edge,gateway=gw1,tag=pump1.flow value=1.5 1700000000000001000\n"
            "edge,gateway=gw1,tag=pump1.flow value=2 0\n");
}

TEST(InfluxEncoding, BadAndNonFiniteReadings) {
  const double inf = std::numeric_limits<double>::infinity();
  const auto points = EncodeAndParse(
      "g", {Series{"t", {{1, 5, true}, {2, std::nan(""), false}, {3, inf, false},
                            {4, -inf, false}, {5, std::nan(""), true}}}});
  ASSERT_EQ(points.size(), 5u);
  const std::vector<std::map<std::string, std::string>> want = {
      {{"bad", "true"}}, {{"raw", "\"NaN\""}}, {{"raw", "\"+Inf\""}}, {{"raw", "\"-Inf\""}},
      {{"bad", "true"}}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(points[i].fields, want[i]) << i;
    EXPECT_EQ(points[i].timestamp, std::to_string((i + 1) * 1000)) << i;
  }
}

TEST(InfluxEncoding, ValuesReadBackExactly) {
  std::mt19937_64 rng(19);
  std::vector<Reading> readings;
  for (int i = 0; i < 3000; ++i) {
    double v = std::bit_cast<double>(rng());
    if (!std::isfinite(v)) v = -static_cast<double>(i) / 3.0;
    readings.push_back({static_cast<int64_t>(rng() % 4'000'000'000'000'000), v, false});
  }
  const auto points = EncodeAndParse("g", {Series{"t", readings}});
  ASSERT_EQ(points.size(), readings.size());
  for (size_t i = 0; i < readings.size(); ++i) {
    const Point& p = points[i];
    EXPECT_EQ(p.measurement, "edge");
    ASSERT_EQ(p.fields.size(), 1u);
    const double back = std::strtod(p.fields.at("value").c_str(), nullptr);
    EXPECT_EQ(std::bit_cast<uint64_t>(back), std::bit_cast<uint64_t>(readings[i].value)) << i;
    EXPECT_EQ(p.timestamp, std::to_string(readings[i].t_us * 1000)) << i;
  }
}

TEST(InfluxEncoding, EscapesTagValues) {
  const std::vector<std::string> names = {"a,b",        "a=b",     "a b",    "back\\slash",
                                          "trailing\\", "\\,\\ \\=", "°C 🚀", "quote\"d"};
  std::vector<Series> series;
  for (const std::string& n : names) series.push_back(Series{n, {{1, 1}}});
  const auto points = EncodeAndParse("gate way,1=x\\", series);
  ASSERT_EQ(points.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(points[i].tags.size(), 2u) << names[i];
    EXPECT_EQ(points[i].tags.at("gateway"), "gate way,1=x\\");
    EXPECT_EQ(points[i].tags.at("tag"), names[i]);
    EXPECT_EQ(points[i].fields.at("value"), "1");
  }
}

TEST(InfluxEncoding, EscapedTextIsExactlyAsDocumented) {
  std::string out;
  AppendInfluxTagValue(out, "a,b=c d\\e");
  EXPECT_EQ(out, "a\\,b\\=c\\ d\\\\e");
}

TEST(InfluxEncoding, NewlinesInATagBecomeEscapedSpaces) {
  std::string out;
  EncodeInflux({"g", "s", 1, "", std::nullopt}, std::vector<Series>{Series{"a\nb\rc", {{1, 1}}}},
               out);
  EXPECT_EQ(out, "edge,gateway=g,tag=a\\ b\\ c value=1 1000\n");
}

TEST(InfluxEncoding, VeryLongTagName) {
  std::string tag(10'000, 'y');
  tag[100] = ' ';
  tag[9999] = ',';
  const auto points = EncodeAndParse("g", {Series{tag, {{1, 1}, {2, 2}}}});
  ASSERT_EQ(points.size(), 2u);
  EXPECT_EQ(points[1].tags.at("tag"), tag);
}

TEST(InfluxEncoding, EmptySeriesGiveNoLines) {
  std::string out = "stale";
  EncodeInflux({"g", "s", 1, "", std::nullopt},
               std::vector<Series>{Series{"a", {}}, Series{"b", {}}}, out);
  EXPECT_EQ(out, "");
  const auto points = EncodeAndParse("g", {Series{"a", {}}, Series{"b", {{7, 1}}}});
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].tags.at("tag"), "b");
}

TEST(InfluxEncoding, AggregateLines) {
  Series s;
  s.tag = "t";
  s.aggregates = {{10'000'000, -1, 3.5, 1.25, 2, 4}, {20'000'000, 1e308, 1e308, std::nan(""), 1e308, 2}};
  const auto points = EncodeAndParse("g", {s});
  ASSERT_EQ(points.size(), 2u);
  const std::map<std::string, std::string> first = {
      {"min", "-1"}, {"max", "3.5"}, {"mean", "1.25"}, {"last", "2"}, {"count", "4i"}};
  EXPECT_EQ(points[0].fields, first);
  EXPECT_EQ(points[0].timestamp, "10000000000");
  // A mean that is not a number is left out; the line keeps its other fields.
  EXPECT_FALSE(points[1].fields.contains("mean"));
  EXPECT_EQ(points[1].fields.at("count"), "2i");
  EXPECT_EQ(points[1].fields.at("max"), "1e+308");
}

TEST(InfluxEncoding, SeveralSeriesInOrder) {
  const auto points =
      EncodeAndParse("g", {Series{"a", {{1, 1}, {2, 2}}}, Series{"b", {{3, 3}}}});
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].tags.at("tag"), "a");
  EXPECT_EQ(points[1].tags.at("tag"), "a");
  EXPECT_EQ(points[2].tags.at("tag"), "b");
  EXPECT_EQ(points[2].timestamp, "3000");
}

}  // namespace
}  // namespace edge::uplink
