// Pipeline: everything `edge-agent run` does between a register and an alarm (DESIGN §3), with
// the threads and queues it owns, started and stopped in order.
//
//   sources ──> ingest queue ──> scoring thread ──> storage queue ──> SampleWriter (samples.db)
//   (Modbus threads,             │ routes each sample to the window assemblers that use it,
//    paho callbacks)             │ scores ready windows (one batched call per model), runs the
//                                │ alarm engines and appends transitions to the outbox
//                                v
//                         outbox.db ──> publisher thread ──> upstream broker (QoS 1, PUBACK)
//                   (each alarm also stays in its alarm_history table after delivery)
//
// DESIGN: threads.
//  - Sources: one thread per Modbus connection, paho's threads for MQTT (drivers/).
//  - Scoring thread (here): owns the tag routes, window assemblers, models and alarm engines.
//    It forwards every sample to the storage queue unchanged, so storage sees exactly what the
//    sources produced, and scoring never waits for a commit.
//  - SampleWriter thread (storage/): commits the storage queue in batches.
//  - Publisher thread (here): sends outbox messages in seq order while the broker is connected,
//    deletes each on its PUBACK, and after a reconnect sends again everything still unconfirmed
//    (at least once, in order; `seq` lets a subscriber drop the duplicates).
// Start order: storage writer, publisher, scoring, sources. Stop is the reverse, each stage
// draining before the next one closes: sources stop; the ingest queue closes and the scoring
// thread drains it; the storage queue closes and the writer commits what is left; the publisher
// stops (unconfirmed alarms stay in the outbox for the next start); the broker connection closes.
//
// Repository models are kept up to date by ModelSync (agent/model_sync.h), on its own thread; it
// hands each verified package to the scoring thread, which swaps it in between two rounds
// (windows already waiting are scored with the old model; the window assembler is kept when
// the window is unchanged, otherwise rebuilt from storage). A non-finite score from a model on
// probation stops it and asks ModelSync to roll it back. Model sync starts after scoring and
// stops first.
//
// A deployment whose model is not installed yet, whose model failed, or whose inputs are stale
// is idle: its state says why, and nothing is scored.
//
// Thread-safety: Create/Start/Stop from the owner thread; Snapshot() from any thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/alarm_engine.h"
#include "agent/model_sync.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/status.h"
#include "drivers/modbus_poller.h"
#include "drivers/mqtt_source.h"
#include "storage/sample_writer.h"

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
  uint64_t published = 0;       // outbox messages confirmed by the broker
  uint64_t outbox_damaged = 0;  // outbox rows skipped as unpublishable (storage/outbox.h)
  bool upstream_configured = false;
  bool upstream_connected = false;
  std::vector<DeploymentSnapshot> deployments;
  std::vector<drivers::ModbusDeviceStats> modbus;
  std::vector<drivers::MqttSourceStats> mqtt;
  storage::WriterStats writer;
  std::vector<ModelSyncStats> models;  // repository models
};

struct PipelineOptions {
  const Clock* clock = nullptr;  // null: the system clock
  size_t ingest_capacity = 1 << 16;
  size_t storage_capacity = 1 << 16;
};

class Pipeline {
 public:
  // Opens storage (creating, migrating or recovering it), loads every deployment's model, builds
  // the sources and the publisher; starts nothing. Errors name the file and the fault: a bad
  // model package is InvalidArgument (exit code 2), a data directory that cannot be written is
  // IoError (exit code 1).
  [[nodiscard]] static StatusOr<std::unique_ptr<Pipeline>> Create(const config::AgentConfig& config,
                                                                  PipelineOptions options = {});
  ~Pipeline();  // Stop()
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  [[nodiscard]] Status Start();
  void Stop();  // idempotent

  PipelineSnapshot Snapshot() const;
  // Logs every source's and stage's counters (the periodic status log) and returns a one-line
  // summary of them for sd_notify STATUS=; one snapshot serves both.
  std::string LogStatus() const;
  // For the systemd watchdog: the thread that has not gone round its loop for longer than
  // `limit` ("the scoring stage", "the storage writer", "the publisher", "the Modbus poll thread
  // for <endpoint>", "the model sync thread"), or "" when every one is progressing. A thread
  // about to block for a bounded time (a Modbus request, an HTTP download, a sleep) announces
  // it, and counts as stuck only once that time is over as well. MQTT sources run on paho's
  // threads and only push to a queue that never blocks: they are not watched.
  std::string Stuck(std::chrono::milliseconds limit) const;

  class Impl;

 private:
  explicit Pipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::agent
