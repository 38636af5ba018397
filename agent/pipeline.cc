#include "agent/pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "agent/messages.h"
#include "agent/model_sync.h"
#include "core/bounded_queue.h"
#include "core/crash_point.h"
#include "core/file_util.h"
#include "core/heartbeat.h"
#include "core/logging.h"
#include "core/rate_limited_log.h"
#include "core/tag_registry.h"
#include "core/time_format.h"
#include "core/version.h"
#include "drivers/modbus_source.h"
#include "drivers/mqtt_publisher.h"
#include "drivers/mqtt_source.h"
#include "inference/model_package.h"
#include "inference/window_assembler.h"
#include "storage/storage.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr size_t kPopBatch = 4096;
constexpr size_t kPublishReadBatch = 256;
constexpr uint64_t kMaxInFlight = 512;

// The alarm state of every deployment survives a restart, so that a restart neither forgets a
// raised alarm (it would never be cleared) nor raises it again: <data_dir>/alarm_state.json,
// {"<asset>": {"state": "raised", "peak_score": 0.93}, ...}, rewritten durably after each
// transition (transitions are rare), after the transition's message is in the outbox. At start
// the outbox's alarm history, committed with the message itself, overrides it (LoadAlarmState);
// the file still holds the states of a gateway without upstream, and of assets whose last
// transition has left the history.
fs::path AlarmStatePath(const std::string& data_dir) {
  return fs::path(data_dir) / "alarm_state.json";
}

}  // namespace

// One loaded model package and the deployments scored with it, in one batched call.
struct ModelGroup {
  inference::ModelPackage package;
  std::string repository_model;  // the model's name for model sync; empty for a local package
  // A model installed by model sync is on probation for its first minutes: a non-finite score
  // then rolls it back. A failed model scores nothing until its replacement arrives.
  std::optional<Timestamp> probation_until;
  bool failed = false;
  // The windows waiting to be scored in this round: raw values, then normalised.
  std::vector<float> raw;
  std::vector<float> input;
  std::vector<size_t> pending;  // deployment index per batch row
  std::vector<Timestamp> pending_end;

  int64_t window_values() const {
    return int64_t{package.manifest.window} *
           static_cast<int64_t>(package.manifest.features.size());
  }

  // A (new) model to score with, its buffers sized for a full batch.
  void SetPackage(inference::ModelPackage p, std::optional<Timestamp> probation) {
    package = std::move(p);
    probation_until = probation;
    failed = false;
    const size_t rows = static_cast<size_t>(package.model->max_batch());
    raw.resize(rows * static_cast<size_t>(window_values()));
    input.resize(raw.size());
    pending.reserve(rows);
    pending_end.reserve(rows);
  }
};

struct DeploymentState {
  config::Deployment config;
  ModelGroup* group = nullptr;          // null: no model installed
  std::vector<std::string> input_tags;  // per manifest feature
  std::unique_ptr<inference::WindowAssembler> assembler;
  std::unique_ptr<AlarmEngine> alarm;
  double threshold = 0.0;
  double last_score = 0.0;
  uint64_t windows_assembled = 0;  // handed over by its assemblers, across model swaps
  // What Snapshot() reports, copied by the scoring thread after each round; plain values, so
  // that the copy allocates nothing. Guarded by Pipeline::Impl::snapshot_mu_.
  struct Published {
    inference::WindowStatus window;
    AlarmState alarm = AlarmState::kNormal;
    double last_score = 0.0;
    uint64_t windows_unscorable = 0;  // the assembler's count: every window, not every gap
    uint64_t windows_assembled = 0;
    AlarmCounters alarms;
    LatencyHistogram inference;
    // Set when the model changes (rare), so that strings are copied only then.
    std::string model;
    std::string model_version;  // empty: no model
    bool model_failed = false;
  } published;
};

struct Route {
  uint32_t deployment;
  int feature;
};

class Pipeline::Impl : public inference::WindowAssembler::Sink, public ModelSync::Host {
 public:
  Impl(const config::AgentConfig& config, PipelineOptions options)
      : config_(config),
        clock_(options.clock != nullptr ? *options.clock : SystemClockInstance()),
        ingest_(options.ingest_capacity),
        to_storage_(options.storage_capacity),
        log_(GetLogger("pipeline")),
        rate_log_(log_, 5, std::chrono::minutes(1)) {}

  Status Init();
  Status Start();
  void Stop();
  PipelineSnapshot Snapshot() const;
  std::string LogStatus() const;
  std::string Stuck(std::chrono::milliseconds limit) const;

  // WindowAssembler::Sink, on the scoring thread.
  void OnWindow(const inference::WindowAssembler& assembler, Timestamp window_end) override;
  void OnUnscorable(const inference::WindowAssembler& assembler, Timestamp window_end,
                    const inference::WindowStatus& why, uint64_t windows) override;

  // ModelSync::Host: CheckFits and ReportModel on the sync thread; InstallModel queues the
  // package for the scoring thread, which swaps it in between two rounds.
  Status CheckFits(const std::string& model, const inference::Manifest& manifest) override;
  void InstallModel(const std::string& model, LoadedModel loaded) override;
  void ReportModel(const ModelStatusMessage& message) override;

