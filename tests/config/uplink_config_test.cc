// The uplink section (DESIGN §10): telemetry streams and the alarm context, loaded from YAML into
// config::UplinkConfig, with the defaults of config/REFERENCE.md and an error naming the key
// for every rule. Positions are checked by the bad corpus (tests/config/bad/uplink-*.yaml).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config_loader.h"

namespace edge::config {
namespace {

using namespace std::chrono_literals;
using Mode = TelemetryStream::Mode;
using Encoding = TelemetryStream::Encoding;

constexpr char kHead[] =
    "gateway: {id: gw1}\n"
    "upstream: {broker: tcp://127.0.0.1:1883, topic_prefix: plant1}\n";

// A file with an upstream section and `uplink` as the uplink section's body.
std::string WithUplink(const std::string& uplink) {
  return kHead + std::string("uplink:\n") + uplink;
}

// A file with one telemetry stream made of `lines` ("key: value" each, at stream indentation).
std::string Stream(const std::vector<std::string>& lines) {
  std::string y = "  telemetry:\n    - name: s\n";
  for (const std::string& line : lines) y += "      " + line + "\n";
  return WithUplink(y);
}

std::string Errors(const LoadResult& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += d.ToString() + "\n";
  return out;
}

UplinkConfig LoadOk(const std::string& yaml) {
  const LoadResult r = LoadConfigString(yaml, "agent.yaml", "/");
  EXPECT_TRUE(r.ok()) << yaml << "\n" << Errors(r);
  return r.config ? r.config->uplink : UplinkConfig{};
}

// The messages (without file and position) of loading `yaml`, which must fail.
std::vector<std::string> Messages(const std::string& yaml) {
  const LoadResult r = LoadConfigString(yaml, "agent.yaml", "/");
  EXPECT_FALSE(r.ok()) << yaml;
  EXPECT_FALSE(r.config.has_value());
  std::vector<std::string> out;
  for (const Diagnostic& d : r.errors) out.push_back(d.message);
  return out;
}

using Msgs = std::vector<std::string>;

TEST(UplinkConfig, AbsentMeansNothingIsSent) {
  const LoadResult r = LoadConfigString(kHead, "agent.yaml", "/");
  ASSERT_TRUE(r.ok()) << Errors(r);
  EXPECT_TRUE(r.config->uplink.telemetry.empty());
  EXPECT_FALSE(r.config->uplink.alarm_context.enabled);
  EXPECT_TRUE(r.config->uplink == UplinkConfig{});
}

TEST(UplinkConfig, StreamDefaults) {
  const UplinkConfig u = LoadOk(Stream({"tags: [\"pump1.*\"]"}));
  ASSERT_EQ(u.telemetry.size(), 1u);
  const TelemetryStream& s = u.telemetry[0];
  EXPECT_EQ(s.name, "s");
  EXPECT_EQ(s.tags, std::vector<std::string>{"pump1.*"});
  EXPECT_EQ(s.mode, Mode::kRaw);
  EXPECT_EQ(s.encoding, Encoding::kJson);
  EXPECT_EQ(s.max_batch, 1000);
  EXPECT_EQ(s.max_rate_bytes, 0u);
  EXPECT_FALSE(s.start_oldest);
  EXPECT_EQ(s.max_interval, 0ms);
  EXPECT_EQ(s.period, 0ms);
  EXPECT_EQ(s.pos.line, 5);  // the stream's mapping
  EXPECT_EQ(s.pos.column, 7);
  EXPECT_FALSE(u.alarm_context.enabled);
}

TEST(UplinkConfig, ReadsEveryKeyOfADeadbandStream) {
  const UplinkConfig u =
      LoadOk(Stream({"tags: [\"pump1.*\", \"*.rms\", \"line?.temp\"]", "mode: deadband",
                     "deadband: {percent: 0.5}", "max_interval: 60s", "encoding: influx",
                     "max_batch: 100000", "max_rate: 256KiB/s", "start: oldest"}));
  ASSERT_EQ(u.telemetry.size(), 1u);
  const TelemetryStream& s = u.telemetry[0];
  EXPECT_EQ(s.tags, (std::vector<std::string>{"pump1.*", "*.rms", "line?.temp"}));
  EXPECT_EQ(s.mode, Mode::kDeadband);
  EXPECT_EQ(s.deadband, 0.5);
  EXPECT_TRUE(s.deadband_percent);
  EXPECT_EQ(s.max_interval, 60s);
  EXPECT_EQ(s.encoding, Encoding::kInflux);
  EXPECT_EQ(s.max_batch, 100000);
  EXPECT_EQ(s.max_rate_bytes, 256u * 1024);
  EXPECT_TRUE(s.start_oldest);
}

TEST(UplinkConfig, AbsoluteDeadbandAndZeroBand) {
  const UplinkConfig u = LoadOk(Stream({"tags: [a]", "mode: deadband", "deadband: {absolute: 0}"}));
  ASSERT_EQ(u.telemetry.size(), 1u);
  EXPECT_EQ(u.telemetry[0].deadband, 0.0);
  EXPECT_FALSE(u.telemetry[0].deadband_percent);
  EXPECT_EQ(u.telemetry[0].max_interval, 0ms);  // none
}

TEST(UplinkConfig, AggregateStream) {
  const UplinkConfig u =
      LoadOk(Stream({"tags: [a]", "mode: aggregate", "period: 1.5s", "max_rate: 1MB/s"}));
  ASSERT_EQ(u.telemetry.size(), 1u);
  EXPECT_EQ(u.telemetry[0].mode, Mode::kAggregate);
  EXPECT_EQ(u.telemetry[0].period, 1500ms);
  EXPECT_EQ(u.telemetry[0].max_rate_bytes, 1'000'000u);
}

TEST(UplinkConfig, SeveralStreamsKeepTheirOrder) {
  const UplinkConfig u =
      LoadOk(WithUplink("  telemetry:\n"
                        "    - {name: raw, tags: [\"*\"]}\n"
                        "    - {name: pumps-10s, tags: [\"pump*\"], mode: aggregate, period: 10s}\n"
                        "    - {name: line_3.db, tags: [\"line3.*\"], mode: deadband, deadband: "
                        "{absolute: 0.01}}\n"));
  ASSERT_EQ(u.telemetry.size(), 3u);
  EXPECT_EQ(u.telemetry[0].name, "raw");
  EXPECT_EQ(u.telemetry[1].name, "pumps-10s");
  EXPECT_EQ(u.telemetry[2].name, "line_3.db");
  EXPECT_EQ(u.telemetry[2].deadband, 0.01);
}

TEST(UplinkConfig, AlarmContextPresentIsEnabled) {
  UplinkConfig u = LoadOk(WithUplink("  alarm_context: {}\n"));
  EXPECT_TRUE(u.alarm_context.enabled);
  EXPECT_EQ(u.alarm_context.before, 60s);
  EXPECT_EQ(u.alarm_context.after, 30s);
  EXPECT_TRUE(u.telemetry.empty());

  u = LoadOk(WithUplink("  alarm_context: {before: 0s, after: 1h}\n"));
  EXPECT_TRUE(u.alarm_context.enabled);
  EXPECT_EQ(u.alarm_context.before, 0ms);
  EXPECT_EQ(u.alarm_context.after, 1h);
}

TEST(UplinkConfig, DifferentStreamsAreDifferentConfigurations) {
  // operator== (config reload, the reference test) must see the uplink section.
  const LoadResult a = LoadConfigString(Stream({"tags: [a]"}), "agent.yaml", "/");
  const LoadResult b = LoadConfigString(Stream({"tags: [b]"}), "agent.yaml", "/");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(*a.config == *b.config);
}

TEST(UplinkConfig, NeedsUpstream) {
  EXPECT_EQ(Messages("gateway: {id: gw1}\nuplink:\n  alarm_context: {}\n"),
            Msgs{"uplink: telemetry goes to the upstream broker; add an upstream section"});
  // A broken upstream is reported once, for itself.
  EXPECT_EQ(Messages("gateway: {id: gw1}\nupstream: {broker: tcp://h:1883}\n"
                     "uplink: {alarm_context: {}}\n"),
            Msgs{"upstream.topic_prefix: required key is missing"});
}

TEST(UplinkConfig, UnknownKeys) {
  EXPECT_EQ(Messages(WithUplink("  telemetri: []\n")),
            Msgs{"uplink.telemetri: unknown key; did you mean 'telemetry'?"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "max_batches: 5"})),
            Msgs{"uplink.telemetry[0].max_batches: unknown key; did you mean 'max_batch'?"});
  EXPECT_EQ(Messages(WithUplink("  alarm_context: {before: 1s, during: 2s}\n")),
            Msgs{"uplink.alarm_context.during: unknown key (valid here: before, after)"});
}

