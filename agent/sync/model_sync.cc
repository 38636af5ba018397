#include "agent/sync/model_sync.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "agent/sync/model_store.h"
#include "core/crash_point.h"
#include "core/file_util.h"
#include "core/heartbeat.h"
#include "core/logging.h"
#include "core/mutex.h"
#include "core/rate_limited_log.h"
#include "core/thread_annotations.h"
#include "inference/model_version.h"
#include "inference/package_signature.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using inference::ModelVersion;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr uint64_t kMaxLatestBytes = 4096;
constexpr uint64_t kMaxManifestBytes = 64 * 1024;
constexpr uint64_t kMaxSignatureBytes = 4096;
// Free space to leave on the data directory's file system after an artifact: samples and the
// outbox need it more than a new model does.
constexpr uint64_t kDiskHeadroomBytes = 64ull << 20;

// How an attempt to install a version ended.
struct Attempt {
  enum Kind {
    kInstalled,
    kRetry,    // the repository or the disk failed us: try again at the next poll
    kRefused,  // the package is wrong: do not download it again while latest.json names it
  } kind;
  std::string reason;
};

Attempt Retry(std::string reason) { return {Attempt::kRetry, std::move(reason)}; }
Attempt Refuse(std::string reason) { return {Attempt::kRefused, std::move(reason)}; }

