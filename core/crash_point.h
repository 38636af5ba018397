// Test hooks at named places, inert unless the environment names them (read once):
//  - CrashPoint: the process SIGKILLs itself when EDGE_TEST_CRASH_AT names the point, to prove
//    that a crash at exactly that moment (mid-install, mid-commit) loses nothing and leaves no
//    partial state;
//  - StallPoint: the calling thread blocks for good when EDGE_TEST_STALL_AT names the point, to
//    prove that a stuck thread stops the systemd watchdog pings.
//
// Thread-safety: both may be called from any thread.
#pragma once

#include <string_view>

namespace edge {

void CrashPoint(std::string_view point);
void StallPoint(std::string_view point);

}  // namespace edge
