// What the running pipeline reports about itself (DESIGN §3, §6): PipelineSnapshot, one copy of
// every stage's counters taken at one moment, from which /metrics, /health, the periodic status
// log and systemd's STATUS= line are made; and LogStatus, the periodic status log.
//
// Thread-safety: plain values; LogStatus only reads its argument.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/alarm_engine.h"
#include "agent/sync/model_sync.h"
#include "drivers/modbus_poller.h"
#include "drivers/mqtt_source.h"
#include "storage/sample_writer.h"
#include "uplink/telemetry_stream.h"

namespace spdlog {
class logger;
}

namespace edge::agent {

// Model run times, in buckets for a Prometheus histogram.
struct LatencyHistogram {
  // Upper bounds in seconds; one more bucket (+Inf) counts the rest.
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   0.5};
  std::array<uint64_t, kBounds.size() + 1> counts{};  // per bucket, not cumulative
  double sum_seconds = 0.0;
  uint64_t count = 0;

  void Add(double seconds);
};

struct DeploymentSnapshot {
  std::string asset;
  std::string model;
  std::string model_version;  // empty: no model loaded
  std::string state;  // "ok", "warming_up", "stale", "missing", "bad", "no_model", "model_failed"
  std::string state_input;  // the input at fault, if any
  AlarmState alarm = AlarmState::kNormal;
  double last_score = 0.0;
  uint64_t windows_scored = 0;     // with a finite score
  uint64_t windows_assembled = 0;  // handed to the model: scored, or scored non-finite
  uint64_t windows_unscorable = 0;
  uint64_t alarms_raised = 0;
  uint64_t alarms_cleared = 0;
  LatencyHistogram inference;  // one model call per window (a batch's time for each of its rows)
};

struct PipelineSnapshot {
  uint64_t ingest_depth = 0;
  uint64_t ingest_dropped = 0;
  uint64_t storage_depth = 0;
  uint64_t storage_dropped = 0;
  uint64_t samples_committed = 0;
  bool storage_paused = false;  // disk full or write errors: ingest paused
  uint64_t outbox_pending = 0;
  uint64_t published = 0;            // outbox messages confirmed by the broker
  uint64_t outbox_damaged = 0;       // outbox rows skipped as unpublishable (storage/outbox.h)
  uint64_t state_files_damaged = 0;  // since the process started (core/state_file.h)
  std::string data_dir_problem;      // the data directory deleted or replaced (agent/data_dir.h)
  bool upstream_configured = false;
  bool upstream_connected = false;
  std::vector<DeploymentSnapshot> deployments;
  std::vector<drivers::ModbusDeviceStats> modbus;
  std::vector<drivers::MqttSourceStats> mqtt;
  storage::WriterStats writer;
  std::vector<ModelSyncStats> models;  // repository models
  std::vector<uplink::StreamStats> uplink;  // telemetry streams, then alarm-context (if any)
  double retention_seconds = 0;             // storage.retention
  uint64_t storage_max_bytes = 0;           // storage.max_size
};

// How long until retention removes readings stream `s` has not sent yet, if the backlog keeps
// growing as it did lately (seconds; +infinity when it is not at risk): the smaller of the age
// limit (retention minus the age of the oldest unsent reading) and the size limit (the room
// left below storage.max_size at the backlog's recent growth).
double SecondsToLoss(const PipelineSnapshot& snap, const uplink::StreamStats& s);

// Logs every source's and stage's counters in `snap` to `log`, and returns a one-line summary of
// them for sd_notify STATUS=.
std::string LogStatus(const PipelineSnapshot& snap, spdlog::logger& log);

}  // namespace edge::agent
