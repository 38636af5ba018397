// Tag globs (uplink/tag_glob.h): the iterative matcher against a straightforward dynamic
// programme over (pattern, name) prefixes, plus the cases a configuration relies on.
#include "uplink/tag_glob.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace edge::uplink {
namespace {

// match[i][j]: pattern[0, i) matches name[0, j). ASCII only: '?' is one byte here.
bool ReferenceMatch(const std::string& pattern, const std::string& name) {
  std::vector<std::vector<bool>> match(pattern.size() + 1,
                                       std::vector<bool>(name.size() + 1, false));
  match[0][0] = true;
  for (size_t i = 1; i <= pattern.size(); ++i) {
    for (size_t j = 0; j <= name.size(); ++j) {
      const char p = pattern[i - 1];
      if (p == '*') {
        match[i][j] = match[i - 1][j] || (j > 0 && match[i][j - 1]);
      } else if (j > 0) {
        match[i][j] = match[i - 1][j - 1] && (p == '?' || p == name[j - 1]);
      }
    }
  }
  return match[pattern.size()][name.size()];
}

TEST(TagGlob, MatchesTheWholeName) {
  EXPECT_TRUE(GlobMatch("pump1.flow", "pump1.flow"));
  EXPECT_FALSE(GlobMatch("pump1", "pump1.flow"));
  EXPECT_FALSE(GlobMatch("flow", "pump1.flow"));
  EXPECT_TRUE(GlobMatch("pump1.*", "pump1.flow"));
  EXPECT_TRUE(GlobMatch("pump1.*", "pump1."));
  EXPECT_FALSE(GlobMatch("pump1.*", "pump2.flow"));
  EXPECT_TRUE(GlobMatch("*.flow", "pump1.flow"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
  EXPECT_FALSE(GlobMatch("?", ""));
}

TEST(TagGlob, HasNoPathSemantics) {
  EXPECT_TRUE(GlobMatch("plant/*", "plant/line1/pump1"));
  EXPECT_TRUE(GlobMatch("pump1.*", "pump1.a.b.c"));
  EXPECT_TRUE(GlobMatch("*pump*", "site/pump/7"));
}

TEST(TagGlob, QuestionMarkIsOneCharacter) {
  EXPECT_TRUE(GlobMatch("pump?.flow", "pump1.flow"));
  EXPECT_FALSE(GlobMatch("pump?.flow", "pump12.flow"));
  EXPECT_TRUE(GlobMatch("pump??.flow", "pump12.flow"));
  EXPECT_TRUE(GlobMatch("temp?", "tempé"));   // one UTF-8 code point of two bytes
  EXPECT_FALSE(GlobMatch("temp??", "tempé"));
  EXPECT_TRUE(GlobMatch("?-?", "🚀-日"));
  EXPECT_TRUE(GlobMatch("*é", "café"));
}

TEST(TagGlob, AgreesWithTheReferenceOnRandomCases) {
  std::mt19937 rng(7);
  const std::string pattern_chars = "ab*?";
  const std::string name_chars = "ab";
  int matched = 0;
  for (int iter = 0; iter < 20'000; ++iter) {
    std::string pattern;
    std::string name;
    for (size_t n = rng() % 8; n > 0; --n) pattern += pattern_chars[rng() % pattern_chars.size()];
    for (size_t n = rng() % 10; n > 0; --n) name += name_chars[rng() % name_chars.size()];
    const bool want = ReferenceMatch(pattern, name);
    ASSERT_EQ(GlobMatch(pattern, name), want) << "'" << pattern << "' vs '" << name << "'";
    matched += want ? 1 : 0;
  }
  EXPECT_GT(matched, 1000);  // both outcomes are exercised
  EXPECT_LT(matched, 19'000);
}

TEST(TagGlob, ManyStarsStayFast) {
  const std::string name(20'000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*b", name));
  EXPECT_TRUE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*", name));
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*?b", name));
  const auto took = std::chrono::steady_clock::now() - start;
  // A recursive matcher takes exponential time here; this one is linear in the name per star.
  EXPECT_LT(took, std::chrono::seconds(1));
}

}  // namespace
}  // namespace edge::uplink