 private:
  Status LoadModels();
  ModelGroup& AddGroup(inference::ModelPackage package, std::string repository_model,
                       std::optional<Timestamp> probation_until);
  Status SetUpDeployment(size_t index, ModelGroup& group);
  void BuildRoutes();
  void ApplyInstalls();
  Status RebuildWindows();
  Status RebuildWindow(DeploymentState& d, storage::SampleReader& reader, Timestamp now);
  void PublishOnline();
  void ScoringLoop();
  void RouteSamples(const std::vector<Sample>& batch);
  void AdvanceAll(Timestamp now);
  void FlushGroup(ModelGroup& group);
  void OnNonFiniteScore(ModelGroup& group, DeploymentState& d, double score);
  void OnTransition(DeploymentState& d, const AlarmTransition& t);
  void UpdateSnapshot(DeploymentState& d);
  void SaveAlarmState();
  std::map<std::string, std::pair<AlarmState, double>> LoadAlarmState();
  void PublisherLoop();
  void WakePublisher();

  const config::AgentConfig config_;
  const Clock& clock_;

  TagRegistry tags_;  // thread-safe: MQTT sources intern template names at run time
  BoundedQueue<Sample> ingest_;
  BoundedQueue<Sample> to_storage_;

  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<storage::SampleWriter> writer_;
  std::unique_ptr<drivers::ModbusSource> modbus_;
  std::unique_ptr<drivers::MqttSource> mqtt_;
  std::unique_ptr<drivers::MqttPublisher> upstream_;
  Timestamp started_{};

  // Scoring thread state.
  std::vector<std::unique_ptr<ModelGroup>> groups_;
  std::vector<DeploymentState> deployments_;
  std::vector<std::vector<Route>> routes_;  // by TagId
  std::map<const inference::WindowAssembler*, size_t> assembler_owner_;
  std::map<std::string, std::pair<AlarmState, double>> saved_alarms_;  // as of the start
  std::thread scoring_thread_;

  // Model sync: its thread hands installed packages over through pending_installs_.
  std::unique_ptr<ModelSync> sync_;
  std::mutex install_mu_;
  std::vector<std::pair<std::string, LoadedModel>> pending_installs_;  // guarded by install_mu_

  // Publisher thread state.
  std::thread publisher_thread_;
  std::mutex publish_mu_;
  std::condition_variable publish_cv_;
  bool publish_wake_ = false;  // guarded by publish_mu_
  bool publish_stop_ = false;  // guarded by publish_mu_
  std::atomic<bool> resend_{false};
  std::atomic<uint64_t> in_flight_{0};
  std::atomic<uint64_t> published_{0};

  // Loop heartbeats for the watchdog.
  Heartbeat scoring_beat_;
  Heartbeat publisher_beat_;

  mutable std::mutex snapshot_mu_;
  bool stopped_ = false;

  std::shared_ptr<spdlog::logger> log_;
  RateLimitedLog rate_log_;
};

namespace {

// A deployment that runs repository model `model` (rather than a local package).
bool RunsRepositoryModel(const config::Deployment& d, const std::string& model) {
  return d.package.empty() && d.model == model;
}

// The threshold `d` scores with if it runs `m`, or why `m` cannot serve `d`: every manifest
// feature needs a tag, no configured input may be unknown to the model, and a threshold must
// come from the configuration or the manifest.
StatusOr<double> FitDeployment(const config::Deployment& d, const inference::Manifest& m) {
  for (const std::string& feature : m.features) {
    if (d.inputs.find(feature) == d.inputs.end()) {
      return Status::InvalidArgument(
          fmt::format("deployment {}: model {} {} needs input \"{}\", which "
                      "models.deployments.inputs does not map to a tag",
                      d.asset, m.name, m.version, feature));
    }
  }
  for (const auto& [feature, tag] : d.inputs) {
    if (std::find(m.features.begin(), m.features.end(), feature) == m.features.end()) {
      return Status::InvalidArgument(
          fmt::format("deployment {}: input \"{}\" is not a feature of model {} {}", d.asset,
                      feature, m.name, m.version));
    }
  }
  if (d.alarm.threshold) return *d.alarm.threshold;
  if (m.has_threshold) return m.threshold;
  return Status::InvalidArgument(
      fmt::format("deployment {}: no alarm.threshold, and model {} {} has no output.threshold",
                  d.asset, m.name, m.version));
}

}  // namespace

Status Pipeline::Impl::LoadModels() {
  // Deployments sharing a local package directory, or a repository model, share one loaded
  // model and one batched call.
  std::map<fs::path, std::vector<size_t>> by_dir;
  std::map<std::string, int> by_model;
  for (size_t i = 0; i < deployments_.size(); ++i) {
    const config::Deployment& d = deployments_[i].config;
    if (!d.package.empty()) {
      std::error_code ec;
      const fs::path dir = fs::canonical(d.package, ec);
      by_dir[ec ? fs::path(d.package) : dir].push_back(i);
    } else {
      ++by_model[d.model];
    }
  }
  for (const auto& [dir, members] : by_dir) {
    inference::PackageOptions options;
    options.max_batch = static_cast<int>(members.size());
    StatusOr<inference::ModelPackage> package = inference::LoadModelPackage(dir, options);
    if (!package.ok()) {
      return Status::InvalidArgument(fmt::format("deployment {}: {}",
                                                 deployments_[members.front()].config.asset,
                                                 package.status().message()));
    }
    ModelGroup& group = AddGroup(std::move(*package), "", std::nullopt);
    for (size_t i : members) EDGE_RETURN_IF_ERROR(SetUpDeployment(i, group));
  }
  if (by_model.empty() || !config_.models.repository) return Status::Ok();
  ModelSyncOptions sync_options;
  sync_options.clock = &clock_;
  EDGE_ASSIGN_OR_RETURN(
      sync_, ModelSync::Create(*config_.models.repository, config_.gateway.data_dir, by_model,
                               *this, sync_options));
  for (const auto& [name, count] : by_model) {
    std::optional<LoadedModel> loaded = sync_->LoadInstalled(name);
    if (!loaded) {
      log_->warn("model {} is not installed yet; its deployments wait for the repository", name);
      continue;
    }
    ModelGroup& group = AddGroup(std::move(loaded->package), name, loaded->probation_until);
    for (size_t i = 0; i < deployments_.size(); ++i) {
      if (RunsRepositoryModel(deployments_[i].config, name)) {
        EDGE_RETURN_IF_ERROR(SetUpDeployment(i, group));
      }
    }
  }
  return Status::Ok();
}

