#include "agent/metrics.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace edge::agent {
namespace {

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string Escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// Writes one metric family: its HELP and TYPE, then the samples given by the callback.
class Writer {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  // `labels`: already formatted `k="v",k2="v2"` (escaped), or empty.
  void Sample(std::string_view name, std::string_view labels, double value) {
    if (labels.empty()) {
      fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    } else {
      fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
    }
  }
  template <typename T, typename Labels, typename Value>
  void Each(std::string_view name, std::string_view type, std::string_view help,
            const std::vector<T>& items, Labels labels, Value value) {
    Family(name, type, help);
    for (const T& item : items) Sample(name, labels(item), static_cast<double>(value(item)));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string Label(std::string_view key, std::string_view value) {
  return fmt::format("{}=\"{}\"", key, Escape(value));
}

// One function per part of the snapshot, each a flat table of metric families.

void WriteModbus(const PipelineSnapshot& snap, Writer& w) {
  using drivers::ModbusDeviceStats;
  const auto device = [](const ModbusDeviceStats& d) { return Label("device", d.device); };
  w.Each("edge_modbus_connected", "gauge", "1 while the device's connection is open.", snap.modbus,
         device, [](const ModbusDeviceStats& d) { return d.connected ? 1 : 0; });
  w.Each("edge_modbus_polls_total", "counter", "Poll cycles run.", snap.modbus, device,
         [](const ModbusDeviceStats& d) { return d.polls; });
  w.Each("edge_modbus_requests_total", "counter", "Read requests sent.", snap.modbus, device,
         [](const ModbusDeviceStats& d) { return d.requests; });
  w.Each("edge_modbus_timeouts_total", "counter", "Requests without an answer in time.",
         snap.modbus, device, [](const ModbusDeviceStats& d) { return d.timeouts; });
  w.Each("edge_modbus_exceptions_total", "counter", "Modbus exception responses.", snap.modbus,
         device, [](const ModbusDeviceStats& d) { return d.exceptions; });
  w.Each("edge_modbus_bad_responses_total", "counter", "Malformed answers.", snap.modbus, device,
         [](const ModbusDeviceStats& d) { return d.bad_responses; });
  w.Each("edge_modbus_connection_errors_total", "counter",
         "Connections that broke and connects that failed.", snap.modbus, device,
         [](const ModbusDeviceStats& d) { return d.connection_errors; });
  w.Each("edge_modbus_missed_slots_total", "counter",
         "Poll slots skipped because a poll overran its period.", snap.modbus, device,
         [](const ModbusDeviceStats& d) { return d.missed_slots; });
  w.Each("edge_modbus_samples_total", "counter", "Samples read and queued.", snap.modbus, device,
         [](const ModbusDeviceStats& d) { return d.samples; });
  w.Each("edge_modbus_samples_dropped_total", "counter", "Samples the full queue refused.",
         snap.modbus, device, [](const ModbusDeviceStats& d) { return d.samples_dropped; });
  w.Each("edge_modbus_last_latency_seconds", "gauge", "Round trip of the last answered request.",
         snap.modbus, device, [](const ModbusDeviceStats& d) {
           return std::chrono::duration<double>(d.last_latency).count();
         });
}

void WriteMqttSources(const PipelineSnapshot& snap, Writer& w) {
  using drivers::MqttSourceStats;
  const auto source = [](const MqttSourceStats& s) { return Label("source", s.source); };
  w.Each("edge_mqtt_source_connected", "gauge", "1 while the source's broker connection is up.",
         snap.mqtt, source, [](const MqttSourceStats& s) {
           return s.connection.state == drivers::MqttConnectionState::kConnected ? 1 : 0;
         });
  w.Each("edge_mqtt_source_messages_total", "counter", "Messages received.", snap.mqtt, source,
         [](const MqttSourceStats& s) { return s.messages; });
  w.Each("edge_mqtt_source_samples_total", "counter", "Samples taken from messages and queued.",
         snap.mqtt, source, [](const MqttSourceStats& s) { return s.samples; });
  w.Each("edge_mqtt_source_malformed_total", "counter", "Payloads dropped as malformed.", snap.mqtt,
         source, [](const MqttSourceStats& s) { return s.malformed; });
  w.Each("edge_mqtt_source_queue_drops_total", "counter", "Samples the full queue refused.",
         snap.mqtt, source, [](const MqttSourceStats& s) { return s.queue_drops; });
  w.Each("edge_mqtt_source_connection_losses_total", "counter", "Established connections lost.",
         snap.mqtt, source,
         [](const MqttSourceStats& s) { return s.connection.connection_losses; });
}

void WriteQueuesAndStorage(const PipelineSnapshot& snap, Writer& w) {
  w.Family("edge_queue_depth", "gauge", "Samples waiting in a queue.");
  w.Sample("edge_queue_depth", Label("queue", "ingest"), static_cast<double>(snap.ingest_depth));
  w.Sample("edge_queue_depth", Label("queue", "storage"), static_cast<double>(snap.storage_depth));
  w.Family("edge_queue_dropped_total", "counter", "Samples a full queue refused.");
  w.Sample("edge_queue_dropped_total", Label("queue", "ingest"),
           static_cast<double>(snap.ingest_dropped));
  w.Sample("edge_queue_dropped_total", Label("queue", "storage"),
           static_cast<double>(snap.storage_dropped));
  const storage::WriterStats& st = snap.writer;
  w.Family("edge_storage_samples_committed_total", "counter",
           "Samples committed to samples.db (its rate is the SQLite write rate).");
  w.Sample("edge_storage_samples_committed_total", "", static_cast<double>(st.samples_committed));
  w.Family("edge_storage_commits_total", "counter", "Transactions committed to samples.db.");
  w.Sample("edge_storage_commits_total", "", static_cast<double>(st.commits));
  w.Family("edge_storage_commit_failures_total", "counter", "Transactions rolled back.");
  w.Sample("edge_storage_commit_failures_total", "", static_cast<double>(st.commit_failures));
  w.Family("edge_storage_disk_full_total", "counter", "Commits refused for a full disk.");
  w.Sample("edge_storage_disk_full_total", "", static_cast<double>(st.disk_full_events));
  w.Family("edge_storage_samples_refused_total", "counter",
           "Readings not stored for an implausible time: dated beyond storage.max_clock_skew "
           "ahead of the agent's clock.");
  w.Sample("edge_storage_samples_refused_total", Label("reason", "future"),
           static_cast<double>(st.samples_refused_future));
  w.Family("edge_data_dir_ok", "gauge",
           "0 once the data directory or a database in it was deleted or replaced under the "
           "agent.");
  w.Sample("edge_data_dir_ok", "", snap.data_dir_problem.empty() ? 1 : 0);
  w.Family("edge_storage_paused", "gauge", "1 while storage is failing and ingest is paused.");
  w.Sample("edge_storage_paused", "", st.paused ? 1 : 0);
  w.Family("edge_storage_size_bytes", "gauge", "Live size of samples.db at the last check.");
  w.Sample("edge_storage_size_bytes", "", static_cast<double>(st.live_bytes));
  w.Family("edge_storage_last_commit_seconds", "gauge", "Duration of the last commit.");
  w.Sample("edge_storage_last_commit_seconds", "",
           std::chrono::duration<double>(st.last_commit_duration).count());
}

void WriteUpstream(const PipelineSnapshot& snap, Writer& w) {
  w.Family("edge_upstream_connected", "gauge", "1 while the upstream broker connection is up.");
  w.Sample("edge_upstream_connected", "", snap.upstream_connected ? 1 : 0);
  w.Family("edge_outbox_pending", "gauge", "Messages in the outbox not yet acknowledged.");
  w.Sample("edge_outbox_pending", "", static_cast<double>(snap.outbox_pending));
  w.Family("edge_outbox_published_total", "counter", "Outbox messages acknowledged (PUBACK).");
  w.Sample("edge_outbox_published_total", "", static_cast<double>(snap.published));
  w.Family("edge_outbox_damaged_rows", "gauge",
           "Outbox rows that cannot be published (skipped; left in outbox.db for inspection).");
  w.Sample("edge_outbox_damaged_rows", "", static_cast<double>(snap.outbox_damaged));
  w.Family("edge_state_files_damaged_total", "counter",
           "State files read back at start that were damaged and moved aside (.damaged-<time>).");
  w.Sample("edge_state_files_damaged_total", "", static_cast<double>(snap.state_files_damaged));
}

void WriteDeployments(const PipelineSnapshot& snap, Writer& w) {
  const auto asset = [](const DeploymentSnapshot& d) { return Label("asset", d.asset); };
  w.Each(
      "edge_deployment_model_info", "gauge", "The model a deployment runs (always 1).",
      snap.deployments,
      [](const DeploymentSnapshot& d) {
        return Label("asset", d.asset) + "," + Label("model", d.model) + "," +
               Label("version", d.model_version);
      },
      [](const DeploymentSnapshot&) { return 1; });
  w.Each(
      "edge_deployment_state", "gauge",
      "1 for the deployment's data-quality state (ok, warming_up, stale, missing, bad, "
      "no_model, model_failed).",
      snap.deployments,
      [](const DeploymentSnapshot& d) {
        return Label("asset", d.asset) + "," + Label("state", d.state);
      },
      [](const DeploymentSnapshot&) { return 1; });
  w.Each("edge_deployment_windows_scored_total", "counter", "Windows scored.", snap.deployments,
         asset, [](const DeploymentSnapshot& d) { return d.windows_scored; });
  w.Each("edge_deployment_windows_assembled_total", "counter",
         "Windows assembled and handed to the model (scored, or scored non-finite).",
         snap.deployments, asset, [](const DeploymentSnapshot& d) { return d.windows_assembled; });
  w.Each("edge_deployment_windows_unscorable_total", "counter",
         "Windows that could not be scored (stale, missing or bad inputs).", snap.deployments,
         asset, [](const DeploymentSnapshot& d) { return d.windows_unscorable; });
  w.Each("edge_deployment_score", "gauge", "The last window's score.", snap.deployments, asset,
         [](const DeploymentSnapshot& d) { return d.last_score; });
  w.Each("edge_deployment_alarm_raised", "gauge", "1 while the deployment's alarm is raised.",
         snap.deployments, asset,
         [](const DeploymentSnapshot& d) { return d.alarm == AlarmState::kRaised ? 1 : 0; });
  w.Each("edge_deployment_alarms_raised_total", "counter", "Alarms raised.", snap.deployments,
         asset, [](const DeploymentSnapshot& d) { return d.alarms_raised; });
  w.Each("edge_deployment_alarms_cleared_total", "counter", "Alarms cleared.", snap.deployments,
         asset, [](const DeploymentSnapshot& d) { return d.alarms_cleared; });
  w.Family("edge_inference_seconds", "histogram", "Time of the model call that scored a window.");
  for (const DeploymentSnapshot& d : snap.deployments) {
    const LatencyHistogram& h = d.inference;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      const std::string le = i < LatencyHistogram::kBounds.size()
                                 ? fmt::format("{}", LatencyHistogram::kBounds[i])
                                 : "+Inf";
      w.Sample("edge_inference_seconds_bucket", Label("asset", d.asset) + "," + Label("le", le),
               static_cast<double>(cumulative));
    }
    w.Sample("edge_inference_seconds_sum", Label("asset", d.asset), h.sum_seconds);
    w.Sample("edge_inference_seconds_count", Label("asset", d.asset), static_cast<double>(h.count));
  }
}

void WriteModelSync(const PipelineSnapshot& snap, Writer& w) {
  const auto model = [](const ModelSyncStats& m) { return Label("model", m.model); };
  w.Each(
      "edge_model_installed_info", "gauge",
      "The installed version of a repository model (always 1; version empty when none).",
      snap.models,
      [](const ModelSyncStats& m) {
        return Label("model", m.model) + "," + Label("version", m.installed_version);
      },
      [](const ModelSyncStats&) { return 1; });
  w.Each("edge_model_sync_checks_total", "counter", "latest.json requests.", snap.models, model,
         [](const ModelSyncStats& m) { return m.checks; });
  w.Each("edge_model_sync_fetch_errors_total", "counter",
         "Repository unreachable or answering garbage.", snap.models, model,
         [](const ModelSyncStats& m) { return m.fetch_errors; });
  w.Each("edge_model_sync_installs_total", "counter", "Versions installed.", snap.models, model,
         [](const ModelSyncStats& m) { return m.installed; });
  w.Each("edge_model_sync_refusals_total", "counter", "Versions refused.", snap.models, model,
         [](const ModelSyncStats& m) { return m.refused; });
  w.Each("edge_model_sync_rollbacks_total", "counter", "Versions rolled back.", snap.models, model,
         [](const ModelSyncStats& m) { return m.rolled_back; });
  w.Each("edge_model_sync_unconfirmed", "gauge",
         "1 while the gateway cannot confirm its model is current (latest.json unsigned, badly "
         "signed, expired or replayed).",
         snap.models, model, [](const ModelSyncStats& m) { return m.unconfirmed.empty() ? 0 : 1; });
}

// Per telemetry stream (DESIGN §10), and the storage pressure that could remove unsent readings.
void WriteUplink(const PipelineSnapshot& snap, Writer& w) {
  using uplink::StreamStats;
  const auto stream = [](const StreamStats& s) { return Label("stream", s.name); };
  w.Each("edge_uplink_lag_seconds", "gauge",
         "Age of the oldest stored reading the stream has not had confirmed (0: none).",
         snap.uplink, stream, [](const StreamStats& s) { return s.lag_seconds; });
  w.Each("edge_uplink_backlog_readings", "gauge", "Stored readings not yet confirmed.",
         snap.uplink, stream, [](const StreamStats& s) { return s.backlog_readings; });
  w.Each("edge_uplink_backlog_bytes", "gauge",
         "Stored size of the readings not yet confirmed (samples.db bytes).", snap.uplink, stream,
         [](const StreamStats& s) { return s.backlog_bytes; });
  w.Each("edge_uplink_in_flight_messages", "gauge", "Messages cut and not yet confirmed.",
         snap.uplink, stream, [](const StreamStats& s) { return s.in_flight; });
  w.Each("edge_uplink_messages_total", "counter", "Messages confirmed by the broker (PUBACK).",
         snap.uplink, stream, [](const StreamStats& s) { return s.messages; });
  w.Each("edge_uplink_readings_total", "counter",
         "Readings (aggregate streams: aggregate rows) in confirmed messages.", snap.uplink,
         stream, [](const StreamStats& s) { return s.readings; });
  w.Each("edge_uplink_bytes_total", "counter", "Payload bytes of confirmed messages.",
         snap.uplink, stream, [](const StreamStats& s) { return s.bytes; });
  w.Each("edge_uplink_resent_total", "counter",
         "Messages sent again (refused by the broker, or unconfirmed for 60 s).", snap.uplink,
         stream, [](const StreamStats& s) { return s.resent; });
  w.Each("edge_uplink_gaps_total", "counter",
         "Gap messages: readings retention removed before they were sent.", snap.uplink, stream,
         [](const StreamStats& s) { return s.gaps; });
  w.Each("edge_uplink_gap_readings_total", "counter",
         "Readings retention removed before they were sent.", snap.uplink, stream,
         [](const StreamStats& s) { return s.gap_readings; });
  w.Each("edge_uplink_late_readings_total", "counter",
         "Aggregate streams: readings for a period already sent (counted, not sent).",
         snap.uplink, stream, [](const StreamStats& s) { return s.late_readings; });
  w.Each("edge_uplink_seconds_to_loss", "gauge",
         "Estimated time until retention removes readings the stream has not sent (+Inf: not at "
         "risk).",
         snap.uplink, stream, [&snap](const StreamStats& s) { return SecondsToLoss(snap, s); });
  w.Family("edge_storage_max_bytes", "gauge", "storage.max_size.");
  w.Sample("edge_storage_max_bytes", "", static_cast<double>(snap.storage_max_bytes));
}

}  // namespace

std::string PrometheusText(const PipelineSnapshot& snap, std::string_view agent_version) {
  Writer w;
  w.Family("edge_agent_info", "gauge", "The agent's version (always 1).");
  w.Sample("edge_agent_info", Label("version", agent_version), 1);
  WriteModbus(snap, w);
  WriteMqttSources(snap, w);
  WriteQueuesAndStorage(snap, w);
  WriteUpstream(snap, w);
  WriteDeployments(snap, w);
  WriteModelSync(snap, w);
  WriteUplink(snap, w);
  return w.Take();
}

Health AssessHealth(const PipelineSnapshot& snap, const std::string& stuck_stage) {
  Health h;
  if (!stuck_stage.empty()) h.problems.push_back(stuck_stage + " is stuck");
  if (!snap.data_dir_problem.empty()) h.problems.push_back(snap.data_dir_problem);
  if (snap.storage_paused) {
    h.problems.push_back("storage is failing (disk full or write errors): ingest is paused");
  }
  if (snap.upstream_configured && !snap.upstream_connected) {
    h.problems.push_back(
        fmt::format("the upstream broker is not connected ({} messages wait in the outbox)",
                    snap.outbox_pending));
  }
  if (snap.outbox_damaged > 0) {
    h.problems.push_back(
        fmt::format("{} outbox rows cannot be published and were skipped (left in outbox.db)",
                    snap.outbox_damaged));
  }
  if (snap.writer.samples_refused_future > 0) {
    h.warnings.push_back(fmt::format(
        "{} readings were not stored: dated more than storage.max_clock_skew ahead of the "
        "agent's clock (a source's clock is wrong); the last: {}",
        snap.writer.samples_refused_future, snap.writer.last_refused));
  }
  if (snap.state_files_damaged > 0) {
    h.warnings.push_back(
        fmt::format("{} damaged state files were moved aside (see the log for which)",
                    snap.state_files_damaged));
  }
  for (const drivers::ModbusDeviceStats& d : snap.modbus) {
    if (!d.connected) h.warnings.push_back("modbus device " + d.device + " is not connected");
  }
  for (const drivers::MqttSourceStats& s : snap.mqtt) {
    if (s.connection.state != drivers::MqttConnectionState::kConnected) {
      h.warnings.push_back("mqtt source " + s.source + " is not connected");
    }
  }
  for (const uplink::StreamStats& s : snap.uplink) {
    if (const double seconds = SecondsToLoss(snap, s); seconds < 3600) {
      h.warnings.push_back(fmt::format(
          "uplink stream {}: retention removes unsent readings in about {:.0f} min (backlog {} "
          "readings, {} bytes)",
          s.name, seconds / 60, s.backlog_readings, s.backlog_bytes));
    }
    if (s.gap_readings > 0) {
      h.warnings.push_back(fmt::format(
          "uplink stream {}: {} readings were removed by retention before they were sent", s.name,
          s.gap_readings));
    }
  }
  for (const ModelSyncStats& m : snap.models) {
    if (!m.unconfirmed.empty()) {
      h.warnings.push_back(fmt::format("model {}: {}", m.model, m.unconfirmed));
    }
  }
  for (const DeploymentSnapshot& d : snap.deployments) {
    if (d.state != "ok") {
      h.warnings.push_back(fmt::format("deployment {} is not scoring: {}{}", d.asset, d.state,
                                       d.state_input.empty() ? "" : " (" + d.state_input + ")"));
    }
  }
  return h;
}

std::string HealthJson(const Health& health) {
  return nlohmann::ordered_json{{"status", health.ok() ? "ok" : "failing"},
                                {"problems", health.problems},
                                {"warnings", health.warnings}}
      .dump();
}

}  // namespace edge::agent
