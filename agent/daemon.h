// `edge-agent run`: the daemon's life cycle.
//
// Load and validate the configuration (exit 2 with every error if it is bad: no partial start),
// set up logging, open and lock the data directory, start the pipeline, tell systemd READY=1,
// then wait for signals in the main loop: SIGTERM/SIGINT stop in reverse start order, SIGHUP
// re-reads the configuration.
//
// Thread-safety: called once, from main().
#pragma once

#include <string>

namespace edge::agent {

struct RunOptions {
  std::string config_path = "/etc/edge-agent/agent.yaml";
  std::string data_dir;                // overrides gateway.data_dir when not empty
  std::string log_level;               // overrides gateway.log_level when not empty
  std::string status_interval = "1m";  // how often the poll summary is logged (a duration)
};

// Returns the process exit code (DESIGN §4): 0 after a clean stop, 1 on a runtime failure at
// start, 2 for a bad configuration.
int RunDaemon(const RunOptions& options);

}  // namespace edge::agent