ModelGroup& Pipeline::Impl::AddGroup(inference::ModelPackage package, std::string repository_model,
                                     std::optional<Timestamp> probation_until) {
  auto group = std::make_unique<ModelGroup>();
  group->repository_model = std::move(repository_model);
  group->SetPackage(std::move(package), probation_until);
  groups_.push_back(std::move(group));
  return *groups_.back();
}

// Points deployment `index` at `group`'s model: its inputs in the manifest's order, its
// threshold, and a window assembler for the manifest's window (kept if the window is the same,
// so that a model update loses no window in progress).
Status Pipeline::Impl::SetUpDeployment(size_t index, ModelGroup& group) {
  DeploymentState& d = deployments_[index];
  const inference::Manifest& m = group.package.manifest;
  EDGE_ASSIGN_OR_RETURN(d.threshold, FitDeployment(d.config, m));
  d.group = &group;
  d.input_tags.clear();
  for (const std::string& feature : m.features) d.input_tags.push_back(d.config.inputs.at(feature));

  const auto step = std::chrono::duration_cast<std::chrono::microseconds>(milliseconds(m.step_ms));
  inference::WindowSpec spec;
  spec.features = static_cast<int>(m.features.size());
  spec.window = m.window;
  spec.stride = m.stride;
  spec.step = step;
  spec.max_age = d.config.max_input_age.count() > 0
                     ? std::chrono::duration_cast<std::chrono::microseconds>(d.config.max_input_age)
                     : 3 * step;
  spec.lateness = std::min<std::chrono::microseconds>(step, milliseconds(250));
  if (d.assembler == nullptr || !(d.assembler->spec() == spec)) {
    if (d.assembler != nullptr) assembler_owner_.erase(d.assembler.get());
    d.assembler = std::make_unique<inference::WindowAssembler>(spec);
    assembler_owner_[d.assembler.get()] = index;
  }
  if (d.alarm == nullptr) {
    const auto saved = saved_alarms_.find(d.config.asset);
    const bool restored = saved != saved_alarms_.end();
    d.alarm = std::make_unique<AlarmEngine>(
        AlarmSettings{d.threshold, d.config.alarm.raise_after, d.config.alarm.clear_after},
        restored ? saved->second.first : AlarmState::kNormal,
        restored ? saved->second.second : 0.0);
    if (d.alarm->state() == AlarmState::kRaised) {
      log_->warn(
          "deployment {}: its alarm was raised when the agent stopped; it stays raised "
          "until clear_after normal windows",
          d.config.asset);
    }
  } else {
    d.alarm->SetThreshold(d.threshold);
  }
  {
    std::lock_guard lock(snapshot_mu_);
    d.published.model = m.name;
    d.published.model_version = m.version;
    d.published.model_failed = false;
  }
  log_->info("deployment {}: model {} {} ({}; window {} x {} features, step {} ms, threshold {})",
             d.config.asset, m.name, m.version, group.package.dir.string(), m.window,
             m.features.size(), m.step_ms, d.threshold);
  return Status::Ok();
}

void Pipeline::Impl::BuildRoutes() {
  routes_.assign(tags_.size(), {});
  for (size_t i = 0; i < deployments_.size(); ++i) {
    const DeploymentState& d = deployments_[i];
    if (d.group == nullptr) continue;
    for (size_t f = 0; f < d.input_tags.size(); ++f) {
      routes_[*tags_.Find(d.input_tags[f])].push_back(
          {static_cast<uint32_t>(i), static_cast<int>(f)});
    }
  }
}

