#include "core/quoted.h"

#include <gtest/gtest.h>

#include <string>

namespace edge {
namespace {

TEST(Quoted, PlainTextIsQuotedAsIs) {
  EXPECT_EQ(Quoted("pump1.vib_rms"), "'pump1.vib_rms'");
  EXPECT_EQ(Quoted(""), "''");
  EXPECT_EQ(Quoted("Volumenstrom m³/h"), "'Volumenstrom m³/h'");  // UTF-8 stays readable
}

TEST(Quoted, ANewlineCannotForgeASecondMessageLine) {
  const std::string q = Quoted("x\nother.yaml:1:1: error: forged");
  EXPECT_EQ(q.find('\n'), std::string::npos);
  EXPECT_EQ(q, "'x\\nother.yaml:1:1: error: forged'");
  EXPECT_EQ(Quoted("a\r\tb"), "'a\\r\\tb'");
}

TEST(Quoted, TerminalControlsAreShownNotActedOn) {
  EXPECT_EQ(Quoted("\x1b[2J\x07"), "'\\x1b[2J\\x07'");
  EXPECT_EQ(Quoted(std::string("a\0b", 3)), "'a\\x00b'");
  EXPECT_EQ(Quoted("\x7f"), "'\\x7f'");
  EXPECT_EQ(Quoted("\xc2\x9b" "31m"), "'\\u{009b}31m'");             // C1 CSI
  EXPECT_EQ(Quoted("abc\xe2\x80\xae" "fed"), "'abc\\u{202e}fed'");  // right-to-left override
  EXPECT_EQ(Quoted("it's \\"), "'it\\'s \\\\'");
}

TEST(Quoted, BytesThatAreNotUtf8AreEscaped) {
  EXPECT_EQ(Quoted("\xff\xfe"), "'\\xff\\xfe'");
  EXPECT_EQ(Quoted("\xc0\xaf"), "'\\xc0\\xaf'");          // overlong '/'
  EXPECT_EQ(Quoted("\xed\xa0\x80"), "'\\xed\\xa0\\x80'");  // a surrogate
  EXPECT_EQ(Quoted("\xe2\x82"), "'\\xe2\\x82'");          // cut short
}

TEST(Quoted, LongInputIsCutWithItsLength) {
  const std::string big(10 * 1024 * 1024, 'x');
  const std::string q = Quoted(big);
  EXPECT_EQ(q, "'" + std::string(kQuotedMaxBytes, 'x') + "...' (10485760 bytes)");
  // Never inside a character or an escape.
  EXPECT_EQ(Quoted("ab\ncd", 3), "'ab...' (5 bytes)");
  EXPECT_EQ(Quoted("aé", 2), "'a...' (3 bytes)");
}

TEST(EscapedLine, EscapesControlsLeavesQuotesAndIsIdempotentOnQuotedText) {
  EXPECT_EQ(EscapedLine("a\nb", 100), "a\\nb");
  const std::string q = Quoted("it's\n\x1b");
  EXPECT_EQ(EscapedLine("k: " + q, 100), "k: " + q);
  EXPECT_EQ(EscapedLine("abcdef", 3), "abc... (6 bytes)");
}

}  // namespace
}  // namespace edge
