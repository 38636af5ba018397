#include "config/value_syntax.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace edge::config {
namespace {

std::string Error(const Status& s) {
  EXPECT_FALSE(s.ok());
  return s.message();
}

TEST(IsValidName, AllowsLettersDigitsUnderscoreDotDash) {
  EXPECT_TRUE(IsValidName("line3-pc1"));
  EXPECT_TRUE(IsValidName("pump1.vib_rms"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("line 3"));
  EXPECT_FALSE(IsValidName("plant/line3"));
  EXPECT_FALSE(IsValidName("pump+"));
  EXPECT_FALSE(IsValidName("{2}.rms"));
}

TEST(ParseBrokerUri, AcceptsTcpAndSslWithHostAndPort) {
  auto a = ParseBrokerUri("tcp://127.0.0.1:1883");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 1883);
  auto b = ParseBrokerUri("ssl://broker.plant.local:8883");
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->host, "broker.plant.local");
  auto c = ParseBrokerUri("tcp://[::1]:1883");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
}

TEST(ParseBrokerUri, ExplainsWhatIsMissing) {
  EXPECT_EQ(ParseBrokerUri("tcp://127.0.0.1").status().message(),
            "missing port, e.g. tcp://127.0.0.1:1883");
  EXPECT_EQ(ParseBrokerUri("ssl://broker").status().message(),
            "missing port, e.g. ssl://broker:8883");
  EXPECT_EQ(ParseBrokerUri("broker:1883").status().message(),
            "missing scheme, e.g. tcp://broker:1883");
  EXPECT_EQ(ParseBrokerUri("mqtt://broker:1883").status().message(),
            "scheme 'mqtt://' is not supported; use tcp:// or ssl:// (TLS)");
  EXPECT_EQ(ParseBrokerUri("tcp://u:p@broker:1883").status().message(),
            "credentials do not belong in the URI; use username and password_file");
  EXPECT_EQ(ParseBrokerUri("tcp://broker:1883/x").status().message(),
            "a broker URI has no path; write tcp://host:port");
  EXPECT_EQ(ParseBrokerUri("tcp://broker:0").status().message(),
            "port 0 is out of range (1..65535)");
  EXPECT_EQ(ParseBrokerUri("tcp://broker:http").status().message(), "port 'http' is not a number");
  EXPECT_EQ(ParseBrokerUri("tcp://").status().message(), "missing host, e.g. tcp://broker:1883");
}

TEST(CheckRepositoryUrl, NeedsHttpSchemeAndTrailingSlash) {
  EXPECT_TRUE(CheckRepositoryUrl("https://models.example.com/repo/").ok());
  EXPECT_TRUE(CheckRepositoryUrl("http://10.0.0.5:8080/").ok());
  EXPECT_EQ(Error(CheckRepositoryUrl("https://models.example.com/repo")),
            "must end with '/' (the repository root), e.g. https://models.example.com/repo/");
  EXPECT_EQ(Error(CheckRepositoryUrl("ftp://x/")),
            "scheme 'ftp://' is not supported; use https:// or http://");
  EXPECT_EQ(Error(CheckRepositoryUrl("https:///repo/")), "missing host");
  EXPECT_EQ(Error(CheckRepositoryUrl("https://x/repo/?v=1")),
            "a repository URL has no query or fragment");
  EXPECT_EQ(Error(CheckRepositoryUrl("https://x:99999/")), "port '99999' is not 1..65535");
}

TEST(CheckListenAddress, NeedsHostAndPort) {
  EXPECT_TRUE(CheckListenAddress("127.0.0.1:9108").ok());
  EXPECT_TRUE(CheckListenAddress("0.0.0.0:9108").ok());
  EXPECT_TRUE(CheckListenAddress("[::1]:9108").ok());
  EXPECT_TRUE(CheckListenAddress("localhost:9108").ok());
  EXPECT_EQ(Error(CheckListenAddress("9108")),
            "missing host, e.g. 127.0.0.1:9108 (or 0.0.0.0:9108 for all interfaces)");
  EXPECT_EQ(Error(CheckListenAddress(":9108")),
            "missing host; write 0.0.0.0:9108 for all interfaces or 127.0.0.1:9108 for this PC");
  EXPECT_EQ(Error(CheckListenAddress("localhost")), "missing port, e.g. localhost:9108");
  EXPECT_EQ(Error(CheckListenAddress("127.0.0.1:70000")), "port 70000 is out of range (1..65535)");
}

TEST(CheckHost, RejectsPortsSchemesAndSpaces) {
  EXPECT_TRUE(CheckHost("10.0.0.20").ok());
  EXPECT_TRUE(CheckHost("plc-1.plant.local").ok());
  EXPECT_TRUE(CheckHost("fe80::1").ok());
  EXPECT_EQ(Error(CheckHost("10.0.0.20:502")), "write the port in 'port', not in the host");
  EXPECT_EQ(Error(CheckHost("tcp://10.0.0.20")),
            "write the host name or address only, e.g. 10.0.0.20");
  EXPECT_EQ(Error(CheckHost("plc 1")), "invalid character ' ' in host 'plc 1'");
}