Status Pipeline::Impl::Init() {
  for (const config::Deployment& d : config_.models.deployments) {
    DeploymentState state;
    state.config = d;
    deployments_.push_back(std::move(state));
  }

  // Tags: every configured name gets its id now, deployment inputs included, so that routes can
  // be a plain vector indexed by TagId. MQTT template names interned later never feed a model.
  for (const config::ModbusDevice& device : config_.modbus) {
    for (const config::ModbusTag& tag : device.tags) tags_.Intern(tag.name);
  }
  for (const config::MqttSource& source : config_.mqtt_sources) {
    for (const config::MqttSourceTag& tag : source.tags) {
      if (tag.name.find('{') == std::string::npos) tags_.Intern(tag.name);
    }
  }
  for (const DeploymentState& d : deployments_) {
    for (const auto& [feature, tag] : d.config.inputs) tags_.Intern(tag);
  }

  EDGE_ASSIGN_OR_RETURN(storage_,
                        storage::Storage::Open(config_.gateway.data_dir, config_.storage));
  saved_alarms_ = LoadAlarmState();
  EDGE_RETURN_IF_ERROR(LoadModels());
  BuildRoutes();
  EDGE_ASSIGN_OR_RETURN(writer_, storage_->CreateWriter(tags_, to_storage_, {}, clock_));
  EDGE_ASSIGN_OR_RETURN(modbus_, drivers::ModbusSource::Create(config_.modbus, tags_, ingest_));
  if (!config_.mqtt_sources.empty()) {
    drivers::MqttSource::Options mqtt_options;
    mqtt_options.clock = &clock_;
    EDGE_ASSIGN_OR_RETURN(mqtt_, drivers::MqttSource::Create(config_.mqtt_sources, tags_, ingest_,
                                                             mqtt_options));
  }
  if (config_.upstream) {
    const std::string& prefix = config_.upstream->topic_prefix;
    const std::string& gateway = config_.gateway.id;
    drivers::MqttPublisher::Options up;
    up.will = drivers::MqttWill{StatusTopic(prefix, gateway), OfflinePayload(gateway), 1, true};
    up.on_connected = [this] {
      PublishOnline();
      WakePublisher();
    };
    if (sync_ != nullptr) {
      up.subscriptions.push_back(ModelNotifyTopic(prefix, gateway));
      up.on_message = [this](std::string_view, std::string_view payload) {
        sync_->Notify(payload);
      };
    }
    EDGE_ASSIGN_OR_RETURN(upstream_, drivers::MqttPublisher::Create(config_.upstream->broker, up));
  }
  return Status::Ok();
}

Status Pipeline::Impl::RebuildWindows() {
  bool any = false;
  for (const DeploymentState& d : deployments_) any = any || d.assembler != nullptr;
  if (!any) return Status::Ok();
  StatusOr<storage::SampleReader> reader = storage_->OpenReader();
  if (!reader.ok()) {
    if (reader.status().code() == StatusCode::kNotFound) return Status::Ok();
    return reader.status();
  }
  const Timestamp now = clock_.Now();
  for (DeploymentState& d : deployments_) {
    if (d.assembler != nullptr) EDGE_RETURN_IF_ERROR(RebuildWindow(d, *reader, now));
  }
  return Status::Ok();
}

// Replays the stored samples of `d`'s inputs into its (fresh) window assembler, so that scoring
// resumes at once after a restart or a model with another window, rather than a window later.
Status Pipeline::Impl::RebuildWindow(DeploymentState& d, storage::SampleReader& reader,
                                     Timestamp now) {
  const inference::WindowSpec& spec = d.assembler->spec();
  // The window, plus enough history for the oldest step's "last value within max_age".
  const int steps = spec.window + spec.stride + static_cast<int>(spec.max_age / spec.step) + 1;
  std::vector<std::vector<Sample>> per_tag;
  EDGE_RETURN_IF_ERROR(reader.ReadLastSteps(d.input_tags, steps, spec.step, now, per_tag));
  // Merge by time so that steps close as the replay passes them (the assembler's per-input
  // queues are small).
  std::vector<Sample> merged;
  for (size_t f = 0; f < per_tag.size(); ++f) {
    for (Sample s : per_tag[f]) {
      s.tag = static_cast<TagId>(f);
      merged.push_back(s);
    }
  }
  std::stable_sort(merged.begin(), merged.end(),
                   [](const Sample& a, const Sample& b) { return a.ts < b.ts; });
  for (const Sample& s : merged) {
    d.assembler->Add(static_cast<int>(s.tag), s);
    d.assembler->Prime(s.ts);
  }
  d.assembler->Prime(now);
  if (!merged.empty()) {
    log_->info("deployment {}: rebuilt {} steps from {} stored samples", d.config.asset,
               d.assembler->counters().steps_closed, merged.size());
  }
  return Status::Ok();
}

Status Pipeline::Impl::Start() {
  started_ = clock_.Now();
  scoring_beat_.Beat();
  publisher_beat_.Beat();
  EDGE_RETURN_IF_ERROR(writer_->Start());
  if (upstream_ != nullptr) {
    EDGE_RETURN_IF_ERROR(upstream_->Start());
    publisher_thread_ = std::thread([this] { PublisherLoop(); });
  }
  if (Status s = RebuildWindows(); !s.ok()) {
    log_->error("rebuilding windows from storage: {}; scoring starts with empty windows",
                s.message());
  }
  scoring_thread_ = std::thread([this] { ScoringLoop(); });
  if (sync_ != nullptr) sync_->Start();
  EDGE_RETURN_IF_ERROR(modbus_->Start());
  if (mqtt_ != nullptr) EDGE_RETURN_IF_ERROR(mqtt_->Start());
  return Status::Ok();
}

void Pipeline::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (sync_ != nullptr) sync_->Stop();  // no install arrives while the stages stop
  if (modbus_ != nullptr) modbus_->Stop();
  if (mqtt_ != nullptr) mqtt_->Stop();
  ingest_.Close();
  if (scoring_thread_.joinable()) scoring_thread_.join();
  to_storage_.Close();
  if (writer_ != nullptr) writer_->Stop();
  if (publisher_thread_.joinable()) {
    {
      std::lock_guard lock(publish_mu_);
      publish_stop_ = true;
    }
    publish_cv_.notify_all();
    publisher_thread_.join();
  }
  if (upstream_ != nullptr) upstream_->Stop();
}

// ---- scoring thread ----

