// The command line of DESIGN §4, parsed with CLI11: every command, its options and --help, and
// the exit codes (0 success, 1 runtime failure, 2 bad usage or bad input).
//
// Thread-safety: called once, from main().
#pragma once

namespace edge::agent {

// The exit codes of every command (DESIGN §4); 0 is success.
inline constexpr int kExitRuntimeFailure = 1;
inline constexpr int kExitBadInput = 2;

int RunCommandLine(int argc, char** argv);

}  // namespace edge::agent