TEST(UplinkConfig, StreamNames) {
  EXPECT_EQ(Messages(WithUplink("  telemetry:\n    - {name: a/b, tags: [x]}\n")),
            Msgs{"uplink.telemetry[0].name: 'a/b' is not a valid stream name (letters, digits, "
                 "'_', '.', '-')"});
  EXPECT_EQ(Messages(WithUplink("  telemetry:\n    - {name: a, tags: [x]}\n"
                                "    - {name: a, tags: [y]}\n")),
            Msgs{"uplink.telemetry[1].name: duplicate stream name 'a'; first defined at line 5"});
  EXPECT_EQ(Messages(WithUplink("  telemetry:\n    - {name: alarm-context, tags: [x]}\n")),
            Msgs{"uplink.telemetry[0].name: 'alarm-context' is the stream of the alarm context "
                 "messages (uplink.alarm_context); choose another name"});
  EXPECT_EQ(Messages(WithUplink("  telemetry:\n    - {tags: [x]}\n")),
            Msgs{"uplink.telemetry[0].name: required key is missing"});
}

TEST(UplinkConfig, TagGlobs) {
  EXPECT_EQ(Messages(Stream({})), Msgs{"uplink.telemetry[0].tags: required key is missing"});
  EXPECT_EQ(Messages(Stream({"tags: []"})),
            Msgs{"uplink.telemetry[0].tags: a stream needs at least one tag glob, e.g. "
                 "[\"pump1.*\"]"});
  EXPECT_EQ(Messages(Stream({"tags: pump1.x"})),
            Msgs{"uplink.telemetry[0].tags: expected a list of tag globs, e.g. [\"pump1.x\"]"});
  EXPECT_EQ(Messages(Stream({"tags: [\"\", \"pump 1\", [a]]"})),
            (Msgs{"uplink.telemetry[0].tags[0]: empty tag glob",
                  "uplink.telemetry[0].tags[1]: 'pump 1' can match no tag: tag names have "
                  "letters, digits, '_', '.', '-', and globs add * and ?",
                  "uplink.telemetry[0].tags[2]: expected a string, got a list"}));
}