// Finite outputs of the right shape for an all-mean (normalised zero) window.
Status SmokeTest(inference::ModelPackage& package) {
  inference::Model& model = *package.model;
  const std::vector<float> input(
      static_cast<size_t>(package.manifest.window) * package.manifest.features.size(), 0.0f);
  model.Run(input.data(), 1);
  if (model.outputs().empty() || model.outputs()[0].sample_size < 1) {
    return Status::InvalidArgument("smoke test: the model has no score output");
  }
  for (size_t i = 0; i < model.outputs().size(); ++i) {
    const inference::ModelOutput& out = model.outputs()[i];
    const float* values = model.output(static_cast<int>(i));
    for (int64_t j = 0; j < out.sample_size; ++j) {
      if (!std::isfinite(values[j])) {
        return Status::InvalidArgument(fmt::format(
            "smoke test: output \"{}\"[{}] is {} for an all-mean window", out.name, j, values[j]));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

class ModelSync::Impl {
 public:
  struct Entry {
    Entry(ModelStore s, int b, size_t i) : store(std::move(s)), batch(b), index(i) {}
    ModelStore store;
    int batch;
    size_t index;  // of its Shared in shared_
    // Sync thread only.
    std::string etag;
    std::optional<ModelVersion> refused;  // refused for what it is; skipped while latest names it
    std::string last_report;              // "version\nreason" of the last refusal reported
    SteadyTime next_poll{};
  };
  // What other threads read or set of an entry.
  struct Shared {
    bool wake = false;  // Notify: sync at once
    ModelSyncStats stats;
  };

  Impl(const config::RepositoryConfig& repository, const fs::path& data_dir, Host& host,
       ModelSyncOptions options)
      : repository_(repository),
        data_dir_(data_dir),
        host_(host),
        options_(std::move(options)),
        clock_(options_.clock != nullptr ? *options_.clock : SystemClockInstance()),
        log_(GetLogger("model-sync")),
        rate_log_(log_, 5, std::chrono::minutes(1)),
        rng_(std::random_device{}()) {
    options_.http.ca_file = repository.ca_file;
    options_.http.cancel = &cancel_;
  }

  Status Init(std::map<std::string, int> models) {
    for (const std::string& path : repository_.trusted_keys) {
      EDGE_ASSIGN_OR_RETURN(inference::VerifyingKey key, inference::VerifyingKey::Load(path));
      keys_.push_back(std::move(key));
    }
    for (const auto& [name, batch] : models) {
      MutexLock lock(&mu_);
      entries_.emplace(name,
                       std::make_unique<Entry>(ModelStore(data_dir_, name), batch, shared_.size()));
      shared_.emplace_back().stats.model = name;
    }
    return Status::Ok();
  }

  std::optional<LoadedModel> LoadInstalled(const std::string& model);
  void Start();
  void Stop();
  void Notify(std::string_view payload);
  void RequestRollback(const std::string& model, const std::string& version,
                       const std::string& reason);
  std::vector<ModelSyncStats> stats() const;
  std::string Stuck(std::chrono::milliseconds limit) const;

 private:
  void Loop() EXCLUDES(mu_);
  // Stop, a rollback, a notify or a poll is due.
  bool AnythingToDo() const REQUIRES(mu_);
  void Sync(Entry& e);
  Attempt Install(Entry& e, const ModelVersion& version);
  void RollBack(Entry& e, const std::string& version, const std::string& reason);
  StatusOr<inference::ModelPackage> LoadVerified(const fs::path& dir, int batch);
  void Report(Entry& e, const std::string& version, ModelResult result, const std::string& reason);
  void SetInstalled(Entry& e, const std::optional<ModelVersion>& v);
  std::string Url(const std::string& model, std::string_view rest) const {
    return repository_.url + model + "/" + std::string(rest);
  }
  SteadyTime NextPoll() {
    std::uniform_real_distribution<double> jitter(0.9, 1.1);
    return clock_.SteadyNow() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    repository_.poll_interval * jitter(rng_));
  }

  const config::RepositoryConfig repository_;
  const fs::path data_dir_;
  Host& host_;
  ModelSyncOptions options_;
  const Clock& clock_;
  std::vector<inference::VerifyingKey> keys_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
  std::unique_ptr<HttpFetcher> fetcher_;  // sync thread only
  std::shared_ptr<spdlog::logger> log_;
  RateLimitedLog rate_log_;
  std::mt19937 rng_;

  std::atomic<bool> cancel_{false};  // stops a transfer in progress at Stop()
  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  struct RollbackRequest {
    std::string model, version, reason;
  };
  std::vector<RollbackRequest> rollbacks_ GUARDED_BY(mu_);
  std::vector<Shared> shared_ GUARDED_BY(mu_);  // by Entry::index
  std::thread thread_;
  Heartbeat beat_;  // beaten by the sync thread, read by the watchdog
};

StatusOr<inference::ModelPackage> ModelSync::Impl::LoadVerified(const fs::path& dir, int batch) {
  inference::PackageOptions options;
  options.max_batch = batch;
  options.memory_budget = options_.memory_budget;
  options.verify_manifest = inference::SignatureCheck(keys_);
  EDGE_ASSIGN_OR_RETURN(inference::ModelPackage package, inference::LoadModelPackage(dir, options));
  EDGE_RETURN_IF_ERROR(SmokeTest(package));
  return package;
}

void ModelSync::Impl::SetInstalled(Entry& e, const std::optional<ModelVersion>& v) {
  MutexLock lock(&mu_);
  shared_[e.index].stats.installed_version = v ? v->ToString() : "";
}

void ModelSync::Impl::Report(Entry& e, const std::string& version, ModelResult result,
                             const std::string& reason) {
  {
    MutexLock lock(&mu_);
    switch (result) {
      case ModelResult::kInstalled:
        ++shared_[e.index].stats.installed;
        break;
      case ModelResult::kRefused:
        ++shared_[e.index].stats.refused;
        shared_[e.index].stats.last_error = reason;
        break;
      case ModelResult::kRolledBack:
        ++shared_[e.index].stats.rolled_back;
        shared_[e.index].stats.last_error = reason;
        break;
    }
  }
  if (result == ModelResult::kRefused) {
    // The same refusal of the same version, poll after poll, is said once.
    const std::string key = version + "\n" + reason;
    if (key == e.last_report) return;
    e.last_report = key;
  } else {
    e.last_report.clear();
  }
  host_.ReportModel({.model = e.store.name(),
                     .version = version,
                     .result = result,
                     .reason = reason,
                     .ts = clock_.Now()});
}

std::optional<LoadedModel> ModelSync::Impl::LoadInstalled(const std::string& model) {
  Entry& e = *entries_.at(model);
  StatusOr<InstalledModel> installed = e.store.Read();
  if (!installed.ok()) {
    log_->error("model {}: {}", model, installed.status().message());
    return std::nullopt;
  }
  e.store.Clean();  // staging left by an install that was interrupted
  std::optional<ModelVersion> version = installed->current;
  bool on_probation = installed->installed_at.has_value();
  while (version) {
    StatusOr<inference::ModelPackage> package = LoadVerified(e.store.VersionDir(*version), e.batch);
    if (package.ok()) {
      SetInstalled(e, version);
      LoadedModel loaded{std::move(*package), std::nullopt};
      if (on_probation && *installed->installed_at + options_.probation > clock_.Now()) {
        loaded.probation_until = *installed->installed_at + options_.probation;
      }
      return loaded;
    }
    const std::string reason = fmt::format("installed version {} no longer loads: {}",
                                           version->ToString(), package.status().message());
    log_->error("model {}: {}", model, reason);
    StatusOr<std::optional<ModelVersion>> back = e.store.RollBack(*version);
    Report(e, version->ToString(), ModelResult::kRolledBack, reason);
    if (!back.ok()) {
      log_->error("model {}: {}", model, back.status().message());
      break;
    }
    version = *back;
    on_probation = false;
  }
  SetInstalled(e, std::nullopt);
  return std::nullopt;
}

void ModelSync::Impl::Start() {
  fetcher_ = std::make_unique<HttpFetcher>(options_.http);
  thread_ = std::thread([this] { Loop(); });
}

void ModelSync::Impl::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cancel_ = true;
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

std::string ModelSync::Impl::Stuck(std::chrono::milliseconds limit) const {
  if (!thread_.joinable() || beat_.Age() <= limit) return "";
  MutexLock lock(&mu_);
  return stop_ ? "" : "the model sync thread";
}

void ModelSync::Impl::Notify(std::string_view payload) {
  const nlohmann::json doc = nlohmann::json::parse(payload, nullptr, false);
  std::string only;
  if (doc.is_object() && doc.contains("model") && doc["model"].is_string()) {
    only = doc["model"].get<std::string>();
  }
  {
    MutexLock lock(&mu_);
    for (auto& [name, e] : entries_) {
      if (only.empty() || only == name) shared_[e->index].wake = true;
    }
  }
  cv_.NotifyAll();
}

void ModelSync::Impl::RequestRollback(const std::string& model, const std::string& version,
                                      const std::string& reason) {
  {
    MutexLock lock(&mu_);
    rollbacks_.push_back({model, version, reason});
  }
  cv_.NotifyAll();
}

std::vector<ModelSyncStats> ModelSync::Impl::stats() const {
  MutexLock lock(&mu_);
  std::vector<ModelSyncStats> out;
  for (const auto& [name, e] : entries_) out.push_back(shared_[e->index].stats);
  return out;
}

void ModelSync::Impl::Loop() {
  pthread_setname_np(pthread_self(), "model-sync");
  // The longest a model's sync or rollback may block: its four requests (latest.json, the
  // manifest's signature, the manifest, the artifact) at their connect and total timeouts, plus
  // two minutes for loading, the smoke test and the install's fsyncs. Announced to the watchdog
  // before each, as the wait before the next poll is.
  const auto work_bound = 4 * (options_.http.connect_timeout + options_.http.total_timeout) +
                          std::chrono::minutes(2);
  for (auto& [name, e] : entries_) e->next_poll = clock_.SteadyNow();  // first check at once
  mu_.Lock();
  while (!stop_) {
    SteadyTime next = SteadyTime::max();
    for (const auto& [name, e] : entries_) next = std::min(next, e->next_poll);
    beat_.BeatFor(next == SteadyTime::max() ? std::chrono::hours(24 * 365)
                                            : next - clock_.SteadyNow());
    while (!AnythingToDo() && cv_.WaitUntil(&mu_, next)) {
    }
    if (stop_) break;
    std::vector<RollbackRequest> rollbacks;
    rollbacks.swap(rollbacks_);
    std::vector<Entry*> due;
    for (auto& [name, e] : entries_) {
      if (shared_[e->index].wake || e->next_poll <= clock_.SteadyNow()) {
        shared_[e->index].wake = false;
        due.push_back(e.get());
      }
    }
    mu_.Unlock();
    beat_.Beat();
    StallPoint("model-sync");
    for (const RollbackRequest& r : rollbacks) {
      const auto it = entries_.find(r.model);
      beat_.BeatFor(work_bound);
      if (it != entries_.end()) RollBack(*it->second, r.version, r.reason);
    }
    for (Entry* e : due) {
      beat_.BeatFor(work_bound);
      Sync(*e);
      e->next_poll = NextPoll();
    }
    mu_.Lock();
  }
  mu_.Unlock();
}

bool ModelSync::Impl::AnythingToDo() const {
  if (stop_ || !rollbacks_.empty()) return true;
  for (const auto& [name, e] : entries_) {
    if (shared_[e->index].wake || e->next_poll <= clock_.SteadyNow()) return true;
  }
  return false;
}

void ModelSync::Impl::Sync(Entry& e) {
  const std::string& name = e.store.name();
  const std::string url = Url(name, "latest.json");
  {
    MutexLock lock(&mu_);
    ++shared_[e.index].stats.checks;
  }
  auto fetch_error = [&](const std::string& what) {
    MutexLock lock(&mu_);
    ++shared_[e.index].stats.fetch_errors;
    shared_[e.index].stats.last_error = what;
    rate_log_.Warn("latest-" + name, "model {}: {}; the installed model keeps running", name, what);
  };
  StatusOr<HttpDocument> doc = fetcher_->Get(url, kMaxLatestBytes, e.etag);
  if (!doc.ok()) return fetch_error(doc.status().message());
  if (doc->not_modified) {
    MutexLock lock(&mu_);
    ++shared_[e.index].stats.not_modified;
    return;
  }
  const nlohmann::json latest = nlohmann::json::parse(doc->body, nullptr, false);
  StatusOr<ModelVersion> version = Status::InvalidArgument("");
  if (latest.is_object() && latest.contains("version") && latest["version"].is_string()) {
    version = inference::ParseModelVersion(latest["version"].get<std::string>());
  }
  if (!version.ok()) {
    e.etag.clear();
    return fetch_error(url + ": not {\"version\": \"MAJOR.MINOR.PATCH\"}");
  }
  e.etag = doc->etag;

  StatusOr<InstalledModel> installed = e.store.Read();
  if (!installed.ok()) {
    e.etag.clear();
    return fetch_error(installed.status().message());
  }
  if (installed->current == *version) return;  // up to date
  const std::string v = version->ToString();
  if (installed->highest && *version <= *installed->highest) {
    Report(e, v, ModelResult::kRefused,
           fmt::format("version {} is not newer than {}, the highest installed; publish a newer "
                       "version",
                       v, installed->highest->ToString()));
    return;
  }
  if (e.refused == *version) return;

  log_->info("model {}: version {} is available; installing", name, v);
  Attempt attempt = Install(e, *version);
  e.store.Clean();  // what a failed attempt staged
  switch (attempt.kind) {
    case Attempt::kInstalled:
      log_->info("model {}: version {} installed and running", name, v);
      Report(e, v, ModelResult::kInstalled, "");
      break;
    case Attempt::kRetry:
      e.etag.clear();       // so that the next poll tries again even if latest.json is unchanged
      if (cancel_) return;  // stopping: not an outcome
      log_->warn("model {}: version {} not installed: {}; retrying at the next poll", name, v,
                 attempt.reason);
      Report(e, v, ModelResult::kRefused, attempt.reason);
      break;
    case Attempt::kRefused:
      e.refused = *version;
      log_->error("model {}: version {} refused: {}", name, v, attempt.reason);
      Report(e, v, ModelResult::kRefused, attempt.reason);
      break;
  }
}

Attempt ModelSync::Impl::Install(Entry& e, const ModelVersion& version) {
  const std::string& name = e.store.name();
  const std::string base = Url(name, version.ToString() + "/");

  // 1. The signature, before anything of the manifest is parsed.
  StatusOr<HttpDocument> sig = fetcher_->Get(base + "manifest.json.sig", kMaxSignatureBytes);
  if (!sig.ok()) return Retry(sig.status().message());
  StatusOr<HttpDocument> manifest_doc = fetcher_->Get(base + "manifest.json", kMaxManifestBytes);
  if (!manifest_doc.ok()) return Retry(manifest_doc.status().message());
  const std::string& manifest_bytes = manifest_doc->body;
  if (Status s =
          inference::VerifyWithAnyKey(keys_, manifest_bytes, sig->body, base + "manifest.json");
      !s.ok()) {
    return Refuse(s.message());
  }

  // 2. What the signed manifest says.
  StatusOr<inference::Manifest> manifest = inference::ParseManifest(manifest_bytes);
  if (!manifest.ok()) return Refuse(base + "manifest.json: " + manifest.status().message());
  if (manifest->name != name || manifest->version != version.ToString()) {
    return Refuse(fmt::format(
        "{}manifest.json is for {} {}, not {} {} (a signed manifest copied to another place)", base,
        manifest->name, manifest->version, name, version.ToString()));
  }
  if (Status s = host_.CheckFits(name, *manifest); !s.ok()) return Refuse(s.message());
  const uint64_t size = static_cast<uint64_t>(manifest->artifact_size);
  struct statvfs fs_stats {};
  if (::statvfs(data_dir_.c_str(), &fs_stats) == 0) {
    const uint64_t free_bytes = uint64_t{fs_stats.f_bavail} * fs_stats.f_frsize;
    if (free_bytes < size + kDiskHeadroomBytes) {
      return Retry(
          fmt::format("not enough disk space for {} bytes ({} free, {} MiB kept for "
                      "samples and alarms)",
                      size, free_bytes, kDiskHeadroomBytes >> 20));
    }
  }

  // 3. Download into staging, the manifest's size as the cap.
  StatusOr<fs::path> staging = e.store.Stage(version);
  if (!staging.ok()) return Retry(staging.status().message());
  for (const auto& [file, bytes] :
       {std::pair<const char*, const std::string&>{"manifest.json", manifest_bytes},
        {"manifest.json.sig", sig->body}}) {
    if (Status s = WriteFileDurably(*staging / file, bytes); !s.ok()) return Retry(s.message());
  }
  StatusOr<uint64_t> written =
      fetcher_->Download(base + manifest->artifact_file, *staging / manifest->artifact_file, size);
  if (!written.ok()) {
    if (written.status().code() == StatusCode::kResourceExhausted) {
      return Refuse(fmt::format("{}: larger than the {} bytes the manifest gives",
                                manifest->artifact_file, size));
    }
    return Retry(written.status().message());
  }
  CrashPoint("download");

  // 4. Size and sha256 before the ONNX parser sees a byte, then load and smoke-test.
  StatusOr<inference::ModelPackage> package = LoadVerified(*staging, e.batch);
  if (!package.ok()) return Refuse(package.status().message());
  CrashPoint("verify");

  // 5. Current on disk, then in the running pipeline.
  if (Status s = e.store.Commit(*staging, version, clock_.Now()); !s.ok()) {
    return Retry(s.message());
  }
  SetInstalled(e, version);
  package->dir = e.store.VersionDir(version);  // where the staged files now are
  host_.InstallModel(name, {std::move(*package), clock_.Now() + options_.probation});
  return {Attempt::kInstalled, ""};
}

void ModelSync::Impl::RollBack(Entry& e, const std::string& version, const std::string& reason) {
  const std::string& name = e.store.name();
  StatusOr<ModelVersion> bad = inference::ParseModelVersion(version);
  StatusOr<InstalledModel> installed = e.store.Read();
  if (!bad.ok() || !installed.ok() || installed->current != *bad) return;  // already replaced
  StatusOr<std::optional<ModelVersion>> back = e.store.RollBack(*bad);
  if (!back.ok()) {
    log_->error("model {}: rolling back {}: {}", name, version, back.status().message());
    return;
  }
  std::string outcome;
  if (!back->has_value()) {
    outcome = "no previous version: the deployments are idle until a newer version is published";
    SetInstalled(e, std::nullopt);
  } else {
    StatusOr<inference::ModelPackage> package = LoadVerified(e.store.VersionDir(**back), e.batch);
    if (package.ok()) {
      outcome = "back to " + (*back)->ToString();
      SetInstalled(e, *back);
      host_.InstallModel(name, {std::move(*package), std::nullopt});
    } else {
      outcome = fmt::format(
          "previous version {} does not load either ({}): the deployments are "
          "idle until a newer version is published",
          (*back)->ToString(), package.status().message());
      SetInstalled(e, std::nullopt);
    }
  }
  log_->error("model {}: version {} rolled back: {}; {}", name, version, reason, outcome);
  Report(e, version, ModelResult::kRolledBack, reason + "; " + outcome);
}

// ---- ModelSync ----

ModelSync::ModelSync(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ModelSync::~ModelSync() { Stop(); }

StatusOr<std::unique_ptr<ModelSync>> ModelSync::Create(const config::RepositoryConfig& repository,
                                                       const fs::path& data_dir,
                                                       std::map<std::string, int> models,
                                                       Host& host, ModelSyncOptions options) {
  auto impl = std::make_unique<Impl>(repository, data_dir, host, std::move(options));
  EDGE_RETURN_IF_ERROR(impl->Init(std::move(models)));
  return std::unique_ptr<ModelSync>(new ModelSync(std::move(impl)));
}

std::optional<LoadedModel> ModelSync::LoadInstalled(const std::string& model) {
  return impl_->LoadInstalled(model);
}
void ModelSync::Start() { impl_->Start(); }
void ModelSync::Stop() { impl_->Stop(); }
void ModelSync::Notify(std::string_view payload) { impl_->Notify(payload); }
void ModelSync::RequestRollback(const std::string& model, const std::string& version,
                                const std::string& reason) {
  impl_->RequestRollback(model, version, reason);
}
std::vector<ModelSyncStats> ModelSync::stats() const { return impl_->stats(); }
std::string ModelSync::Stuck(std::chrono::milliseconds limit) const {
  return impl_->Stuck(limit);
}

}  // namespace edge::agent
