// The command line of DESIGN §4, parsed with CLI11: every command, its options and --help, and
// the exit codes (0 success, 1 runtime failure, 2 bad usage or bad input).
//
// Thread-safety: called once, from main().
#pragma once

namespace edge::agent {

int RunCommandLine(int argc, char** argv);

}  // namespace edge::agent
