// Topic filters and tag name templates as an MQTT source applies them to each message.
#include "drivers/mqtt_topic.h"

#include <gtest/gtest.h>

#include <string>

#include "config/value_syntax.h"

namespace edge::drivers {
namespace {

TEST(MqttTopicFilter, MatchesLiteralAndSingleLevelWildcards) {
  const MqttTopicFilter f("plant1/line3/+/vib");
  EXPECT_TRUE(f.Matches("plant1/line3/pump1/vib"));
  EXPECT_TRUE(f.Matches("plant1/line3//vib"));  // '+' matches an empty level
  EXPECT_FALSE(f.Matches("plant1/line3/pump1/temp"));
  EXPECT_FALSE(f.Matches("plant1/line3/pump1/vib/x"));
  EXPECT_FALSE(f.Matches("plant1/line3/vib"));
  EXPECT_FALSE(f.Matches("plant1/line4/pump1/vib"));
}

TEST(MqttTopicFilter, MultiLevelWildcardMatchesParentAndChildren) {
  const MqttTopicFilter f("plant1/#");
  EXPECT_TRUE(f.Matches("plant1"));
  EXPECT_TRUE(f.Matches("plant1/a"));
  EXPECT_TRUE(f.Matches("plant1/a/b/c"));
  EXPECT_FALSE(f.Matches("plant2/a"));
  const MqttTopicFilter all("#");
  EXPECT_TRUE(all.Matches("x/y"));
  EXPECT_FALSE(all.Matches("$SYS/broker/uptime"));  // MQTT 4.7.2
  EXPECT_TRUE(MqttTopicFilter("$SYS/#").Matches("$SYS/broker/uptime"));
  EXPECT_FALSE(MqttTopicFilter("+/broker").Matches("$SYS/broker"));
}

TEST(MqttTopicFilter, ExactFilterNeedsSameLevelCount) {
  const MqttTopicFilter f("a/b");
  EXPECT_TRUE(f.Matches("a/b"));
  EXPECT_FALSE(f.Matches("a/b/"));
  EXPECT_FALSE(f.Matches("a"));
  EXPECT_FALSE(f.Matches("a/bc"));
}

TEST(SplitTopicLevels, KeepsEmptyLevels) {
  std::vector<std::string_view> levels;
  SplitTopicLevels("a//b/", levels);
  EXPECT_EQ(levels, (std::vector<std::string_view>{"a", "", "b", ""}));
  SplitTopicLevels("", levels);
  EXPECT_EQ(levels, (std::vector<std::string_view>{""}));
}

TEST(MqttTagTemplate, ExpandsTopicLevels) {
  StatusOr<MqttTagTemplate> t = MqttTagTemplate::Parse("{2}.vib_{3}");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_TRUE(t->has_placeholders());
  std::vector<std::string_view> levels;
  SplitTopicLevels("plant1/line3/pump7/rms", levels);
  std::string name;
  ASSERT_TRUE(t->Expand(levels, name));
  EXPECT_EQ(name, "pump7.vib_rms");
}

TEST(MqttTagTemplate, RefusesNamesTheTopicCannotForm) {
  StatusOr<MqttTagTemplate> t = MqttTagTemplate::Parse("{3}.x");
  ASSERT_TRUE(t.ok());
  std::vector<std::string_view> levels;
  std::string name;
  SplitTopicLevels("a/b/c", levels);  // no level 3
  EXPECT_FALSE(t->Expand(levels, name));
  SplitTopicLevels("a/b/c/pump 1", levels);  // a space is not a name character
  EXPECT_FALSE(t->Expand(levels, name));
  SplitTopicLevels("a/b/c/", levels);  // empty level gives ".x", still valid characters
  EXPECT_TRUE(t->Expand(levels, name));
  EXPECT_EQ(name, ".x");
}

// Topic levels are the publisher's: any byte, up to 65,535 of them. A name made from one is a
// tag name like any other, bounded and of name characters, or no tag at all.
TEST(MqttTagTemplate, RefusesHostileTopicLevels) {
  StatusOr<MqttTagTemplate> t = MqttTagTemplate::Parse("{1}.rms");
  ASSERT_TRUE(t.ok());
  std::vector<std::string_view> levels;
  std::string name;
  const std::string longest(config::kMaxNameBytes - 4, 'p');  // + ".rms": exactly the bound
  std::string topic = "plant/" + longest;
  SplitTopicLevels(topic, levels);
  ASSERT_TRUE(t->Expand(levels, name));
  EXPECT_EQ(name.size(), config::kMaxNameBytes);
  topic = "plant/" + longest + "p";  // one byte over
  SplitTopicLevels(topic, levels);
  EXPECT_FALSE(t->Expand(levels, name));
  topic = "plant/" + std::string(60000, 'x');
  SplitTopicLevels(topic, levels);
  EXPECT_FALSE(t->Expand(levels, name));
  EXPECT_LE(name.size(), config::kMaxNameBytes);  // never copied whole
  for (const char* bad : {"plant/pump1\nfake", "plant/pump1\x1b[2J", "plant/\xff\xfe",
                          "plant/pump\xe2\x80\xae" "1"}) {
    SplitTopicLevels(bad, levels);
    EXPECT_FALSE(t->Expand(levels, name)) << bad;
  }
}

TEST(MqttTagTemplate, PlainNameHasNoPlaceholders) {
  StatusOr<MqttTagTemplate> t = MqttTagTemplate::Parse("pump1.flow");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->has_placeholders());
  EXPECT_FALSE(MqttTagTemplate::Parse("{x}.a").ok());
  EXPECT_FALSE(MqttTagTemplate::Parse("{}.a").ok());
  EXPECT_FALSE(MqttTagTemplate::Parse("{1.a").ok());
}

}  // namespace
}  // namespace edge::drivers
