// The command line of DESIGN §4, parsed with CLI11: every command, its options and --help. Each
// command returns one of the exit codes of agent/exit_codes.h.
//
// Thread-safety: called once, from main().
#pragma once

namespace edge::agent {

int RunCommandLine(int argc, char** argv);

}  // namespace edge::agent
