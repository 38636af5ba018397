// Crash points: named places where a test may have the process SIGKILL itself, to prove that a
// crash at exactly that moment (mid-install, mid-commit) loses nothing and leaves no partial
// state. Inert unless the environment variable EDGE_TEST_CRASH_AT names the point; the
// variable is read once.
//
// Thread-safety: CrashPoint may be called from any thread.
#pragma once

#include <string_view>

namespace edge {

void CrashPoint(std::string_view point);

}  // namespace edge
