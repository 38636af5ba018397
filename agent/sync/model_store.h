// ModelStore: the repository models installed on this gateway, on disk (DESIGN §7), laid out so
// that a crash (SIGKILL, power cut) at any moment of an install or a rollback leaves `current`
// naming one complete, verified version:
//
//   <data_dir>/models/<name>/
//     1.4.0/                 manifest.json, manifest.json.sig, the artifact (complete, fsynced)
//     1.3.2/                 the previous version, kept for rollback
//     current -> 1.4.0       relative symlink, replaced atomically (symlink to a temp name, then
//     previous -> 1.3.2      rename over the old link, then fsync of the directory)
//     state.json             {"highest":"1.4.0","installed_at":"...","rolled_back":"1.5.0"}
//     latest.json            {"serial":17}: the highest serial of a signed latest.json acted on
//     .staging-1.5.0/        a download in progress (removed by Clean())
//
// Commit order: the staged directory is renamed to its version name (a complete directory or
// none), `previous` is pointed at the old current, `current` at the new version, and only then
// state.json records the highest version. A crash between the last two steps is harmless: the
// highest installed version is the larger of state.json's and current's, so an older signed
// package can never be installed again (anti-rollback), and a version that was rolled back
// (bad) is never retried, because it stays the highest.
//
// Thread-safety: none; one owner (the model sync thread, or Pipeline::Create before it starts).
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "core/sample.h"
#include "core/status.h"
#include "inference/model_version.h"

namespace edge::agent {

struct InstalledModel {
  std::optional<inference::ModelVersion> current;
  std::optional<inference::ModelVersion> previous;
  std::optional<inference::ModelVersion> highest;  // max(state.json, current)
  std::optional<Timestamp> installed_at;           // when current was installed, if recorded
};

class ModelStore {
 public:
  ModelStore(const std::filesystem::path& data_dir, std::string name);

  const std::string& name() const { return name_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path VersionDir(const inference::ModelVersion& v) const;

  // What is installed. A `current` or `previous` link naming a missing directory or a name that
  // is not a version counts as absent. A damaged state.json (unreadable, or a field of the wrong
  // type) is moved aside, logged and counted (core/state_file.h) and ignored: current still
  // bounds `highest`. IoError only when the directory cannot be listed.
  [[nodiscard]] StatusOr<InstalledModel> Read() const;

  // A fresh, empty staging directory for `v` (an older one of the same name is removed).
  [[nodiscard]] StatusOr<std::filesystem::path> Stage(const inference::ModelVersion& v);

  // Makes the complete, fsynced staging directory the current version (see the commit order
  // above); the old current becomes previous. With `pin` (a signed latest.json that pins `v`,
  // DESIGN §7), `v` becomes the highest version even if it is lower than the recorded one, so
  // that versions above it can be installed again.
  [[nodiscard]] Status Commit(const std::filesystem::path& staging,
                              const inference::ModelVersion& v, Timestamp now, bool pin = false);

  // A pin of the version that is already current: it becomes the highest version.
  [[nodiscard]] Status PinCurrent(const inference::ModelVersion& v);

  // The serial of the newest signed latest.json acted on (0: none, or the file is damaged); a
  // latest.json with a lower serial is a replayed or stale copy.
  uint64_t LatestSerial() const;
  [[nodiscard]] Status RecordLatestSerial(uint64_t serial);

  // Points current back at previous (or removes current when there is none) and forgets
  // previous; `bad` stays the highest version, so it is not installed again. Returns the version
  // now current.
  [[nodiscard]] StatusOr<std::optional<inference::ModelVersion>> RollBack(
      const inference::ModelVersion& bad);

  // Removes staging directories, temporary links and version directories that neither current
  // nor previous names. Call when no install is in progress.
  void Clean();

 private:
  std::optional<inference::ModelVersion> LinkVersion(const char* link) const;
  Status PointLink(const char* link, const std::string& target);
  Status WriteState(const inference::ModelVersion& highest, Timestamp installed_at,
                    const std::optional<inference::ModelVersion>& rolled_back);

  std::string name_;
  std::filesystem::path dir_;
};

}  // namespace edge::agent
