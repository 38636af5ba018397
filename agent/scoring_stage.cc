#include "agent/scoring_stage.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/crash_point.h"
#include "core/logging.h"
#include "core/time_format.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr size_t kPopBatch = 4096;

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

// The window grid `m` asks for; inputs older than the deployment's max_input_age (default
// three steps) are stale.
inference::WindowSpec WindowSpecFor(const inference::Manifest& m, const config::Deployment& d) {
  const auto step = std::chrono::duration_cast<std::chrono::microseconds>(milliseconds(m.step_ms));
  inference::WindowSpec spec;
  spec.features = static_cast<int>(m.features.size());
  spec.window = m.window;
  spec.stride = m.stride;
  spec.step = step;
  spec.max_age = d.max_input_age.count() > 0
                     ? std::chrono::duration_cast<std::chrono::microseconds>(d.max_input_age)
                     : 3 * step;
  spec.lateness = std::min<std::chrono::microseconds>(step, milliseconds(250));
  return spec;
}

}  // namespace

// One loaded model package and the deployments scored with it, in one batched call.
struct ScoringStage::ModelGroup {
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

struct ScoringStage::DeploymentState {
  config::Deployment config;
  ModelGroup* group = nullptr;          // null: no model installed
  std::vector<std::string> input_tags;  // per manifest feature
  std::unique_ptr<inference::WindowAssembler> assembler;
  std::unique_ptr<AlarmEngine> alarm;
  double threshold = 0.0;
  double last_score = 0.0;
  uint64_t windows_assembled = 0;  // handed over by its assemblers, across model swaps
};

ScoringStage::ScoringStage(const config::AgentConfig& config, const TagRegistry& tags,
                           storage::Storage& storage, ScoringStageOptions options)
    : config_(config),
      tags_(tags),
      storage_(storage),
      clock_(options.clock != nullptr ? *options.clock : SystemClockInstance()),
      options_(std::move(options)),
      alarm_states_(config.gateway.data_dir),
      log_(GetLogger("pipeline")),
      rate_log_(log_, 5, std::chrono::minutes(1)) {
  for (const config::Deployment& d : config_.models.deployments) {
    DeploymentState state;
    state.config = d;
    deployments_.push_back(std::move(state));
  }
  MutexLock lock(&snapshot_mu_);
  published_.resize(deployments_.size());
}

ScoringStage::~ScoringStage() { Join(); }

std::map<std::string, int> ScoringStage::RepositoryModels(const config::AgentConfig& config) {
  std::map<std::string, int> models;
  for (const config::Deployment& d : config.models.deployments) {
    if (d.package.empty()) ++models[d.model];
  }
  return models;
}

Status ScoringStage::Init(ModelSync* sync) {
  sync_ = sync;
  saved_alarms_ = alarm_states_.Load(storage_.outbox());
  EDGE_RETURN_IF_ERROR(LoadModels());
  BuildRoutes();
  return Status::Ok();
}

Status ScoringStage::LoadModels() {
  // Deployments sharing a local package directory share one loaded model and one batched call.
  std::map<fs::path, std::vector<size_t>> by_dir;
  for (size_t i = 0; i < deployments_.size(); ++i) {
    const config::Deployment& d = deployments_[i].config;
    if (d.package.empty()) continue;
    std::error_code ec;
    const fs::path dir = fs::canonical(d.package, ec);
    by_dir[ec ? fs::path(d.package) : dir].push_back(i);
  }
  for (const auto& [dir, members] : by_dir) {
    inference::PackageOptions options;
    options.max_batch = static_cast<int>(members.size());
    options.memory_budget = static_cast<int64_t>(config_.models.memory_budget);
    StatusOr<inference::ModelPackage> package = inference::LoadModelPackage(dir, options);
    if (!package.ok()) {
      return Status::InvalidArgument(fmt::format("deployment {}: {}",
                                                 deployments_[members.front()].config.asset,
                                                 package.status().message()));
    }
    ModelGroup& group = AddGroup(std::move(*package), "", std::nullopt);
    for (size_t i : members) EDGE_RETURN_IF_ERROR(SetUpDeployment(i, group));
  }
  if (sync_ == nullptr) return Status::Ok();
  for (const auto& [name, count] : RepositoryModels(config_)) {
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

ScoringStage::ModelGroup& ScoringStage::AddGroup(inference::ModelPackage package,
                                                 std::string repository_model,
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
Status ScoringStage::SetUpDeployment(size_t index, ModelGroup& group) {
  DeploymentState& d = deployments_[index];
  const inference::Manifest& m = group.package.manifest;
  EDGE_ASSIGN_OR_RETURN(d.threshold, FitDeployment(d.config, m));
  d.group = &group;
  d.input_tags.clear();
  for (const std::string& feature : m.features) d.input_tags.push_back(d.config.inputs.at(feature));

  const inference::WindowSpec spec = WindowSpecFor(m, d.config);
  if (d.assembler == nullptr || !(d.assembler->spec() == spec)) {
    if (d.assembler != nullptr) assembler_owner_.erase(d.assembler.get());
    d.assembler = std::make_unique<inference::WindowAssembler>(spec);
    assembler_owner_[d.assembler.get()] = index;
  }
  SetUpAlarm(d);
  {
    MutexLock lock(&snapshot_mu_);
    Published& p = published_[index];
    p.model = m.name;
    p.model_version = m.version;
    p.input_tags = d.input_tags;
    p.model_failed = false;
  }
  log_->info("deployment {}: model {} {} ({}; window {} x {} features, step {} ms, threshold {})",
             d.config.asset, m.name, m.version, group.package.dir.string(), m.window,
             m.features.size(), m.step_ms, d.threshold);
  return Status::Ok();
}

// The first model of a deployment gets its alarm engine, in the state saved before the restart;
// a later model only changes its threshold.
void ScoringStage::SetUpAlarm(DeploymentState& d) {
  if (d.alarm != nullptr) {
    d.alarm->SetThreshold(d.threshold);
    return;
  }
  const auto saved = saved_alarms_.find(d.config.asset);
  const SavedAlarm initial = saved != saved_alarms_.end() ? saved->second : SavedAlarm{};
  d.alarm = std::make_unique<AlarmEngine>(
      AlarmSettings{d.threshold, d.config.alarm.raise_after, d.config.alarm.clear_after},
      initial.state, initial.peak_score);
  if (d.alarm->state() == AlarmState::kRaised) {
    log_->warn(
        "deployment {}: its alarm was raised when the agent stopped; it stays raised "
        "until clear_after normal windows",
        d.config.asset);
  }
}

void ScoringStage::BuildRoutes() {
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

Status ScoringStage::RebuildWindows() {
  bool any = false;
  for (const DeploymentState& d : deployments_) any = any || d.assembler != nullptr;
  if (!any) return Status::Ok();
  StatusOr<storage::SampleReader> reader = storage_.OpenReader();
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
Status ScoringStage::RebuildWindow(DeploymentState& d, storage::SampleReader& reader,
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

// ---- the scoring thread ----

void ScoringStage::Start(BoundedQueue<Sample>& ingest, BoundedQueue<Sample>& to_storage) {
  beat_.Beat();
  thread_ = std::thread([this, &ingest, &to_storage] { Loop(ingest, to_storage); });
}

void ScoringStage::Join() {
  if (thread_.joinable()) thread_.join();
}

void ScoringStage::Loop(BoundedQueue<Sample>& ingest, BoundedQueue<Sample>& to_storage) {
  std::vector<Sample> batch;
  batch.reserve(kPopBatch);
  for (;;) {
    beat_.Beat();
    StallPoint("scoring");
    batch.clear();
    // Wake at least every 50 ms to close steps by the clock when inputs fall silent.
    const size_t n = ingest.PopBatch(batch, kPopBatch, milliseconds(50));
    ApplyInstalls();
    if (n > 0) to_storage.PushBatch(batch);
    Score(batch);
    if (n == 0 && ingest.closed() && ingest.GetStats().depth == 0) break;
  }
}

void ScoringStage::Round(const std::vector<Sample>& batch) {
  ApplyInstalls();
  Score(batch);
}

// Routes `batch` to the window assemblers, closes the steps due now, scores the windows they
// delivered and publishes the counters.
void ScoringStage::Score(const std::vector<Sample>& batch) {
  for (const Sample& s : batch) {
    if (s.tag >= routes_.size()) continue;
    for (const Route& r : routes_[s.tag]) {
      deployments_[r.deployment].assembler->Add(r.feature, s);
    }
  }
  const Timestamp now = clock_.Now();
  for (DeploymentState& d : deployments_) {
    if (d.assembler != nullptr) d.assembler->Advance(now, *this);
  }
  for (const std::unique_ptr<ModelGroup>& g : groups_) FlushGroup(*g);
  for (size_t i = 0; i < deployments_.size(); ++i) Publish(i);
}

void ScoringStage::OnWindow(const inference::WindowAssembler& assembler, Timestamp window_end) {
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

void ScoringStage::OnUnscorable(const inference::WindowAssembler& assembler, Timestamp,
                                const inference::WindowStatus&, uint64_t windows) {
  // The engine only needs to know that its runs are broken; the assembler counts the windows.
  if (windows > 0) deployments_[assembler_owner_.at(&assembler)].alarm->OnUnscorable();
}

void ScoringStage::FlushGroup(ModelGroup& group) {
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
    MutexLock lock(&snapshot_mu_);
    for (size_t b = 0; b < batch; ++b) published_[group.pending[b]].inference.Add(seconds);
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
void ScoringStage::OnNonFiniteScore(ModelGroup& group, DeploymentState& d, double value) {
  const inference::Manifest& m = group.package.manifest;
  if (group.failed) return;
  const std::string_view score = std::isnan(value) ? "NaN" : (value > 0 ? "+inf" : "-inf");
  if (group.probation_until && clock_.Now() < *group.probation_until && sync_ != nullptr) {
    group.failed = true;
    log_->error("deployment {}: model {} {} scored {} during its probation; rolling it back",
                d.config.asset, m.name, m.version, score);
    {
      MutexLock lock(&snapshot_mu_);
      for (size_t i = 0; i < deployments_.size(); ++i) {
        if (deployments_[i].group == &group) published_[i].model_failed = true;
      }
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

// Between two rounds: packages model sync has installed replace the running ones. Windows
// already waiting are scored with the old model first.
void ScoringStage::ApplyInstalls() {
  std::vector<std::pair<std::string, LoadedModel>> installs;
  {
    MutexLock lock(&install_mu_);
    if (pending_installs_.empty()) return;
    installs.swap(pending_installs_);
  }
  StatusOr<storage::SampleReader> reader = storage_.OpenReader();
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
  if (options_.on_models_changed) options_.on_models_changed();
}

Status ScoringStage::CheckFits(const std::string& model,
                               const inference::Manifest& manifest) const {
  for (const DeploymentState& d : deployments_) {
    if (RunsRepositoryModel(d.config, model)) {
      EDGE_RETURN_IF_ERROR(FitDeployment(d.config, manifest).status());
    }
  }
  return Status::Ok();
}

void ScoringStage::QueueInstall(const std::string& model, LoadedModel loaded) {
  MutexLock lock(&install_mu_);
  pending_installs_.emplace_back(model, std::move(loaded));
}

// The transition goes to the outbox first (committed with its alarm history row), and only
// then to alarm_state.json: a crash in between is covered by the history (AlarmStateStore).
void ScoringStage::OnTransition(DeploymentState& d, const AlarmTransition& t) {
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
    StatusOr<uint64_t> seq = storage_.outbox().AppendAlarm(topic, [&message](uint64_t s) {
      message.seq = s;
      return AlarmPayload(message);
    });
    if (!seq.ok()) {
      // The outbox keeps a reserve for exactly this; failing here means the disk is full beyond it.
      rate_log_.Error("outbox-append", "alarm for {} could not be stored: {}", d.config.asset,
                      seq.status().message());
    } else {
      CrashPoint("alarm-queued");  // committed, alarm_state.json not rewritten yet
      if (options_.on_alarm_queued) options_.on_alarm_queued();
    }
  }
  SaveAlarmStates();
}

void ScoringStage::SaveAlarmStates() {
  SavedAlarms states;
  for (const DeploymentState& d : deployments_) {
    if (d.alarm == nullptr) continue;
    states[d.config.asset] = {d.alarm->state(), d.alarm->episode_peak()};
  }
  if (Status s = alarm_states_.Save(states); !s.ok()) {
    rate_log_.Error("alarm_state.json", "{}", s.message());
  }
}

// ---- what other threads see ----

void ScoringStage::Publish(size_t index) {
  const DeploymentState& d = deployments_[index];
  if (d.assembler == nullptr) return;
  MutexLock lock(&snapshot_mu_);
  Published& p = published_[index];
  p.window = d.assembler->status();
  p.alarm = d.alarm->state();
  p.last_score = d.last_score;
  p.windows_unscorable = d.assembler->counters().windows_unscorable;
  p.windows_assembled = d.windows_assembled;
  p.alarms = d.alarm->counters();
}

void ScoringStage::AppendDeployments(std::vector<DeploymentSnapshot>& out) const {
  MutexLock lock(&snapshot_mu_);
  for (size_t i = 0; i < deployments_.size(); ++i) {
    const config::Deployment& config = deployments_[i].config;
    const Published& p = published_[i];
    DeploymentSnapshot snap;
    snap.asset = config.asset;
    if (p.model_version.empty()) {
      snap.model = config.package.empty() ? config.model : config.package;
      snap.state = "no_model";
      out.push_back(std::move(snap));
      continue;
    }
    snap.model = p.model;
    snap.model_version = p.model_version;
    snap.state =
        p.model_failed ? "model_failed" : std::string(inference::DataQualityName(p.window.quality));
    if (p.window.feature >= 0) snap.state_input = p.input_tags[static_cast<size_t>(p.window.feature)];
    snap.alarm = p.alarm;
    snap.last_score = p.last_score;
    snap.windows_scored = p.alarms.windows_scored;
    snap.windows_assembled = p.windows_assembled;
    snap.windows_unscorable = p.windows_unscorable;
    snap.alarms_raised = p.alarms.raised;
    snap.alarms_cleared = p.alarms.cleared;
    snap.inference = p.inference;
    out.push_back(std::move(snap));
  }
}

std::vector<ActiveModel> ScoringStage::ActiveModels() const {
  std::vector<ActiveModel> models;
  MutexLock lock(&snapshot_mu_);
  for (size_t i = 0; i < deployments_.size(); ++i) {
    const Published& p = published_[i];
    if (p.model_version.empty() || p.model_failed) continue;
    models.push_back({deployments_[i].config.asset, p.model, p.model_version});
  }
  return models;
}

}  // namespace edge::agent
