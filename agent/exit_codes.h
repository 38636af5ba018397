// The exit codes of every command (DESIGN §4): 0 success, 1 runtime failure, 2 bad usage or bad
// input (configuration, CSV, model package). A header of its own, at agent/'s top, so that the
// daemon (`run`) and the commands in agent/cli/ share them without including the command line.
//
// Thread-safety: constants only.
#pragma once

namespace edge::agent {

inline constexpr int kExitRuntimeFailure = 1;
inline constexpr int kExitBadInput = 2;

}  // namespace edge::agent