void Pipeline::Impl::ScoringLoop() {
  std::vector<Sample> batch;
  batch.reserve(kPopBatch);
  for (;;) {
    scoring_beat_.Beat();
    StallPoint("scoring");
    batch.clear();
    // Wake at least every 50 ms to close steps by the clock when inputs fall silent.
    const size_t n = ingest_.PopBatch(batch, kPopBatch, milliseconds(50));
    ApplyInstalls();
    if (n > 0) {
      to_storage_.PushBatch(batch);
      RouteSamples(batch);
    }
    AdvanceAll(clock_.Now());
    if (n == 0 && ingest_.closed() && ingest_.GetStats().depth == 0) break;
  }
}

void Pipeline::Impl::RouteSamples(const std::vector<Sample>& batch) {
  for (const Sample& s : batch) {
    if (s.tag >= routes_.size()) continue;
    for (const Route& r : routes_[s.tag]) {
      deployments_[r.deployment].assembler->Add(r.feature, s);
    }
  }
}

void Pipeline::Impl::AdvanceAll(Timestamp now) {
  for (DeploymentState& d : deployments_) {
    if (d.assembler != nullptr) d.assembler->Advance(now, *this);
  }
  for (const std::unique_ptr<ModelGroup>& g : groups_) FlushGroup(*g);
  for (DeploymentState& d : deployments_) UpdateSnapshot(d);
}

void Pipeline::Impl::OnWindow(const inference::WindowAssembler& assembler, Timestamp window_end) {
  const size_t index = assembler_owner_.at(&assembler);
  ++deployments_[index].windows_assembled;
  ModelGroup& group = *deployments_[index].group;
  if (group.failed) {
    deployments_[index].alarm->OnUnscorable();
    return;
  }
  // One window per deployment per batched call: a second one (catching up) flushes the first.
  if (std::find(group.pending.begin(), group.pending.end(), index) != group.pending.end()) {
    FlushGroup(group);
  }
  const size_t row = group.pending.size();
  const size_t values = static_cast<size_t>(group.window_values());
  assembler.CopyWindow(std::span<float>(group.raw.data() + row * values, values));
  group.pending.push_back(index);
  group.pending_end.push_back(window_end);
}

void Pipeline::Impl::OnUnscorable(const inference::WindowAssembler& assembler, Timestamp,
                                  const inference::WindowStatus&, uint64_t windows) {
  // The engine only needs to know that its runs are broken; the assembler counts the windows.
  if (windows > 0) deployments_[assembler_owner_.at(&assembler)].alarm->OnUnscorable();
}

void Pipeline::Impl::FlushGroup(ModelGroup& group) {
  const size_t batch = group.pending.size();
  if (batch == 0) return;
  const int64_t rows = static_cast<int64_t>(batch) * group.package.manifest.window;
  group.package.Normalize(group.raw.data(), group.input.data(), rows);
  inference::Model& model = *group.package.model;
  const auto started = std::chrono::steady_clock::now();
  model.Run(group.input.data(), static_cast<int>(batch));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  {
    std::lock_guard lock(snapshot_mu_);
    for (size_t b = 0; b < batch; ++b)
      deployments_[group.pending[b]].published.inference.Add(seconds);
  }
  const float* scores = model.output(0);
  const int64_t k = model.outputs()[0].sample_size;
  for (size_t b = 0; b < batch; ++b) {
    DeploymentState& d = deployments_[group.pending[b]];
    const double score = scores[static_cast<int64_t>(b) * k];
    if (!std::isfinite(score)) {
      d.alarm->OnUnscorable();
      OnNonFiniteScore(group, d, score);
      continue;
    }
    d.last_score = score;
    if (std::optional<AlarmTransition> t = d.alarm->OnScore(score, group.pending_end[b])) {
      OnTransition(d, *t);
    }
  }
  group.pending.clear();
  group.pending_end.clear();
}

// A score that is not a number can neither raise nor clear an alarm. From a model on probation
// it is the model's fault: the model stops scoring and model sync rolls it back.
void Pipeline::Impl::OnNonFiniteScore(ModelGroup& group, DeploymentState& d, double value) {
  const inference::Manifest& m = group.package.manifest;
  if (group.failed) return;
  const std::string_view score = std::isnan(value) ? "NaN" : (value > 0 ? "+inf" : "-inf");
  if (group.probation_until && clock_.Now() < *group.probation_until && sync_ != nullptr) {
    group.failed = true;
    log_->error("deployment {}: model {} {} scored {} during its probation; rolling it back",
                d.config.asset, m.name, m.version, score);
    std::lock_guard lock(snapshot_mu_);
    for (DeploymentState& member : deployments_) {
      if (member.group == &group) member.published.model_failed = true;
    }
    sync_->RequestRollback(
        group.repository_model, m.version,
        fmt::format("the model scored {} for deployment {}", score, d.config.asset));
    return;
  }
  rate_log_.Error("nonfinite-" + d.config.asset,
                  "deployment {}: model {} {} scored {}; the window counts as unscorable",
                  d.config.asset, m.name, m.version, score);
}

