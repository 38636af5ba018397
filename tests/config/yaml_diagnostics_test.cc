#include "config/yaml_diagnostics.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "config/yaml_reader.h"  // PositionOf

namespace edge::config::internal {
namespace {

// The diagnostic for `yaml`, which must not parse.
SyntaxError Diagnose(const std::string& yaml) {
  try {
    std::optional<YAML::Mark> second;
    LoadDocuments(yaml, &second);
  } catch (const YAML::ParserException& e) {
    return DiagnoseSyntaxError(yaml, e.mark, e.msg);
  }
  ADD_FAILURE() << "parsed: " << yaml;
  return {};
}

TEST(SyntaxMessage, ExplainsTheCommonCauses) {
  EXPECT_EQ(SyntaxMessage("illegal map value"),
            "invalid YAML: unexpected ':' (a key indented wrongly, or a value containing ': ' "
            "that needs quotes)");
  EXPECT_EQ(SyntaxMessage("end of map not found"),
            "invalid YAML: this line's indentation does not match the lines above it (end of map "
            "not found)");
  EXPECT_EQ(SyntaxMessage("end of sequence flow not found"),
            "invalid YAML: '[' is not closed by ']'");
  EXPECT_EQ(SyntaxMessage("end of map flow not found"), "invalid YAML: '{' is not closed by '}'");
  EXPECT_EQ(SyntaxMessage("something else"), "invalid YAML: something else");
}

TEST(UnclosedBracket, FindsTheLastBracketStillOpen) {
  const std::string yaml = "a: [1, 2]\nb: [3,\n  {c: 4},\nd: 5\n";
  EXPECT_EQ(UnclosedBracket(yaml, '[', SourcePos{5, 1}), (SourcePos{2, 4}));
  EXPECT_EQ(UnclosedBracket(yaml, '{', SourcePos{5, 1}), std::nullopt);  // closed on line 3
  // Only what comes before the limit counts.
  EXPECT_EQ(UnclosedBracket(yaml, '[', SourcePos{1, 9}), (SourcePos{1, 4}));
}

TEST(UnclosedBracket, IgnoresBracketsInQuotesAndComments) {
  const std::string yaml = "a: '[x'\nb: it's [ok\n# [not this\nc: \"{\" \n";
  EXPECT_EQ(UnclosedBracket(yaml, '[', SourcePos{5, 1}), (SourcePos{2, 9}));
  EXPECT_EQ(UnclosedBracket(yaml, '{', SourcePos{5, 1}), std::nullopt);
}

TEST(IndentationTab, FindsATabOnlyInTheIndentation) {
  const std::string yaml = "a:\n  b: 1\tx\n \tc: 2\nd:\t3\n";
  EXPECT_EQ(IndentationTab(yaml, 2), std::nullopt);  // after text, a tab is fine
  EXPECT_EQ(IndentationTab(yaml, 3), (SourcePos{3, 2}));
  EXPECT_EQ(IndentationTab(yaml, 9), (SourcePos{3, 2}));
  EXPECT_EQ(IndentationTab("a: 1\n", 1), std::nullopt);
}

TEST(DiagnoseSyntaxError, PointsAtTheOpeningBracketNotWhereTheParserGaveUp) {
  const SyntaxError e = Diagnose("gateway: {id: gw1}\ntags: [a, b\nother: 1\nmore: 2\n");
  EXPECT_EQ(e.pos, (SourcePos{2, 7}));
  EXPECT_EQ(e.message, "invalid YAML: '[' is not closed by ']'");
}

TEST(DiagnoseSyntaxError, NamesATabInTheIndentation) {
  const SyntaxError e = Diagnose("gateway:\n\tid: gw1\n");
  EXPECT_EQ(e.pos, (SourcePos{2, 1}));
  EXPECT_EQ(e.message, "invalid YAML: tab character in indentation; indent with spaces");
}

TEST(LoadDocuments, ReturnsTheFirstDocumentAndWhereTheSecondStarts) {
  std::optional<YAML::Mark> second;
  std::vector<YAML::Node> docs = LoadDocuments("a: 1\n---\nb: 2\n", &second);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["a"].as<int>(), 1);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(PositionOf(*second), (SourcePos{3, 1}));
}

TEST(LoadDocuments, AnEmptyTrailingDocumentIsNoSecondDocument) {
  std::optional<YAML::Mark> second;
  LoadDocuments("a: 1\n---\n", &second);
  EXPECT_FALSE(second.has_value());
}

// yaml-cpp 0.7 loops forever on this stream in YAML::LoadAll; here it is a syntax error.
TEST(LoadDocuments, AStrayCommaIsASyntaxErrorNotAnEndlessLoop) {
  const SyntaxError e = Diagnose("  a: 1\n,\n");
  EXPECT_EQ(e.message, "invalid YAML: ',' outside [ ] or { } (a stray comma?)");
  EXPECT_EQ(e.pos.line, 2);
}

}  // namespace
}  // namespace edge::config::internal
