// Human-readable accounts of a validated configuration: the one-line summary `check-config`
// prints, and the start-up log of what the daemon runs, so that a technician can read from
// the journal which devices, tags and models are active.
#pragma once

#include <spdlog/logger.h>

#include <string>

#include "config/config.h"

namespace edge::agent {

// "2 Modbus devices (14 tags), 1 MQTT source (3 tags), 1 model deployment".
std::string SummarizeConfig(const config::AgentConfig& config);

// One info line per device, source and deployment.
void LogConfiguration(const config::AgentConfig& config, spdlog::logger& log);

}  // namespace edge::agent
