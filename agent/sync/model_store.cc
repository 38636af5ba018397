#include "agent/sync/model_store.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/crash_point.h"
#include "core/file_util.h"
#include "core/state_file.h"
#include "core/time_format.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using inference::ModelVersion;

constexpr char kCurrent[] = "current";
constexpr char kPrevious[] = "previous";
constexpr char kState[] = "state.json";
constexpr char kLatest[] = "latest.json";
constexpr char kStagingPrefix[] = ".staging-";
constexpr char kLinkTmpPrefix[] = ".link-";

Status IoError(const fs::path& path, std::string_view what, const std::error_code& ec) {
  return Status::IoError(fmt::format("{}: {}: {}", path.string(), what, ec.message()));
}

struct State {
  std::optional<ModelVersion> highest;
  std::optional<Timestamp> installed_at;
  std::optional<ModelVersion> rolled_back;
};

// An optional version field: absent, or a string that parses as a version.
Status ReadVersionField(const nlohmann::json& doc, const char* key,
                        std::optional<ModelVersion>& out) {
  if (!doc.contains(key)) return Status::Ok();
  if (!doc[key].is_string()) {
    return Status::InvalidArgument(fmt::format("\"{}\" is not a string", key));
  }
  StatusOr<ModelVersion> v = inference::ParseModelVersion(doc[key].get<std::string>());
  if (!v.ok()) return Status::InvalidArgument(fmt::format("\"{}\": {}", key, v.status().message()));
  out = *v;
  return Status::Ok();
}

// state.json as WriteState writes it: "highest" always, "installed_at" and "rolled_back" when
// known. Any field of the wrong type makes the whole file damaged (core/state_file.h): it is
// moved aside and `highest` falls back to current.
Status ParseState(std::string_view text, State& state) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object()) return Status::InvalidArgument("not a JSON object");
  if (!doc.contains("highest")) return Status::InvalidArgument("no \"highest\"");
  EDGE_RETURN_IF_ERROR(ReadVersionField(doc, "highest", state.highest));
  EDGE_RETURN_IF_ERROR(ReadVersionField(doc, "rolled_back", state.rolled_back));
  if (doc.contains("installed_at")) {
    if (!doc["installed_at"].is_string()) {
      return Status::InvalidArgument("\"installed_at\" is not a string");
    }
    StatusOr<Timestamp> ts = ParseRfc3339(doc["installed_at"].get<std::string>());
    if (!ts.ok()) return Status::InvalidArgument("\"installed_at\": " + ts.status().message());
    state.installed_at = *ts;
  }
  return Status::Ok();
}

State ReadState(const fs::path& path) {
  State state;
  // Absent or damaged: no state; current alone bounds `highest`.
  ReadStateFile(path, 4096, [&state](std::string_view text) {
    State parsed;
    EDGE_RETURN_IF_ERROR(ParseState(text, parsed));
    state = parsed;
    return Status::Ok();
  });
  return state;
}

}  // namespace

ModelStore::ModelStore(const fs::path& data_dir, std::string name)
    : name_(std::move(name)), dir_(data_dir / "models" / name_) {}

fs::path ModelStore::VersionDir(const ModelVersion& v) const { return dir_ / v.ToString(); }

std::optional<ModelVersion> ModelStore::LinkVersion(const char* link) const {
  std::error_code ec;
  const fs::path target = fs::read_symlink(dir_ / link, ec);
  if (ec || target.has_parent_path()) return std::nullopt;
  StatusOr<ModelVersion> v = inference::ParseModelVersion(target.string());
  if (!v.ok() || !fs::is_directory(dir_ / target, ec)) return std::nullopt;
  return *v;
}

StatusOr<InstalledModel> ModelStore::Read() const {
  InstalledModel out;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    if (ec) return IoError(dir_, "cannot read", ec);
    return out;
  }
  out.current = LinkVersion(kCurrent);
  out.previous = LinkVersion(kPrevious);
  const State state = ReadState(dir_ / kState);
  out.highest = state.highest;
  if (out.current && (!out.highest || *out.highest < *out.current)) out.highest = out.current;
  if (out.current && state.highest && *state.highest == *out.current) {
    out.installed_at = state.installed_at;
  }
  return out;
}

StatusOr<fs::path> ModelStore::Stage(const ModelVersion& v) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return IoError(dir_, "cannot create", ec);
  const fs::path staging = dir_ / (kStagingPrefix + v.ToString());
  fs::remove_all(staging, ec);
  if (ec) return IoError(staging, "cannot remove", ec);
  fs::create_directory(staging, ec);
  if (ec) return IoError(staging, "cannot create", ec);
  return staging;
}

