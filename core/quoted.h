// Quoting what an input supplied (a configuration value, a CSV field, an MQTT topic) inside a
// message meant for a person: a log line, a check-config diagnostic, a CLI error.
//
// Input is hostile until shown otherwise. Repeated verbatim, a newline in a tag name forges a
// second "FILE:LINE:COL: error:" line, an ESC sequence reaches the technician's terminal, and a
// 10 MB field makes a 10 MB message. Quoted() makes one line of printable UTF-8 of bounded size:
//   - control characters become C escapes (\n \r \t \\ \') or \xNN (ESC is \x1b);
//   - bytes that are not valid UTF-8 become \xNN;
//   - code points a terminal or editor acts on rather than shows (C1 controls U+0080..U+009F,
//     the bidirectional overrides and isolates U+202A..U+202E, U+2066..U+2069) become \u{NNNN};
//   - beyond `max_bytes` of the escaped text the rest is cut, at a character boundary, and the
//     original length is said: 'abcdef...' (10485760 bytes).
// EscapedLine() does the same without quotes or cut: the last line of defence of a sink that
// prints whole messages (config diagnostics), idempotent on text Quoted() made.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace edge {

// How much of an input value a message repeats by default: enough to recognise it.
inline constexpr size_t kQuotedMaxBytes = 80;

// `text` between single quotes, escaped and cut as above.
std::string Quoted(std::string_view text, size_t max_bytes = kQuotedMaxBytes);

// `text` with the escapes above (backslashes and quotes left alone), cut beyond `max_bytes` with
// "... (N bytes)".
std::string EscapedLine(std::string_view text, size_t max_bytes);

}  // namespace edge
