// ScoringStage: from samples to alarms (DESIGN §3). It routes each sample to the window
// assemblers of the deployments that use its tag, scores the windows they close (one batched
// model call per model and round), runs each deployment's alarm engine, and appends every
// transition to the outbox, then records it in alarm_state.json (agent/alarm_state_store.h).
//
// Models: deployments sharing a local package directory, or a repository model, share one
// loaded model (a "group") and one batched call. Repository models arrive from ModelSync
// (agent/sync/model_sync.h) through QueueInstall and are swapped in between two rounds: windows
// already waiting are scored with the old model first; a deployment's window assembler is kept
// when the new model's window is the same, otherwise rebuilt from storage. A model installed by
// model sync is on probation for its first minutes: a non-finite score then stops it and asks
// model sync to roll it back. A non-finite score never raises or clears an alarm.
//
// A deployment whose model is not installed yet, whose model failed, or whose inputs are stale
// is idle: its state says why, and nothing is scored.
//
// Time comes from the Clock, so that a test drives rounds with a FakeClock (Round()).
//
// DESIGN: threads. One scoring thread (Start) owns the routes, window assemblers, models and
// alarm engines. Each round it pops a batch from the ingest queue (waking at least every 50 ms
// to close steps by the clock when inputs fall silent), applies queued installs, forwards the
// batch unchanged to the storage queue (so storage sees exactly what the sources produced, and
// scoring never waits for a commit), then scores. It stops once the ingest queue is closed and
// drained; Join() waits for that. Two locks: install_mu_ hands packages over from the sync
// thread; snapshot_mu_ guards what Snapshot readers on other threads see, copied after each
// round as plain values so that the copy allocates nothing.
//
// Thread-safety: Init, RebuildWindows and Start from the owner before the thread runs; Round
// only on the scoring thread (or a test's, with no thread started); CheckFits and QueueInstall
// from the model sync thread; AppendDeployments, ActiveModels, heartbeat() from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/alarm_engine.h"
#include "agent/alarm_state_store.h"
#include "agent/messages.h"
#include "agent/status_snapshot.h"
#include "agent/sync/model_sync.h"
#include "config/config.h"
#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/heartbeat.h"
#include "core/mutex.h"
#include "core/rate_limited_log.h"
#include "core/status.h"
#include "core/tag_registry.h"
#include "core/thread_annotations.h"
#include "inference/model_package.h"
#include "inference/window_assembler.h"
#include "storage/storage.h"

namespace edge::agent {

struct ScoringStageOptions {
  const Clock* clock = nullptr;  // null: the system clock
  // An alarm is in the outbox: wake the publisher. Called on the scoring thread.
  std::function<void()> on_alarm_queued;
  // A model was swapped in, so the models running changed (the birth message lists them).
  // Called on the scoring thread.
  std::function<void()> on_models_changed;
};

class ScoringStage final : public inference::WindowAssembler::Sink {
 public:
  // `config`, `tags` and `storage` must outlive the stage. `tags` holds an id for every
  // deployment input.
  ScoringStage(const config::AgentConfig& config, const TagRegistry& tags,
               storage::Storage& storage, ScoringStageOptions options);
  ~ScoringStage() override;  // Join()
  ScoringStage(const ScoringStage&) = delete;
  ScoringStage& operator=(const ScoringStage&) = delete;

  // The repository models the deployments name, each with the number of deployments that use
  // it (the batch size to load it with).
  static std::map<std::string, int> RepositoryModels(const config::AgentConfig& config);

  // Restores the alarm states, loads every local package, takes each repository model's
  // installed version from `sync` (null: none yet; they arrive by QueueInstall), and builds the
  // routes. A bad package is InvalidArgument naming the deployment. `sync` must outlive the
  // stage; it is asked to roll back a model that fails its probation.
  [[nodiscard]] Status Init(ModelSync* sync);

  // Replays the stored samples of every deployment's inputs into its window assembler, so that
  // scoring resumes at once after a restart rather than a window later.
  [[nodiscard]] Status RebuildWindows();