// On the scoring thread, between two rounds: packages model sync has installed replace the
// running ones. Windows already waiting are scored with the old model first.
void Pipeline::Impl::ApplyInstalls() {
  std::vector<std::pair<std::string, LoadedModel>> installs;
  {
    std::lock_guard lock(install_mu_);
    if (pending_installs_.empty()) return;
    installs.swap(pending_installs_);
  }
  StatusOr<storage::SampleReader> reader = storage_->OpenReader();
  for (auto& [name, loaded] : installs) {
    ModelGroup* group = nullptr;
    for (const std::unique_ptr<ModelGroup>& g : groups_) {
      if (g->repository_model == name) group = g.get();
    }
    if (group != nullptr) {
      FlushGroup(*group);
      group->SetPackage(std::move(loaded.package), loaded.probation_until);
    } else {
      group = &AddGroup(std::move(loaded.package), name, loaded.probation_until);
    }
    for (size_t i = 0; i < deployments_.size(); ++i) {
      DeploymentState& d = deployments_[i];
      if (!RunsRepositoryModel(d.config, name)) continue;
      const inference::WindowAssembler* before = d.assembler.get();
      if (Status s = SetUpDeployment(i, *group); !s.ok()) {
        // Model sync checked the fit before installing; this is a defect, not an input error.
        log_->error("{}", s.message());
        continue;
      }
      if (d.assembler.get() != before && reader.ok()) {
        if (Status s = RebuildWindow(d, *reader, clock_.Now()); !s.ok()) {
          log_->error("deployment {}: rebuilding its window: {}", d.config.asset, s.message());
        }
      }
    }
  }
  BuildRoutes();
  PublishOnline();
}

Status Pipeline::Impl::CheckFits(const std::string& model, const inference::Manifest& manifest) {
  for (const DeploymentState& d : deployments_) {
    if (RunsRepositoryModel(d.config, model)) {
      EDGE_RETURN_IF_ERROR(FitDeployment(d.config, manifest).status());
    }
  }
  return Status::Ok();
}

void Pipeline::Impl::InstallModel(const std::string& model, LoadedModel loaded) {
  std::lock_guard lock(install_mu_);
  pending_installs_.emplace_back(model, std::move(loaded));
}

void Pipeline::Impl::ReportModel(const ModelStatusMessage& message) {
  if (!config_.upstream || storage_ == nullptr) return;
  const StatusOr<uint64_t> seq = storage_->outbox().Append(
      ModelStatusTopic(config_.upstream->topic_prefix, config_.gateway.id),
      ModelStatusPayload(message), 1, false);
  if (!seq.ok()) {
    rate_log_.Error("outbox-append", "model status for {} could not be stored: {}", message.model,
                    seq.status().message());
    return;
  }
  WakePublisher();
}

// The retained birth message, with the models running now: on every connect and after every
// model change. Not an alarm: published directly, not through the outbox.
void Pipeline::Impl::PublishOnline() {
  if (upstream_ == nullptr) return;
  StatusMessage online{.gateway = config_.gateway.id,
                       .agent_version = kAgentVersion,
                       .started = started_,
                       .ts = clock_.Now(),
                       .models = {}};
  {
    std::lock_guard lock(snapshot_mu_);
    for (const DeploymentState& d : deployments_) {
      if (d.published.model_version.empty() || d.published.model_failed) continue;
      online.models.push_back({d.config.asset, d.published.model, d.published.model_version});
    }
  }
  (void)upstream_->Publish(StatusTopic(config_.upstream->topic_prefix, config_.gateway.id),
                           OnlinePayload(online), 1, true);
}

void Pipeline::Impl::OnTransition(DeploymentState& d, const AlarmTransition& t) {
  const inference::Manifest& m = d.group->package.manifest;
  AlarmMessage message{.gateway = config_.gateway.id,
                       .asset = d.config.asset,
                       .model = m.name,
                       .model_version = m.version,
                       .state = t.state,
                       .score = t.score,
                       .peak_score = t.peak_score,
                       .threshold = d.threshold,
                       .ts = clock_.Now(),
                       .window_end = t.window_end,
                       .seq = 0};
  log_->warn("alarm {} for {}: score {:.4g} (peak {:.4g}, threshold {:.4g}) at window end {}",
             AlarmStateName(t.state), d.config.asset, t.score, t.peak_score, d.threshold,
             FormatRfc3339Millis(t.window_end));
  if (config_.upstream) {
    const std::string topic =
        AlarmTopic(config_.upstream->topic_prefix, config_.gateway.id, d.config.asset);
    StatusOr<uint64_t> seq = storage_->outbox().AppendAlarm(topic, [&message](uint64_t s) {
      message.seq = s;
      return AlarmPayload(message);
    });
    if (!seq.ok()) {
      // The outbox keeps a reserve for exactly this; failing here means the disk is full beyond it.
      rate_log_.Error("outbox-append", "alarm for {} could not be stored: {}", d.config.asset,
                      seq.status().message());
    } else {
      CrashPoint("alarm-queued");  // committed, alarm_state.json not rewritten yet
      WakePublisher();
    }
  }
  SaveAlarmState();
}

