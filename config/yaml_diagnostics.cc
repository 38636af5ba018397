#include "config/yaml_diagnostics.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <sstream>
#include <utility>

#include "config/yaml_reader.h"

namespace edge::config::internal {
namespace {

// Where each document of a stream starts and where its first node is (none: an empty document).
class DocumentScanner : public YAML::EventHandler {
 public:
  YAML::Mark start;
  std::optional<YAML::Mark> content;

  void OnDocumentStart(const YAML::Mark& mark) override {
    start = mark;
    content.reset();
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Saw(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Saw(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Saw(mark);
  }
  void OnMapEnd() override {}

 private:
  void Saw(const YAML::Mark& mark) {
    if (!content) content = mark;
  }
};

}  // namespace

SyntaxError DiagnoseSyntaxError(std::string_view yaml, const YAML::Mark& mark,
                                const std::string& msg) {
  const SourcePos pos = PositionOf(mark);
  if (auto tab = IndentationTab(yaml, pos.line)) {
    return {*tab, "invalid YAML: tab character in indentation; indent with spaces"};
  }
  if (msg == "end of sequence flow not found" || msg == "end of map flow not found") {
    // yaml-cpp reports an unclosed flow collection where it gave up, often lines later.
    const char open = msg == "end of sequence flow not found" ? '[' : '{';
    return {UnclosedBracket(yaml, open, pos).value_or(pos), SyntaxMessage(msg)};
  }
  return {pos, SyntaxMessage(msg)};
}

std::string SyntaxMessage(const std::string& msg) {
  if (msg == "illegal map value") {
    return "invalid YAML: unexpected ':' (a key indented wrongly, or a value containing ': ' "
           "that needs quotes)";
  }
  if (msg == "end of map not found" || msg == "end of sequence not found") {
    return "invalid YAML: this line's indentation does not match the lines above it (" + msg + ")";
  }
  if (msg == "end of map flow not found") return "invalid YAML: '{' is not closed by '}'";
  if (msg == "end of sequence flow not found") return "invalid YAML: '[' is not closed by ']'";
  return "invalid YAML: " + msg;
}

std::optional<SourcePos> UnclosedBracket(std::string_view yaml, char open, SourcePos limit) {
  std::vector<std::pair<char, SourcePos>> stack;
  int line = 1;
  int column = 0;
  char quote = 0;
  char prev = '\n';
  for (size_t i = 0; i < yaml.size(); ++i) {
    const char c = yaml[i];
    ++column;
    if (line > limit.line || (line == limit.line && column >= limit.column)) break;
    if (c == '\n') {
      ++line;
      column = 0;
      prev = c;
      continue;
    }
    const bool token_start = prev == ' ' || prev == '\t' || prev == '\n' || prev == '[' ||
                             prev == '{' || prev == ',' || prev == ':';
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if ((c == '"' || c == '\'') && token_start) {
      quote = c;
    } else if (c == '#' && token_start) {
      const size_t end = yaml.find('\n', i);
      if (end == std::string_view::npos) break;
      column += static_cast<int>(end - i) - 1;
      i = end - 1;
    } else if (c == '[' || c == '{') {
      stack.emplace_back(c, SourcePos{line, column});
    } else if ((c == ']' || c == '}') && !stack.empty()) {
      stack.pop_back();
    }
    prev = c;
  }
  for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
    if (it->first == open) return it->second;
  }
  return std::nullopt;
}

std::optional<SourcePos> IndentationTab(std::string_view yaml, int up_to_line) {
  int line = 1;
  size_t start = 0;
  while (start <= yaml.size() && line <= up_to_line) {
    size_t end = yaml.find('\n', start);
    if (end == std::string_view::npos) end = yaml.size();
    for (size_t i = start; i < end && (yaml[i] == ' ' || yaml[i] == '\t'); ++i) {
      if (yaml[i] == '\t') return SourcePos{line, static_cast<int>(i - start) + 1};
    }
    start = end + 1;
    ++line;
  }
  return std::nullopt;
}

std::vector<YAML::Node> LoadDocuments(const std::string& text, std::optional<YAML::Mark>* second) {
  std::vector<YAML::Node> docs = {YAML::Load(text)};
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentScanner scan;
  std::optional<YAML::Mark> previous_start;
  for (int i = 0; parser.HandleNextDocument(scan); ++i) {
    if (previous_start && previous_start->pos == scan.start.pos) {
      const auto pos = static_cast<size_t>(std::max(scan.start.pos, 0));
      const std::string what = pos < text.size() && text[pos] == ','
                                   ? "',' outside [ ] or { } (a stray comma?)"
                                   : "unexpected '" + text.substr(pos, 1) + "'";
      throw YAML::ParserException(scan.start, what);
    }
    previous_start = scan.start;
    if (i > 0 && scan.content) {
      *second = scan.content;
      break;
    }
  }
  return docs;
}

}  // namespace edge::config::internal
