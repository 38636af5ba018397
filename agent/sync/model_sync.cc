#include "agent/sync/model_sync.h"

#include <fmt/format.h>
#include <sys/statvfs.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "agent/sync/latest_document.h"
#include "agent/sync/model_store.h"
#include "agent/sync/package_checks.h"
#include "config/value_syntax.h"
#include "core/crash_point.h"
#include "core/file_util.h"
#include "core/heartbeat.h"
#include "core/logging.h"
#include "core/mutex.h"
#include "core/quoted.h"
#include "core/rate_limited_log.h"
#include "core/time_format.h"
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
    std::optional<Timestamp> expires;  // of the signed latest.json last read (its ETag kept)
    // latest.json that did not verify, in a row: the first is checked again a second later,
    // as `model publish` may have written latest.json.sig and not yet latest.json.
    int untrusted_in_a_row = 0;
    bool poll_soon = false;
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
    for (const auto& [name, batch] : models) {
      // A path component of the repository URL and of the models folder (defence in depth:
      // the configuration loader checks it too).
      if (Status s = config::CheckModelName(name); !s.ok()) {
        return Status::InvalidArgument(
            "model name " + Quoted(name) + " " + s.message());
      }
    }
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
  // latest.json.sig: its text, nullopt when the repository has none (404).
  StatusOr<std::optional<std::string>> GetLatestSignature(const std::string& latest_url);
  // latest.json read and trusted: install what it names, if anything.
  void Act(Entry& e, const LatestDocument& latest);
  void RecordSerial(Entry& e, const LatestDocument& latest);
  // The gateway cannot confirm its model is current (`reason`); the model keeps running.
  void Unconfirmed(Entry& e, const std::string& version, const std::string& reason);
  // Unreachable repository or an unchanged latest.json: unconfirmed once it has expired.
  void CheckExpiry(Entry& e);
  Attempt Install(Entry& e, const ModelVersion& version, bool pin);
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
    ModelSyncStats& stats = shared_[e.index].stats;
    if (result != ModelResult::kInstalled) stats.last_error = reason;
    switch (result) {
      case ModelResult::kInstalled:
        ++stats.installed;
        break;
      case ModelResult::kRefused:
        ++stats.refused;
        break;
      case ModelResult::kRolledBack:
        ++stats.rolled_back;
        break;
      case ModelResult::kFailed:
        ++stats.fetch_errors;
        break;
      case ModelResult::kUnconfirmed:
        ++stats.unconfirmed_checks;
        stats.unconfirmed = reason;
        break;
    }
  }
  if (result != ModelResult::kInstalled && result != ModelResult::kRolledBack) {
    // The same refusal or failure of the same version, poll after poll, is said once.
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
      e->next_poll = e->poll_soon ? clock_.SteadyNow() + std::chrono::seconds(1) : NextPoll();
      e->poll_soon = false;
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
  const std::string url = Url(name, kLatestFile);
  {
    MutexLock lock(&mu_);
    ++shared_[e.index].stats.checks;
  }
  auto fetch_error = [&](const std::string& what) {
    {
      MutexLock lock(&mu_);
      ++shared_[e.index].stats.fetch_errors;
      shared_[e.index].stats.last_error = what;
    }
    rate_log_.Warn("latest-" + name, "model {}: {}; the installed model keeps running", name, what);
    CheckExpiry(e);
  };
  StatusOr<HttpDocument> doc = fetcher_->Get(url, kMaxLatestBytes, e.etag);
  if (!doc.ok()) return fetch_error(doc.status().message());
  if (doc->not_modified) {
    {
      MutexLock lock(&mu_);
      ++shared_[e.index].stats.not_modified;
    }
    return CheckExpiry(e);
  }
  // Until this document is trusted, the next poll fetches it again (and until then the last one
  // trusted still counts, to its expiry).
  e.etag.clear();
  StatusOr<std::optional<std::string>> sig = GetLatestSignature(url);
  if (!sig.ok()) return fetch_error(sig.status().message());
  StatusOr<LatestDocument> latest =
      ReadLatestDocument(doc->body, *sig, keys_, repository_.allow_unsigned_latest, url);
  if (!latest.ok()) {
    if (++e.untrusted_in_a_row == 1) {
      e.poll_soon = true;
      return;
    }
    return Unconfirmed(e, "", latest.status().message());
  }
  e.untrusted_in_a_row = 0;
  const std::string v = latest->version.ToString();
  if (latest->is_signed) {
    if (*latest->expires < clock_.Now()) {
      return Unconfirmed(e, v,
                         fmt::format("{}: expired at {} (a stale or frozen repository mirror?)",
                                     url, FormatRfc3339Millis(*latest->expires)));
    }
    if (const uint64_t seen = e.store.LatestSerial(); latest->serial < seen) {
      return Unconfirmed(e, v,
                         fmt::format("{}: serial {} is older than serial {}, already acted on (a "
                                     "replayed or stale copy)",
                                     url, latest->serial, seen));
    }
  }
  e.etag = doc->etag;
  e.expires = latest->expires;
  {
    MutexLock lock(&mu_);
    shared_[e.index].stats.unconfirmed.clear();
  }
  Act(e, *latest);
}

