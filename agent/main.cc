// edge-agent: one binary for the daemon and its tools (DESIGN §4).
#include "agent/cli/cli.h"

int main(int argc, char** argv) { return edge::agent::RunCommandLine(argc, argv); }
