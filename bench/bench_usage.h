// --help for the bench programs that parse their own arguments. Each answers -h or --help with its
// usage on stdout and exit status 0, before it starts any peer or touches any file; arguments it
// does not understand get the same usage on stderr and exit status 2. (The Google Benchmark
// programs get the same from benchmark::Initialize, called before anything starts.)
//
// Thread-safety: call from main() before any thread starts.
#pragma once

#include <cstdio>
#include <string_view>

namespace edge::bench {

// True when any argument is -h or --help.
inline bool AsksForHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-h" || a == "--help") return true;
  }
  return false;
}

// Prints `usage` on stdout when the arguments ask for help: then main() returns 0.
inline bool PrintedHelp(int argc, char** argv, const char* usage) {
  if (!AsksForHelp(argc, argv)) return false;
  std::fputs(usage, stdout);
  return true;
}

}  // namespace edge::bench