StatusOr<std::optional<std::string>> ModelSync::Impl::GetLatestSignature(
    const std::string& latest_url) {
  StatusOr<HttpDocument> sig = fetcher_->Get(latest_url + ".sig", kMaxSignatureBytes);
  if (sig.ok()) return std::optional<std::string>(std::move(sig->body));
  if (sig.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  return sig.status();
}

void ModelSync::Impl::CheckExpiry(Entry& e) {
  if (e.expires && *e.expires < clock_.Now()) {
    Unconfirmed(e, "",
                fmt::format("{}: expired at {} and no newer one could be read",
                            Url(e.store.name(), kLatestFile), FormatRfc3339Millis(*e.expires)));
  }
}

void ModelSync::Impl::Unconfirmed(Entry& e, const std::string& version,
                                  const std::string& reason) {
  std::string shown = version;
  if (shown.empty()) {
    MutexLock lock(&mu_);
    shown = shared_[e.index].stats.installed_version;
  }
  rate_log_.Warn("unconfirmed-" + e.store.name(),
                 "model {}: cannot confirm the model is current: {}; the installed model keeps "
                 "running",
                 e.store.name(), reason);
  Report(e, shown.empty() ? "none" : shown, ModelResult::kUnconfirmed,
         "cannot confirm the model is current: " + reason);
}

void ModelSync::Impl::RecordSerial(Entry& e, const LatestDocument& latest) {
  if (!latest.is_signed || latest.serial <= e.store.LatestSerial()) return;
  if (Status s = e.store.RecordLatestSerial(latest.serial); !s.ok()) {
    log_->error("model {}: {}", e.store.name(), s.message());
  }
}

void ModelSync::Impl::Act(Entry& e, const LatestDocument& latest) {
  const std::string& name = e.store.name();
  const ModelVersion& version = latest.version;
  const std::string v = version.ToString();
  StatusOr<InstalledModel> installed = e.store.Read();
  if (!installed.ok()) {
    e.etag.clear();
    MutexLock lock(&mu_);
    ++shared_[e.index].stats.fetch_errors;
    shared_[e.index].stats.last_error = installed.status().message();
    return;
  }
  // A pin is obeyed once: its serial is recorded when it has been carried out.
  const bool pin = latest.pin && latest.serial > e.store.LatestSerial();
  if (!pin) RecordSerial(e, latest);
  if (installed->current == version) {
    if (pin) {
      if (Status s = e.store.PinCurrent(version); !s.ok()) {
        e.etag.clear();
        return Report(e, v, ModelResult::kFailed, s.message());
      }
      RecordSerial(e, latest);
      log_->info("model {}: pinned at {}, the version running", name, v);
    }
    return;  // up to date
  }
  if (!pin && installed->highest && version <= *installed->highest) {
    Report(e, v, ModelResult::kRefused,
           fmt::format("version {} is not newer than {}, the highest installed; publish a newer "
                       "version, or pin this one with a signed latest.json (model publish --pin)",
                       v, installed->highest->ToString()));
    return;
  }
  if (e.refused == version) return;

  log_->info("model {}: version {} is {}; installing", name, v, pin ? "pinned" : "available");
  Attempt attempt = Install(e, version, pin);
  e.store.Clean();  // what a failed attempt staged
  switch (attempt.kind) {
    case Attempt::kInstalled:
      log_->info("model {}: version {} installed and running", name, v);
      RecordSerial(e, latest);
      Report(e, v, ModelResult::kInstalled, "");
      break;
    case Attempt::kRetry:
      e.etag.clear();       // so that the next poll tries again even if latest.json is unchanged
      if (cancel_) return;  // stopping: not an outcome
      log_->warn("model {}: version {} not installed: {}; retrying at the next poll", name, v,
                 attempt.reason);
      Report(e, v, ModelResult::kFailed, attempt.reason);
      break;
    case Attempt::kRefused:
      e.refused = version;
      RecordSerial(e, latest);
      log_->error("model {}: version {} refused: {}", name, v, attempt.reason);
      Report(e, v, ModelResult::kRefused, attempt.reason);
      break;
  }
}

Attempt ModelSync::Impl::Install(Entry& e, const ModelVersion& version, bool pin) {
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
  if (Status s = CheckArtifactName(manifest->artifact_file); !s.ok()) {
    return Refuse(base + "manifest.json: " + s.message());
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
  StatusOr<DownloadedFile> written =
      fetcher_->Download(base + manifest->artifact_file, *staging / manifest->artifact_file, size);
  if (!written.ok()) {
    if (written.status().code() == StatusCode::kResourceExhausted) {
      return Refuse(fmt::format("{}: larger than the {} bytes the manifest gives",
                                manifest->artifact_file, size));
    }
    return Retry(written.status().message());
  }
  CrashPoint("download");

  // 4. Size and sha256, computed as the bytes arrived, before the artifact is read back into
  // memory at all; then load (which checks them again) and smoke-test.
  if (written->bytes != size || written->sha256 != manifest->artifact_sha256) {
    return Refuse(fmt::format("{}{}: {} bytes with sha256 {}; the manifest says {} bytes with "
                              "sha256 {}",
                              base, manifest->artifact_file, written->bytes, written->sha256, size,
                              manifest->artifact_sha256));
  }
  StatusOr<inference::ModelPackage> package = LoadVerified(*staging, e.batch);
  if (!package.ok()) return Refuse(package.status().message());
  CrashPoint("verify");

  // 5. Current on disk, then in the running pipeline.
  if (Status s = e.store.Commit(*staging, version, clock_.Now(), pin); !s.ok()) {
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