  // Starts the scoring thread on `ingest` -> `to_storage` (see DESIGN above). Both outlive it.
  void Start(BoundedQueue<Sample>& ingest, BoundedQueue<Sample>& to_storage);
  // Waits until the thread has drained the closed ingest queue. Idempotent.
  void Join();

  // One round without the queues: queued installs, then `batch`, then the steps due at the
  // clock's now. The scoring thread's own rounds also forward each batch to storage.
  void Round(const std::vector<Sample>& batch);

  // ModelSync::Host, on the sync thread: OK if `manifest` fits every deployment of `model`.
  [[nodiscard]] Status CheckFits(const std::string& model,
                                 const inference::Manifest& manifest) const;
  // ModelSync::Host: swaps `loaded` in at the start of the next round.
  void QueueInstall(const std::string& model, LoadedModel loaded) EXCLUDES(install_mu_);

  // The deployments, for PipelineSnapshot.
  void AppendDeployments(std::vector<DeploymentSnapshot>& out) const EXCLUDES(snapshot_mu_);
  // The deployments scoring with a working model, for the birth message.
  std::vector<ActiveModel> ActiveModels() const EXCLUDES(snapshot_mu_);

  const Heartbeat& heartbeat() const { return beat_; }
  bool running() const { return thread_.joinable(); }

  // WindowAssembler::Sink, on the scoring thread.
  void OnWindow(const inference::WindowAssembler& assembler, Timestamp window_end) override;
  void OnUnscorable(const inference::WindowAssembler& assembler, Timestamp window_end,
                    const inference::WindowStatus& why, uint64_t windows) override;

 private:
  struct ModelGroup;
  struct DeploymentState;
  struct Route {
    uint32_t deployment;
    int feature;
  };
  // What AppendDeployments reports of one deployment, copied after each round; the strings
  // only when the model changes (rare).
  struct Published {
    inference::WindowStatus window;
    AlarmState alarm = AlarmState::kNormal;
    double last_score = 0.0;
    uint64_t windows_unscorable = 0;  // the assembler's count: every window, not every gap
    uint64_t windows_assembled = 0;
    AlarmCounters alarms;
    LatencyHistogram inference;
    std::string model;
    std::string model_version;  // empty: no model
    std::vector<std::string> input_tags;
    bool model_failed = false;
  };

  void Loop(BoundedQueue<Sample>& ingest, BoundedQueue<Sample>& to_storage);
  Status LoadModels();
  ModelGroup& AddGroup(inference::ModelPackage package, std::string repository_model,
                       std::optional<Timestamp> probation_until);
  Status SetUpDeployment(size_t index, ModelGroup& group);
  void SetUpAlarm(DeploymentState& d);
  void BuildRoutes();
  void ApplyInstalls() EXCLUDES(install_mu_);
  Status RebuildWindow(DeploymentState& d, storage::SampleReader& reader, Timestamp now);
  void Score(const std::vector<Sample>& batch);
  void FlushGroup(ModelGroup& group);
  void OnNonFiniteScore(ModelGroup& group, DeploymentState& d, double score);
  void OnTransition(DeploymentState& d, const AlarmTransition& t);
  void SaveAlarmStates();
  void Publish(size_t index) EXCLUDES(snapshot_mu_);

  const config::AgentConfig& config_;
  const TagRegistry& tags_;
  storage::Storage& storage_;
  const Clock& clock_;
  ScoringStageOptions options_;
  AlarmStateStore alarm_states_;
  ModelSync* sync_ = nullptr;

  // Scoring thread state.
  std::vector<std::unique_ptr<ModelGroup>> groups_;
  std::vector<DeploymentState> deployments_;
  std::vector<std::vector<Route>> routes_;  // by TagId
  std::map<const inference::WindowAssembler*, size_t> assembler_owner_;
  SavedAlarms saved_alarms_;  // as of the start

  Mutex install_mu_;
  std::vector<std::pair<std::string, LoadedModel>> pending_installs_ GUARDED_BY(install_mu_);

  mutable Mutex snapshot_mu_;
  std::vector<Published> published_ GUARDED_BY(snapshot_mu_);  // by deployment

  Heartbeat beat_;
  std::shared_ptr<spdlog::logger> log_;
  RateLimitedLog rate_log_;
  std::thread thread_;
};

}  // namespace edge::agent
