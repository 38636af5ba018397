// ModelSync: the client of the cloud model repository (DESIGN §7). It keeps every repository
// model a deployment names up to date, and lets nothing tampered, broken or old get in.
//
// For each model, at every poll_interval (±10 % jitter, so a fleet does not poll in step) and at
// once on a message to <prefix>/<gateway>/models/notify:
//   1. GET <url>/<model>/latest.json with If-None-Match (304: nothing new, but its expiry is
//      checked again), and latest.json.sig: the document must verify with a trusted key, must
//      not have expired and must not be older (serial) than one already acted on
//      (agent/sync/latest_document.h); otherwise the gateway reports that it cannot confirm its
//      model is current (models/status `unconfirmed`, /health) and changes nothing.
//   2. A version equal to current: nothing to do. Not newer than the highest ever installed:
//      refused (an old signed package replayed, or a repository moved backwards), unless a
//      signed latest.json pins it (obeyed once per serial: the signed way back from a bad
//      version, even from the highest possible one).
//   3. GET manifest.json.sig and manifest.json (small caps); the signature is checked against
//      the trusted keys BEFORE anything of the manifest is parsed; then the manifest must name
//      this model and this version and fit every deployment that uses it.
//   4. The artifact is downloaded into a staging directory with the manifest's size as the cap,
//      after checking there is room on the disk; LoadModelPackage checks size and sha256 before
//      parsing it, then loads it; a smoke inference must give finite outputs.
//   5. ModelStore::Commit makes it current (crash-safe), then Host::InstallModel swaps it into
//      the running pipeline, which scores with it from its next round.
// A new model that gives a non-finite score during its probation (the first minutes after
// install, also across a restart) is rolled back by the pipeline calling RequestRollback; one
// whose files no longer load at start is rolled back by LoadInstalled.
//
// Every outcome goes to Host::ReportModel (models/status, the log): installed, refused (with the
// reason), failed, unconfirmed (the same one for the same version is reported once),
// rolled_back. Failures to reach the repository are logged at a limited rate and counted; a
// download that fails (network, server, disk) is `failed` and retried at the next poll; a
// version refused for what it is (signature, hash, size, artifact name, load, smoke test) is not
// downloaded again while latest.json keeps naming it. Nothing here ever touches the running model until a
// package has passed every check.
//
// DESIGN: threads. One thread owns the HTTP client, the stores and all decisions; Notify and
// RequestRollback only queue work for it.
// Thread-safety: LoadInstalled before Start, from the owner; Start/Stop from the owner; Notify,
// RequestRollback, stats() and Stuck() from any thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/sync/http_fetcher.h"
#include "agent/sync/model_status.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/status.h"
#include "inference/model_package.h"

namespace edge::agent {

struct ModelSyncOptions {
  HttpOptions http;  // ca_file is taken from the repository config
  std::chrono::milliseconds probation{std::chrono::minutes(5)};
  const Clock* clock = nullptr;  // null: the system clock
  // What each model may hold (models.memory_budget, inference/memory_budget.h).
  int64_t memory_budget = inference::kDefaultModelMemoryBudget;
};

struct ModelSyncStats {
  std::string model;
  std::string installed_version;  // empty: none
  uint64_t checks = 0;            // latest.json requests
  uint64_t not_modified = 0;      // 304 answers
  uint64_t fetch_errors = 0;      // repository unreachable or answering garbage
  uint64_t installed = 0;
  uint64_t refused = 0;
  uint64_t rolled_back = 0;
  uint64_t unconfirmed_checks = 0;  // latest.json unsigned, badly signed, expired or replayed
  std::string last_error;  // the latest failure or refusal, empty if none yet
  // Why the gateway cannot confirm that its model is current (latest.json unsigned, badly
  // signed, expired or replayed; /health warns); empty once a valid latest.json was read.
  std::string unconfirmed;
};

struct LoadedModel {
  inference::ModelPackage package;
  std::optional<Timestamp> probation_until;  // set while a recent install is on probation
};

class ModelSync {
 public:
  // What the pipeline provides.
  class Host {
   public:
    virtual ~Host() = default;
    // OK if `manifest` fits every deployment of `model` (its features mapped to tags, a
    // threshold known); otherwise why not. Called on the sync thread.
    virtual Status CheckFits(const std::string& model, const inference::Manifest& manifest) = 0;
    // A package that passed every check and is now current on disk: score with it from now on.
    virtual void InstallModel(const std::string& model, LoadedModel loaded) = 0;
    // One outcome, for models/status and the log.
    virtual void ReportModel(const ModelStatusMessage& message) = 0;
  };

  // `models`: repository model name -> the batch size to load it with (deployments using it).
  // Loads the trusted keys (InvalidArgument naming the file).
  [[nodiscard]] static StatusOr<std::unique_ptr<ModelSync>> Create(
      const config::RepositoryConfig& repository, const std::filesystem::path& data_dir,
      std::map<std::string, int> models, Host& host, ModelSyncOptions options = {});
  ~ModelSync();  // Stop()
  ModelSync(const ModelSync&) = delete;
  ModelSync& operator=(const ModelSync&) = delete;

  // The installed package of `model`, checked again (signature, hash, smoke test): current, or
  // if that no longer loads, previous (rolled back on disk and reported). nullopt if none.
  std::optional<LoadedModel> LoadInstalled(const std::string& model);

  void Start();
  void Stop();  // idempotent; an install in progress is abandoned (its staging is cleaned later)

  // A models/notify message: {"model":"<name>"} syncs that model, anything else all of them.
  void Notify(std::string_view payload);
  // The running `version` of `model` failed during probation (`reason`): roll it back.
  void RequestRollback(const std::string& model, const std::string& version,
                       const std::string& reason);

  std::vector<ModelSyncStats> stats() const;

  // For the watchdog: "the model sync thread" when it has been busy for longer than `limit`
  // past the longest a poll may block (every request at its connect and total timeouts, and the
  // install), or has overslept its next poll by that much; "" otherwise.
  std::string Stuck(std::chrono::milliseconds limit) const;

  class Impl;

 private:
  explicit ModelSync(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge::agent