std::map<std::string, std::pair<AlarmState, double>> Pipeline::Impl::LoadAlarmState() {
  std::map<std::string, std::pair<AlarmState, double>> saved;
  nlohmann::json doc = nlohmann::json::object();
  const fs::path path = AlarmStatePath(config_.gateway.data_dir);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    StatusOr<std::string> text = ReadFileToString(path, 1 << 20);
    doc = text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    if (!doc.is_object()) {
      log_->error("{}: unreadable; alarm states come from the alarm history only", path.string());
      doc = nlohmann::json::object();
    }
  }
  for (const auto& [asset, entry] : doc.items()) {
    if (!entry.is_object() || !entry.contains("state") || !entry["state"].is_string()) continue;
    const double peak = entry.value("peak_score", 0.0);
    saved[asset] = {entry["state"] == "raised" ? AlarmState::kRaised : AlarmState::kNormal, peak};
  }
  // The alarm history is committed in the same transaction as the outbox row, so it is the last
  // word: a transition delivered (or queued) just before a kill, before alarm-state.json was
  // rewritten, must not be raised a second time after the restart.
  storage::Outbox& outbox = storage_->outbox();
  StatusOr<std::vector<storage::OutboxMessage>> history =
      outbox.AlarmHistory(outbox.history_rows());
  if (!history.ok()) {
    log_->error("alarm history: {}; alarm states come from {} only", history.status().message(),
                path.string());
    return saved;
  }
  for (const storage::OutboxMessage& m : *history) {
    const nlohmann::json alarm = nlohmann::json::parse(m.payload, nullptr, false);
    if (!alarm.is_object() || !alarm.contains("asset") || !alarm["asset"].is_string()) continue;
    saved[alarm["asset"].get<std::string>()] = {
        alarm.value("state", "") == "raised" ? AlarmState::kRaised : AlarmState::kNormal,
        alarm.value("peak_score", 0.0)};
  }
  return saved;
}

void Pipeline::Impl::SaveAlarmState() {
  nlohmann::json doc = nlohmann::json::object();
  for (const DeploymentState& d : deployments_) {
    if (d.alarm == nullptr) continue;
    doc[d.config.asset] = {{"state", AlarmStateName(d.alarm->state())},
                           {"peak_score", d.alarm->episode_peak()}};
  }
  if (Status s = WriteFileDurably(AlarmStatePath(config_.gateway.data_dir), doc.dump() + "\n");
      !s.ok()) {
    rate_log_.Error("alarm-state", "{}", s.message());
  }
}

void Pipeline::Impl::UpdateSnapshot(DeploymentState& d) {
  if (d.assembler == nullptr) return;
  std::lock_guard lock(snapshot_mu_);
  d.published.window = d.assembler->status();
  d.published.alarm = d.alarm->state();
  d.published.last_score = d.last_score;
  d.published.windows_unscorable = d.assembler->counters().windows_unscorable;
  d.published.windows_assembled = d.windows_assembled;
  d.published.alarms = d.alarm->counters();
}

// ---- publisher thread ----

void Pipeline::Impl::WakePublisher() {
  {
    std::lock_guard lock(publish_mu_);
    publish_wake_ = true;
  }
  publish_cv_.notify_all();
}

void Pipeline::Impl::PublisherLoop() {
  storage::Outbox& outbox = storage_->outbox();
  uint64_t last_sent = 0;
  uint64_t seen_connects = 0;
  std::unique_lock lock(publish_mu_);
  while (!publish_stop_) {
    publisher_beat_.Beat();
    publish_cv_.wait_for(lock, std::chrono::seconds(1),
                         [this] { return publish_stop_ || publish_wake_; });
    publish_wake_ = false;
    if (publish_stop_) break;
    const drivers::MqttConnectionStats up = upstream_->stats();
    if (up.state != drivers::MqttConnectionState::kConnected) continue;
    // After a reconnect, or a publish that failed, everything unconfirmed goes again, in order.
    if (up.connects != seen_connects || resend_.exchange(false)) {
      seen_connects = up.connects;
      last_sent = 0;
    }
    lock.unlock();
    while (in_flight_.load() < kMaxInFlight) {
      StatusOr<std::vector<storage::OutboxMessage>> messages =
          outbox.ReadAfter(last_sent, kPublishReadBatch);
      if (!messages.ok()) {
        rate_log_.Error("outbox-read", "outbox: {}", messages.status().message());
        break;
      }
      if (messages->empty()) break;
      bool sent_all = true;
      for (const storage::OutboxMessage& m : *messages) {
        ++in_flight_;
        const uint64_t seq = m.seq;
        const Status s = upstream_->Publish(
            m.topic, m.payload, m.qos, m.retained, [this, &outbox, seq](const Status& result) {
              --in_flight_;
              if (result.ok()) {
                if (Status c = outbox.Confirm(seq); !c.ok()) {
                  rate_log_.Error("outbox-confirm", "outbox: {}", c.message());
                }
                ++published_;
              } else {
                resend_ = true;
              }
              WakePublisher();
            });
        if (!s.ok()) {
          --in_flight_;
          sent_all = false;  // not connected: the reconnect sends it
          break;
        }
        last_sent = seq;
      }
      if (!sent_all) break;
    }
    lock.lock();
  }
}

// ---- status ----

