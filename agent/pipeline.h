// Pipeline: everything `edge-agent run` does between a register and an alarm (DESIGN §3). It is
// the composition root: it builds the stages, wires them together, and starts and stops them in
// order; each stage is a unit of its own.
//
//   sources ──> ingest queue ──> ScoringStage ──> storage queue ──> SampleWriter (samples.db)
//   (Modbus threads,             │ (agent/scoring_stage.h) routes samples to window assemblers,
//    paho callbacks)             │ scores ready windows (one batched call per model), runs the
//                                │ alarm engines and appends transitions to the outbox
//                                v
//                         outbox.db ──> OutboxPublisher ──> upstream broker (QoS 1, PUBACK)
//                   (agent/outbox_publisher.h; each alarm also stays in its alarm_history table)
//   samples.db ──> TelemetryUplink ──> upstream broker (uplink/telemetry_uplink.h: the configured
//                  telemetry streams and the alarm context, after the alarms, DESIGN §10)
//
// DESIGN: threads.
//  - Sources: one thread per Modbus connection, paho's threads for MQTT (drivers/).
//  - Scoring thread (agent/scoring_stage.h): owns the tag routes, window assemblers, models and
//    alarm engines, and the alarm states (agent/alarm_state_store.h).
//  - SampleWriter thread (storage/): commits the storage queue in batches.
//  - Publisher thread (agent/outbox_publisher.h): sends outbox messages in seq order while the
//    broker is connected, deletes each on its PUBACK.
//  - Uplink thread (uplink/telemetry_uplink.h): reads samples.db by a durable cursor per stream
//    and publishes the readings, while the publisher has nothing in flight.
//  - Model sync thread (agent/sync/model_sync.h): keeps repository models up to date and hands
//    each verified package to the scoring stage, which swaps it in between two rounds.
// Start order: storage writer, publisher, uplink, scoring, model sync, sources. Stop is the reverse,
// each stage draining before the next one closes: model sync stops (no install arrives while
// the stages stop); sources stop; the ingest queue closes and the scoring thread drains it; the
// storage queue closes and the writer commits what is left (then the MQTT sources' journals go,
// drivers/mqtt_journal.h); the publisher stops (unconfirmed
// alarms stay in the outbox for the next start); the broker connection closes.
//
// Snapshot() gathers every stage's counters (agent/status_snapshot.h) for /metrics, /health and
// the status log.
//
// Thread-safety: Create/Start/Stop from the owner thread; Snapshot() from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "agent/status_snapshot.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/status.h"

namespace edge::agent {

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
