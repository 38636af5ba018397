#include "uplink/tag_glob.h"

#include <cstddef>

namespace edge::uplink {
namespace {

// Index after the UTF-8 code point starting at i (one byte for ASCII and for invalid bytes).
size_t NextCodePoint(std::string_view s, size_t i) {
  ++i;
  while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
  return i;
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view name) {
  size_t p = 0;
  size_t n = 0;
  // The last '*' seen and where in the name its run would end if we backtrack to it. Only the
  // last one matters: any earlier star can absorb no more than the last one can, because what
  // lies between them has already been matched at the earliest position.
  size_t star_p = std::string_view::npos;
  size_t star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star_p = p++;
      star_n = n;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      n = NextCodePoint(name, n);
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star_p != std::string_view::npos) {
      p = star_p + 1;  // let the last star absorb one more code point and retry
      star_n = NextCodePoint(name, star_n);
      n = star_n;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace edge::uplink