TEST(UplinkConfig, Modes) {
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: dedband"})),
            Msgs{"uplink.telemetry[0].mode: 'dedband' is not one of raw, deadband or aggregate; "
                 "did you mean 'deadband'?"});
  // An unknown mode: the keys of the modes are not judged.
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: fast", "period: 10s"})),
            Msgs{"uplink.telemetry[0].mode: 'fast' is not one of raw, deadband or aggregate"});
}

TEST(UplinkConfig, KeysOfAnotherModeAreRefused) {
  EXPECT_EQ(Messages(Stream({"tags: [a]", "deadband: {absolute: 1}", "max_interval: 1m"})),
            (Msgs{"uplink.telemetry[0].deadband: applies to mode: deadband only; this stream's "
                  "mode is raw (the default)",
                  "uplink.telemetry[0].max_interval: applies to mode: deadband only; this "
                  "stream's mode is raw (the default)"}));
  EXPECT_EQ(
      Messages(Stream({"tags: [a]", "mode: deadband", "deadband: {absolute: 1}", "period: 10s"})),
      Msgs{"uplink.telemetry[0].period: applies to mode: aggregate only; this stream's "
           "mode is deadband"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: aggregate", "period: 10s", "max_interval: 0s"})),
            Msgs{"uplink.telemetry[0].max_interval: applies to mode: deadband only; this "
                 "stream's mode is aggregate"});
}

TEST(UplinkConfig, DeadbandRules) {
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: deadband"})),
            Msgs{"uplink.telemetry[0].deadband: required key is missing"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: deadband", "deadband: 0.01"})),
            Msgs{"uplink.telemetry[0].deadband: expected {absolute: 0.01} (in the tag's unit) "
                 "or {percent: 0.01} (of the last sent value)"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: deadband", "deadband: {}"})),
            Msgs{"uplink.telemetry[0].deadband: needs absolute (a band in the tag's unit) or "
                 "percent (of the last sent value), e.g. {absolute: 0.01}"});
  EXPECT_EQ(
      Messages(Stream({"tags: [a]", "mode: deadband", "deadband: {absolute: 1, percent: 2}"})),
      Msgs{"uplink.telemetry[0].deadband: absolute and percent exclude each other; give "
           "one"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: deadband", "deadband: {percent: -0.5}"})),
            Msgs{"uplink.telemetry[0].deadband.percent: -0.5 is negative; a band is >= 0"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: deadband", "deadband: {absolute: .nan}"})),
            Msgs{"uplink.telemetry[0].deadband.absolute: .nan is not a finite number"});
  EXPECT_EQ(Messages(Stream(
                {"tags: [a]", "mode: deadband", "deadband: {absolute: 1}", "max_interval: 8d"})),
            Msgs{"uplink.telemetry[0].max_interval: 8d is out of range (0s..7d)"});
}

TEST(UplinkConfig, AggregateNeedsAPeriodOfAtLeastOneSecond) {
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: aggregate"})),
            Msgs{"uplink.telemetry[0].period: required key is missing"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: aggregate", "period: 500ms"})),
            Msgs{"uplink.telemetry[0].period: 500ms is out of range (1s..1d)"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "mode: aggregate", "period: 10"})),
            Msgs{"uplink.telemetry[0].period: '10' needs a unit (ms, s, m, h, d), e.g. 10ms or "
                 "10s"});
}

TEST(UplinkConfig, Encodings) {
  EXPECT_EQ(Messages(Stream({"tags: [a]", "encoding: sparkplug_b"})),
            Msgs{"uplink.telemetry[0].encoding: sparkplug_b arrives with Sparkplug B support "
                 "(issue #19); use json or influx"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "encoding: influxdb"})),
            Msgs{"uplink.telemetry[0].encoding: 'influxdb' is not one of json or influx; did you "
                 "mean 'influx'?"});
}

