// Tag globs of telemetry streams (DESIGN §10): `*` matches any run of characters (also none),
// `?` exactly one character (one UTF-8 code point, so "pump?" matches "pumpé"), every other
// character itself, over the whole tag name: there are no path semantics, "pump1.*" matches
// "pump1.a.b". There is no escape; a literal '*' or '?' in a name is matched by the wildcard.
//
// Iterative, remembering only the last '*' (the classic greedy matcher with backtracking to it):
// O(|pattern| * |name|) at worst, no recursion, so "*a*a*a*a*b" against a long name cannot blow
// up the stack or take exponential time.
//
// Thread-safety: pure function.
#pragma once

#include <string_view>

namespace edge::uplink {

bool GlobMatch(std::string_view pattern, std::string_view name);

}  // namespace edge::uplink
