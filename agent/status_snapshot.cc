#include "agent/status_snapshot.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

namespace edge::agent {
namespace {

void LogSources(const PipelineSnapshot& snap, spdlog::logger& log) {
  for (const drivers::ModbusDeviceStats& d : snap.modbus) {
    log.info(
        "modbus device {} ({}): {}, {} polls, {} samples, {} timeouts, {} exceptions, "
        "{} bad responses, {} connection errors, last latency {} us",
        d.device, d.endpoint, d.connected ? "connected" : "not connected", d.polls, d.samples,
        d.timeouts, d.exceptions, d.bad_responses, d.connection_errors, d.last_latency.count());
  }
  for (const drivers::MqttSourceStats& m : snap.mqtt) {
    log.info(
        "mqtt source {} ({}): {}, {} connects, {} connect failures, {} losses, {} messages, "
        "{} samples, {} malformed, {} unmatched topics, {} queue drops",
        m.source, m.broker, drivers::MqttConnectionStateName(m.connection.state),
        m.connection.connects, m.connection.connect_failures, m.connection.connection_losses,
        m.messages, m.samples, m.malformed, m.unmatched_topic, m.queue_drops);
  }
  for (const ModelSyncStats& m : snap.models) {
    log.info(
        "model {}: {} installed; {} checks ({} unchanged, {} failed), {} installs, {} refusals, "
        "{} rollbacks{}{}",
        m.model, m.installed_version.empty() ? "none" : m.installed_version, m.checks,
        m.not_modified, m.fetch_errors, m.installed, m.refused, m.rolled_back,
        m.last_error.empty() ? "" : "; last problem: ", m.last_error);
  }
}

}  // namespace

void LatencyHistogram::Add(double seconds) {
  size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  ++counts[bucket];
  sum_seconds += seconds;
  ++count;
}

double SecondsToLoss(const PipelineSnapshot& snap, const uplink::StreamStats& s) {
  double seconds = std::numeric_limits<double>::infinity();
  if (s.backlog_readings > 0 && snap.retention_seconds > 0) {
    seconds = std::max(0.0, snap.retention_seconds - s.lag_seconds);
  }
  if (s.backlog_growth_bytes_per_s > 0 && snap.storage_max_bytes > 0) {
    const double room = static_cast<double>(snap.storage_max_bytes) -
                        static_cast<double>(std::max<int64_t>(snap.writer.live_bytes, 0));
    seconds = std::min(seconds, std::max(0.0, room) / s.backlog_growth_bytes_per_s);
  }
  return seconds;
}

std::string LogStatus(const PipelineSnapshot& snap, spdlog::logger& log) {
  LogSources(snap, log);
  for (const uplink::StreamStats& s : snap.uplink) {
    log.info(
        "uplink stream {}: {} tags, {} messages ({} readings, {} bytes) confirmed, {} in flight, "
        "backlog {} readings ({} bytes), lag {:.1f} s, {} gaps ({} readings lost to retention)",
        s.name, s.tags, s.messages, s.readings, s.bytes, s.in_flight, s.backlog_readings,
        s.backlog_bytes, s.lag_seconds, s.gaps, s.gap_readings);
  }
  log.info(
      "queues: ingest depth {} dropped {}, storage depth {} dropped {}; {} samples committed{}; "
      "outbox {} pending, {} published, upstream {}",
      snap.ingest_depth, snap.ingest_dropped, snap.storage_depth, snap.storage_dropped,
      snap.samples_committed, snap.storage_paused ? " (PAUSED: storage is failing)" : "",
      snap.outbox_pending, snap.published,
      !snap.upstream_configured ? "not configured"
                                : (snap.upstream_connected ? "connected" : "not connected"));
  if (!snap.data_dir_problem.empty()) log.error("data directory: {}", snap.data_dir_problem);
  if (snap.writer.samples_refused_future > 0) {
    log.warn("storage: {} readings refused as dated more than storage.max_clock_skew ahead; the "
             "last: {}",
             snap.writer.samples_refused_future, snap.writer.last_refused);
  }
  for (const DeploymentSnapshot& d : snap.deployments) {
    log.info(
        "deployment {}: {} {}, data {}{}, alarm {}, last score {:.4g}, {} windows scored "
        "({} assembled), {} unscorable",
        d.asset, d.model, d.model_version, d.state,
        d.state_input.empty() ? "" : " (" + d.state_input + ")", AlarmStateName(d.alarm),
        d.last_score, d.windows_scored, d.windows_assembled, d.windows_unscorable);
  }
  int raised = 0, scoring = 0;
  for (const DeploymentSnapshot& d : snap.deployments) {
    raised += d.alarm == AlarmState::kRaised;
    scoring += d.state == "ok";
  }
  return fmt::format("{} samples stored, {}/{} deployments scoring, {} alarms raised, outbox {}",
                     snap.samples_committed, scoring, snap.deployments.size(), raised,
                     snap.outbox_pending);
}

}  // namespace edge::agent