TEST(UplinkConfig, BatchRateAndStart) {
  EXPECT_EQ(Messages(Stream({"tags: [a]", "max_batch: 0"})),
            Msgs{"uplink.telemetry[0].max_batch: 0 is out of range (1..100000)"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "max_batch: 100001"})),
            Msgs{"uplink.telemetry[0].max_batch: 100001 is out of range (1..100000)"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "max_rate: 256KiB"})),
            Msgs{"uplink.telemetry[0].max_rate: '256KiB': a rate needs '/s' (bytes per second), "
                 "e.g. 256KiB/s; 0 means no limit"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "max_rate: -1"})),
            Msgs{"uplink.telemetry[0].max_rate: '-1' is negative; write 0 for no limit"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "max_rate: {x: 1}"})),
            Msgs{"uplink.telemetry[0].max_rate: expected a rate such as 256KiB/s, or 0 for no "
                 "limit, got a mapping"});
  EXPECT_EQ(Messages(Stream({"tags: [a]", "start: latest"})),
            Msgs{"uplink.telemetry[0].start: 'latest' is not one of now or oldest"});
}

TEST(UplinkConfig, AlarmContextRanges) {
  EXPECT_EQ(Messages(WithUplink("  alarm_context: {before: 2h, after: -1s}\n")),
            (Msgs{"uplink.alarm_context.before: 2h is out of range (0s..1h)",
                  "uplink.alarm_context.after: '-1s' is negative; durations are >= 0"}));
  EXPECT_EQ(Messages(WithUplink("  alarm_context: true\n")),
            Msgs{"uplink.alarm_context: expected a mapping (key: value lines), got 'true'"});
}

TEST(UplinkConfig, ABadStreamDoesNotHideTheOthersFaults) {
  EXPECT_EQ(Messages(WithUplink("  telemetry:\n"
                                "    - {name: a, tags: [x], max_batch: 0}\n"
                                "    - {name: b, tags: [], encoding: xml}\n")),
            (Msgs{"uplink.telemetry[0].max_batch: 0 is out of range (1..100000)",
                  "uplink.telemetry[1].tags: a stream needs at least one tag glob, e.g. "
                  "[\"pump1.*\"]",
                  "uplink.telemetry[1].encoding: 'xml' is not one of json or influx"}));
}

}  // namespace
}  // namespace edge::config
