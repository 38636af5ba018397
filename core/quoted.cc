#include "core/quoted.h"

#include <cstdint>
#include <cstdio>

namespace edge {
namespace {

// The length of the valid UTF-8 sequence at the start of `s` and its code point; 0 when the
// first byte does not start one (a stray continuation byte, an overlong form, a surrogate,
// beyond U+10FFFF, or cut short).
size_t DecodeUtf8(std::string_view s, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  size_t len = 0;
  uint32_t min = 0;
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2, min = 0x80, *cp = b0 & 0x1Fu;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, min = 0x800, *cp = b0 & 0x0Fu;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, *cp = b0 & 0x07u;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xC0) != 0x80) return 0;
    *cp = (*cp << 6) | (b & 0x3Fu);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) return 0;
  return len;
}

// Code points a terminal or an editor acts on instead of showing them.
bool IsInvisibleControl(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

std::string ByteEscape(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", b);
  return buf;
}

// The escaped form of the character at the start of `s`; `*consumed` its length in `s`.
std::string EscapeOne(std::string_view s, bool escape_quotes, size_t* consumed) {
  uint32_t cp = 0;
  const size_t len = DecodeUtf8(s, &cp);
  if (len == 0) {
    *consumed = 1;
    return ByteEscape(static_cast<unsigned char>(s[0]));
  }
  *consumed = len;
  if (cp < 0x20 || cp == 0x7F) {
    switch (cp) {
      case '\n': return "\\n";
      case '\r': return "\\r";
      case '\t': return "\\t";
      default: return ByteEscape(static_cast<unsigned char>(cp));
    }
  }
  if (escape_quotes && (cp == '\\' || cp == '\'')) return std::string("\\") + static_cast<char>(cp);
  if (IsInvisibleControl(cp)) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "\\u{%04x}", static_cast<unsigned>(cp));
    return buf;
  }
  return std::string(s.substr(0, len));
}

// Appends the escaped `text` to `out`, at most `max_bytes` of it; false when some was cut.
bool AppendEscaped(std::string_view text, size_t max_bytes, bool escape_quotes, std::string* out) {
  const size_t start = out->size();
  while (!text.empty()) {
    size_t consumed = 0;
    const std::string piece = EscapeOne(text, escape_quotes, &consumed);
    if (out->size() - start + piece.size() > max_bytes) return false;
    *out += piece;
    text.remove_prefix(consumed);
  }
  return true;
}

}  // namespace

std::string Quoted(std::string_view text, size_t max_bytes) {
  std::string out = "'";
  const bool whole = AppendEscaped(text, max_bytes, /*escape_quotes=*/true, &out);
  out += whole ? "'" : "...' (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string EscapedLine(std::string_view text, size_t max_bytes) {
  std::string out;
  if (!AppendEscaped(text, max_bytes, /*escape_quotes=*/false, &out)) {
    out += "... (" + std::to_string(text.size()) + " bytes)";
  }
  return out;
}

}  // namespace edge