Status ModelStore::PointLink(const char* link, const std::string& target) {
  const fs::path tmp = dir_ / fmt::format("{}{}-{}", kLinkTmpPrefix, link, ::getpid());
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(target, tmp, ec);
  if (ec) return IoError(tmp, "cannot create link", ec);
  fs::rename(tmp, dir_ / link, ec);  // rename(2): atomic replacement of the old link
  if (ec) return IoError(dir_ / link, "cannot replace link", ec);
  return FsyncDirectory(dir_);
}

Status ModelStore::WriteState(const ModelVersion& highest, Timestamp installed_at,
                              const std::optional<ModelVersion>& rolled_back) {
  nlohmann::ordered_json doc = {{"highest", highest.ToString()},
                                {"installed_at", FormatRfc3339Millis(installed_at)}};
  if (rolled_back) doc["rolled_back"] = rolled_back->ToString();
  return WriteFileDurably(dir_ / kState, doc.dump() + "\n");
}

Status ModelStore::Commit(const fs::path& staging, const ModelVersion& v, Timestamp now,
                          bool pin) {
  EDGE_ASSIGN_OR_RETURN(InstalledModel before, Read());
  EDGE_RETURN_IF_ERROR(FsyncDirectory(staging));
  const fs::path target = VersionDir(v);
  std::error_code ec;
  // A directory of this name that current does not use is a leftover of an interrupted
  // install: replace it with the complete one.
  if (before.current != v) fs::remove_all(target, ec);
  fs::rename(staging, target, ec);
  if (ec) return IoError(target, "cannot move the staged package into place", ec);
  EDGE_RETURN_IF_ERROR(FsyncDirectory(dir_));
  CrashPoint("rename");
  if (before.current && *before.current != v) {
    EDGE_RETURN_IF_ERROR(PointLink(kPrevious, before.current->ToString()));
  }
  EDGE_RETURN_IF_ERROR(PointLink(kCurrent, v.ToString()));
  CrashPoint("swap");
  const ModelVersion highest = pin ? v : std::max(before.highest.value_or(v), v);
  EDGE_RETURN_IF_ERROR(WriteState(highest, now, std::nullopt));
  Clean();
  return Status::Ok();
}

StatusOr<std::optional<ModelVersion>> ModelStore::RollBack(const ModelVersion& bad) {
  EDGE_ASSIGN_OR_RETURN(InstalledModel before, Read());
  std::error_code ec;
  if (before.previous) {
    EDGE_RETURN_IF_ERROR(PointLink(kCurrent, before.previous->ToString()));
    fs::remove(dir_ / kPrevious, ec);
  } else {
    fs::remove(dir_ / kCurrent, ec);
  }
  if (ec) return IoError(dir_, "cannot remove a link", ec);
  const ModelVersion highest = std::max(before.highest.value_or(bad), bad);
  const State state = ReadState(dir_ / kState);
  EDGE_RETURN_IF_ERROR(WriteState(highest, state.installed_at.value_or(Timestamp{}), bad));
  Clean();
  return before.previous;
}

Status ModelStore::PinCurrent(const ModelVersion& v) {
  const State state = ReadState(dir_ / kState);
  return WriteState(v, state.installed_at.value_or(Timestamp{}), std::nullopt);
}

uint64_t ModelStore::LatestSerial() const {
  uint64_t serial = 0;
  ReadStateFile(dir_ / kLatest, 4096, [&serial](std::string_view text) {
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_object() || !doc.contains("serial") || !doc["serial"].is_number_unsigned()) {
      return Status::InvalidArgument("not {\"serial\": N}");
    }
    serial = doc["serial"].get<uint64_t>();
    return Status::Ok();
  });
  return serial;
}

Status ModelStore::RecordLatestSerial(uint64_t serial) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return IoError(dir_, "cannot create", ec);
  return WriteFileDurably(dir_ / kLatest, nlohmann::json{{"serial", serial}}.dump() + "\n");
}

void ModelStore::Clean() {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return;
  const std::optional<ModelVersion> current = LinkVersion(kCurrent);
  const std::optional<ModelVersion> previous = LinkVersion(kPrevious);
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == kCurrent || name == kPrevious || name == kState || name == kLatest) continue;
    const bool staging_or_tmp = name.rfind(kStagingPrefix, 0) == 0 ||
                                name.rfind(kLinkTmpPrefix, 0) == 0 || name.rfind(".state", 0) == 0;
    bool keep = false;
    if (!staging_or_tmp) {
      StatusOr<ModelVersion> v = inference::ParseModelVersion(name);
      keep = !v.ok() || *v == current || *v == previous;  // leave what is not ours alone
    }
    if (!keep) {
      std::error_code rm;
      fs::remove_all(entry.path(), rm);
    }
  }
}

}  // namespace edge::agent