PipelineSnapshot Pipeline::Impl::Snapshot() const {
  PipelineSnapshot snap;
  const QueueStats ingest = ingest_.GetStats();
  const QueueStats storage = to_storage_.GetStats();
  snap.ingest_depth = ingest.depth;
  snap.ingest_dropped = ingest.dropped;
  snap.storage_depth = storage.depth;
  snap.storage_dropped = storage.dropped;
  if (writer_ != nullptr) {
    snap.writer = writer_->stats();
    snap.samples_committed = snap.writer.samples_committed;
    snap.storage_paused = snap.writer.paused;
  }
  if (storage_ != nullptr) {
    StatusOr<uint64_t> pending = storage_->outbox().Pending();
    snap.outbox_pending = pending.ok() ? *pending : 0;
    snap.outbox_damaged = storage_->outbox().damaged_rows();
  }
  snap.published = published_.load();
  if (modbus_ != nullptr) snap.modbus = modbus_->stats();
  if (mqtt_ != nullptr) snap.mqtt = mqtt_->stats();
  if (sync_ != nullptr) snap.models = sync_->stats();
  snap.upstream_configured = upstream_ != nullptr;
  snap.upstream_connected =
      upstream_ != nullptr && upstream_->stats().state == drivers::MqttConnectionState::kConnected;
  std::lock_guard lock(snapshot_mu_);
  for (const DeploymentState& d : deployments_) {
    DeploymentSnapshot out;
    out.asset = d.config.asset;
    const DeploymentState::Published& p = d.published;
    if (p.model_version.empty()) {
      out.model = d.config.package.empty() ? d.config.model : d.config.package;
      out.state = "no_model";
      snap.deployments.push_back(std::move(out));
      continue;
    }
    out.model = p.model;
    out.model_version = p.model_version;
    out.state =
        p.model_failed ? "model_failed" : std::string(inference::DataQualityName(p.window.quality));
    if (p.window.feature >= 0)
      out.state_input = d.input_tags[static_cast<size_t>(p.window.feature)];
    out.alarm = p.alarm;
    out.last_score = p.last_score;
    out.windows_scored = p.alarms.windows_scored;
    out.windows_assembled = p.windows_assembled;
    out.windows_unscorable = p.windows_unscorable;
    out.alarms_raised = p.alarms.raised;
    out.alarms_cleared = p.alarms.cleared;
    out.inference = p.inference;
    snap.deployments.push_back(std::move(out));
  }
  return snap;
}

std::string Pipeline::Impl::LogStatus() const {
  const PipelineSnapshot snap = Snapshot();
  for (const drivers::ModbusDeviceStats& d : snap.modbus) {
    log_->info(
        "modbus device {} ({}): {}, {} polls, {} samples, {} timeouts, {} exceptions, "
        "{} bad responses, {} connection errors, last latency {} us",
        d.device, d.endpoint, d.connected ? "connected" : "not connected", d.polls, d.samples,
        d.timeouts, d.exceptions, d.bad_responses, d.connection_errors, d.last_latency.count());
  }
  for (const drivers::MqttSourceStats& m : snap.mqtt) {
    log_->info(
        "mqtt source {} ({}): {}, {} connects, {} connect failures, {} losses, {} messages, "
        "{} samples, {} malformed, {} unmatched topics, {} queue drops",
        m.source, m.broker, drivers::MqttConnectionStateName(m.connection.state),
        m.connection.connects, m.connection.connect_failures, m.connection.connection_losses,
        m.messages, m.samples, m.malformed, m.unmatched_topic, m.queue_drops);
  }
  for (const ModelSyncStats& m : snap.models) {
    log_->info(
        "model {}: {} installed; {} checks ({} unchanged, {} failed), {} installs, {} refusals, "
        "{} rollbacks{}{}",
        m.model, m.installed_version.empty() ? "none" : m.installed_version, m.checks,
        m.not_modified, m.fetch_errors, m.installed, m.refused, m.rolled_back,
        m.last_error.empty() ? "" : "; last problem: ", m.last_error);
  }
  log_->info(
      "queues: ingest depth {} dropped {}, storage depth {} dropped {}; {} samples committed{}; "
      "outbox {} pending, {} published, upstream {}",
      snap.ingest_depth, snap.ingest_dropped, snap.storage_depth, snap.storage_dropped,
      snap.samples_committed, snap.storage_paused ? " (PAUSED: storage is failing)" : "",
      snap.outbox_pending, snap.published,
      upstream_ == nullptr ? "not configured"
                           : (snap.upstream_connected ? "connected" : "not connected"));
  for (const DeploymentSnapshot& d : snap.deployments) {
    log_->info(
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

std::string Pipeline::Impl::Stuck(std::chrono::milliseconds limit) const {
  if (scoring_thread_.joinable() && scoring_beat_.Age() > limit) return "the scoring stage";
  if (writer_ != nullptr && writer_->heartbeat().Age() > limit) return "the storage writer";
  if (publisher_thread_.joinable() && publisher_beat_.Age() > limit) return "the publisher";
  if (modbus_ != nullptr) {
    if (std::string stuck = modbus_->Stuck(limit); !stuck.empty()) return stuck;
  }
  if (sync_ != nullptr) return sync_->Stuck(limit);
  return "";
}

void LatencyHistogram::Add(double seconds) {
  size_t bucket = 0;
  while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
  ++counts[bucket];
  sum_seconds += seconds;
  ++count;
}

// ---- Pipeline ----

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::~Pipeline() { Stop(); }

StatusOr<std::unique_ptr<Pipeline>> Pipeline::Create(const config::AgentConfig& config,
                                                     PipelineOptions options) {
  auto impl = std::make_unique<Impl>(config, options);
  EDGE_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Pipeline>(new Pipeline(std::move(impl)));
}

Status Pipeline::Start() { return impl_->Start(); }
void Pipeline::Stop() { impl_->Stop(); }
PipelineSnapshot Pipeline::Snapshot() const { return impl_->Snapshot(); }
std::string Pipeline::LogStatus() const { return impl_->LogStatus(); }
std::string Pipeline::Stuck(std::chrono::milliseconds limit) const { return impl_->Stuck(limit); }

}  // namespace edge::agent
