// What `http.listen` serves (DESIGN §6, issue #10): GET /metrics, the pipeline's counters in the
// Prometheus text format (version 0.0.4), and GET /health, a verdict a supervisor or a load
// balancer can act on. Both are pure functions of a PipelineSnapshot, rendered on request.
//
// Metric names start with edge_; counters end in _total; label values are escaped as the format
// requires. The full list is in the README ("Metrics and health").
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/pipeline.h"

namespace edge::agent {

std::string PrometheusText(const PipelineSnapshot& snap, std::string_view agent_version);

struct Health {
  // Failing (HTTP 503) when the agent cannot do its job: the data directory deleted or replaced,
  // storage paused (disk full or failing), a stage stuck, the upstream broker unreachable
  // (alarms cannot leave).
  std::vector<std::string> problems;
  // Reported, still 200: a PLC or sensor broker not connected, a deployment not scoring,
  // readings refused for an implausible time.
  std::vector<std::string> warnings;
  bool ok() const { return problems.empty(); }
};

// `stuck_stage`: Pipeline::Stuck()'s answer ("" when every stage progresses).
Health AssessHealth(const PipelineSnapshot& snap, const std::string& stuck_stage);

// {"status":"ok"|"failing","problems":[...],"warnings":[...]}
std::string HealthJson(const Health& health);

}  // namespace edge::agent
