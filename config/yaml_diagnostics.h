// What a technician needs to hear about a YAML file that does not parse, and the one way the
// configuration loader reads a YAML stream.
//
// yaml-cpp's parser messages are terse ("illegal map value") and often placed where the parser
// gave up rather than where the fault is: an unclosed '[' is reported lines later, a tab in
// the indentation as a mismatched block. DiagnoseSyntaxError turns a ParserException into the
// message and position of config/REFERENCE.md's conventions; the pieces it uses are exposed for
// their tests.
//
// This header exposes yaml-cpp types; it is included only by the config library's .cc files
// (and their tests).
//
// Thread-safety: functions without shared state; concurrent calls are safe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace edge::config::internal {

struct SyntaxError {
  SourcePos pos;
  std::string message;  // "invalid YAML: ..."
};

// The diagnostic for a parser error yaml-cpp raised at `mark` with `msg` while reading `yaml`.
SyntaxError DiagnoseSyntaxError(std::string_view yaml, const YAML::Mark& mark,
                                const std::string& msg);

// yaml-cpp's parser message `msg`, with a hint for the common causes on a line PC.
std::string SyntaxMessage(const std::string& msg);

// Where the last `open` ('[' or '{') that is still open at `limit` was opened, if any.
// Quotes are recognised only where a scalar can start, so that "it's" does not open a quote;
// comments are skipped.
std::optional<SourcePos> UnclosedBracket(std::string_view yaml, char open, SourcePos limit);

// The first tab in the indentation of a line at or before `up_to_line` (1-based), if any: YAML
// forbids tabs there and yaml-cpp's message for it is rarely about tabs.
std::optional<SourcePos> IndentationTab(std::string_view yaml, int up_to_line);

// YAML::LoadAll without its endless loop: on a ',' outside any [ ] or { } ("  a: 1\n,\n")
// yaml-cpp 0.7's parser returns an empty document at the same token forever, and LoadAll
// collects them until memory runs out (jbeder/yaml-cpp#1040; fixed upstream after 0.8.0 by
// #1319; found by tests/fuzz/config_loader_fuzzer). Returns the first document; `second` is
// where the first non-empty later document starts. A document that starts where the previous
// one did is the syntax error it is: YAML::ParserException, as for any other.
std::vector<YAML::Node> LoadDocuments(const std::string& text, std::optional<YAML::Mark>* second);

}  // namespace edge::config::internal