TEST(CheckTopicFilter, WildcardsFillWholeLevels) {
  EXPECT_TRUE(CheckTopicFilter("plant1/line3/+/vib").ok());
  EXPECT_TRUE(CheckTopicFilter("plant1/#").ok());
  EXPECT_TRUE(CheckTopicFilter("#").ok());
  EXPECT_EQ(Error(CheckTopicFilter("plant1/pump+/vib")), "'+' must be a whole topic level");
  EXPECT_EQ(Error(CheckTopicFilter("plant1/#/vib")), "'#' must be the last level");
  EXPECT_EQ(Error(CheckTopicFilter("plant1/vib#")), "'#' must be a whole topic level");
  EXPECT_EQ(Error(CheckTopicFilter("")), "empty topic");
}

TEST(CheckTopicPrefix, IsPlainLevels) {
  EXPECT_TRUE(CheckTopicPrefix("plant1").ok());
  EXPECT_TRUE(CheckTopicPrefix("plant1/line3").ok());
  EXPECT_EQ(Error(CheckTopicPrefix("plant1/#")),
            "wildcards '+' and '#' are not allowed in a published topic");
  EXPECT_EQ(Error(CheckTopicPrefix("/plant1")), "no leading or trailing '/'");
  EXPECT_EQ(Error(CheckTopicPrefix("plant1//x")), "empty topic level ('//')");
  EXPECT_EQ(Error(CheckTopicPrefix("$SYS")),
            "topics starting with '$' are reserved for the broker");
}

TEST(CheckJsonPointer, FollowsRfc6901) {
  EXPECT_TRUE(CheckJsonPointer("").ok());
  EXPECT_TRUE(CheckJsonPointer("/rms").ok());
  EXPECT_TRUE(CheckJsonPointer("/a~1b/c~0d/0").ok());
  EXPECT_EQ(Error(CheckJsonPointer("rms")), "a JSON pointer starts with '/', e.g. /rms");
  EXPECT_EQ(Error(CheckJsonPointer("/a~2")), "'~' must be written ~0 (and '/' inside a key ~1)");
  EXPECT_EQ(Error(CheckJsonPointer("/a~")), "'~' must be written ~0 (and '/' inside a key ~1)");
}

TEST(TagNameTemplate, MatchesNamesFromWildcardLevels) {
  auto t = TagNameTemplate::Parse("{2}.vib_rms", "plant1/line3/+/vib");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_TRUE(t->has_placeholders());
  EXPECT_TRUE(t->Matches("pump1.vib_rms"));
  EXPECT_TRUE(t->Matches("p.vib_rms"));
  EXPECT_FALSE(t->Matches(".vib_rms"));
  EXPECT_FALSE(t->Matches("pump1.vib_peak"));
  EXPECT_FALSE(t->Matches("pump1.vib_rms2"));
}

TEST(TagNameTemplate, LiteralLevelsMatchOnlyThemselves) {
  auto t = TagNameTemplate::Parse("{2}.{3}", "plant1/line3/pump1/+");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_TRUE(t->Matches("pump1.acc1"));
  EXPECT_FALSE(t->Matches("pump2.acc1"));
}

TEST(TagNameTemplate, LevelsBeyondHashAreAllowed) {
  auto t = TagNameTemplate::Parse("{1}.{3}", "plant1/#");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_TRUE(t->Matches("line3.vib"));
}

TEST(TagNameTemplate, PlainNameHasNoPlaceholders) {
  auto t = TagNameTemplate::Parse("pump1.flow", "plant1/line3/pump1/flow");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->has_placeholders());
  EXPECT_TRUE(t->Matches("pump1.flow"));
}

TEST(TagNameTemplate, RejectsBadPlaceholders) {
  EXPECT_EQ(TagNameTemplate::Parse("{4}.rms", "a/b/+/d").status().message(),
            "{4} refers to topic level 4 but topic 'a/b/+/d' has levels 0..3");
  EXPECT_EQ(TagNameTemplate::Parse("{x}.rms", "a/+").status().message(),
            "'{x}.rms': a placeholder is {N}, N a topic level (0-based)");
  EXPECT_EQ(TagNameTemplate::Parse("{1.rms", "a/+").status().message(),
            "'{1.rms': a placeholder is {N}, N a topic level (0-based)");
  EXPECT_EQ(TagNameTemplate::Parse("pump 1", "a/+").status().message(),
            "'pump 1' is not a valid tag name: use A-Z a-z 0-9 _ . - and {N} placeholders");
}

TEST(ClosestMatch, SuggestsOnlyPlausibleTypos) {
  constexpr std::array<std::string_view, 5> kKeys{"name", "host", "port", "poll_interval",
                                                  "timeout"};
  EXPECT_EQ(ClosestMatch("poll_intervall", kKeys), "poll_interval");
  EXPECT_EQ(ClosestMatch("pollinterval", kKeys), "poll_interval");
  EXPECT_EQ(ClosestMatch("timout", kKeys), "timeout");
  EXPECT_EQ(ClosestMatch("hots", kKeys), "host");  // transposition counts as one edit
  EXPECT_EQ(ClosestMatch("Port", kKeys), "port");  // case is ignored
  EXPECT_EQ(ClosestMatch("baudrate", kKeys), "");
  EXPECT_EQ(ClosestMatch("ip", kKeys), "");
  EXPECT_EQ(ClosestMatch("x", kKeys), "");
}

}  // namespace
}  // namespace edge::config
