#include "agent/cli/model_commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "agent/sync/latest_document.h"
#include "config/config_loader.h"
#include "config/units.h"
#include "config/value_syntax.h"
#include "core/file_util.h"
#include "core/quoted.h"
#include "core/time_format.h"
#include "inference/model.h"
#include "inference/model_package.h"
#include "inference/model_version.h"
#include "inference/package_signature.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using inference::ModelPackage;
using inference::VerifyingKey;
using json = nlohmann::ordered_json;

constexpr char kManifestFile[] = "manifest.json";
constexpr char kSignatureFile[] = "manifest.json.sig";
constexpr char kArtifactFile[] = "model.onnx";

// Prints `status` as "edge-agent model CMD: MESSAGE" and returns its exit code.
int Fail(std::string_view command, const Status& status) {
  std::fprintf(stderr, "edge-agent model %.*s: %s\n", static_cast<int>(command.size()),
               command.data(), status.message().c_str());
  return status.ExitCode();
}

int FailBadInput(std::string_view command, const std::string& message) {
  return Fail(command, Status::InvalidArgument(message));
}

StatusOr<std::vector<std::string>> SplitFeatures(const std::string& list) {
  std::vector<std::string> features;
  std::set<std::string> seen;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string name = list.substr(start, end - start);
    const size_t first = name.find_first_not_of(" \t");
    const size_t last = name.find_last_not_of(" \t");
    name = first == std::string::npos ? "" : name.substr(first, last - first + 1);
    if (name.empty()) {
      return Status::InvalidArgument(
          fmt::format("--features: empty feature name at position {}", features.size() + 1));
    }
    if (!seen.insert(name).second) {
      return Status::InvalidArgument(fmt::format("--features: \"{}\" is listed twice", name));
    }
    features.push_back(std::move(name));
    start = end + 1;
  }
  return features;
}

// {"mean":[...],"std":[...]} with one finite value per feature, std > 0.
StatusOr<json> ReadNormalize(const std::string& path, size_t features) {
  EDGE_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument(path + ": not a JSON object {\"mean\":[...],\"std\":[...]}");
  }
  json out = json::object();
  for (const char* key : {"mean", "std"}) {
    const auto it = doc.find(key);
    if (it == doc.end() || !it->is_array()) {
      return Status::InvalidArgument(
          fmt::format("{}: \"{}\" must be an array of numbers", path, key));
    }
    if (it->size() != features) {
      return Status::InvalidArgument(
          fmt::format("{}: \"{}\" has {} values for {} features", path, key, it->size(), features));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& v = (*it)[i];
      if (!v.is_number() || !std::isfinite(v.get<double>()) ||
          (std::string_view(key) == "std" && v.get<double>() <= 0)) {
        return Status::InvalidArgument(
            fmt::format("{}: {}[{}] must be a finite number{}", path, key, i,
                        std::string_view(key) == "std" ? " greater than 0" : ""));
      }
    }
    out[key] = *it;
  }
  return out;
}

bool SameFileContents(const fs::path& a, const fs::path& b) {
  StatusOr<std::string> x = ReadFileToString(a), y = ReadFileToString(b);
  return x.ok() && y.ok() && *x == *y;
}

}  // namespace

int RunModelKeygen(const std::string& private_key, const std::string& public_key) {
  const Status s = inference::GenerateKeyPair(private_key, public_key);
  if (!s.ok()) return Fail("keygen", s);
  std::printf(
      "wrote %s (private, mode 0600: keep it off the line PCs) and %s (public: list it "
      "in models.repository.trusted_keys)\n",
      private_key.c_str(), public_key.c_str());
  return 0;
}

int RunModelPack(const PackOptions& o) {
  constexpr std::string_view kCmd = "pack";
  if (!config::IsValidName(o.name)) {
    return FailBadInput(
        kCmd, fmt::format("--name \"{}\": use letters, digits, '_', '.' and '-'", o.name));
  }
  StatusOr<inference::ModelVersion> version = inference::ParseModelVersion(o.version);
  if (!version.ok())
    return Fail(kCmd, Status::InvalidArgument("--version: " + version.status().message()));
  if (o.window < 1) return FailBadInput(kCmd, "--window must be at least 1");
  if (o.stride < 1 || o.stride > o.window) {
    return FailBadInput(kCmd, "--stride must be between 1 and the window");
  }
  if (o.step_ms < 1) return FailBadInput(kCmd, "--step-ms must be at least 1");
  if (o.threshold && !std::isfinite(*o.threshold)) {
    return FailBadInput(kCmd, "--threshold must be a finite number");
  }
  StatusOr<std::vector<std::string>> features = SplitFeatures(o.features);
  if (!features.ok()) return Fail(kCmd, features.status());
  std::optional<json> normalize;
  if (!o.normalize.empty()) {
    StatusOr<json> n = ReadNormalize(o.normalize, features->size());
    if (!n.ok()) return Fail(kCmd, n.status());
    normalize = std::move(*n);
  }
  StatusOr<inference::SigningKey> key = inference::SigningKey::Load(o.private_key);
  if (!key.ok()) return Fail(kCmd, key.status());
  // A signing key every user of the machine can read is no longer a secret: refused. (Checked
  // after loading, so a public key named by mistake is reported as what it is.)
  if (std::string fault = config::WorldReadableFault(o.private_key); !fault.empty()) {
    return FailBadInput(kCmd, "--key " + o.private_key + ": " + fault);
  }
  StatusOr<std::string> onnx = ReadFileToString(o.onnx, inference::kMaxArtifactBytes);
  if (!onnx.ok()) return Fail(kCmd, onnx.status());

  // The model must load for exactly this window and feature count: a data scientist learns of a
  // mismatch here, not from a gateway refusing the package.
  inference::LoadOptions load;
  load.window = o.window;
  load.features = static_cast<int>(features->size());
  load.max_batch = 1;
  StatusOr<std::unique_ptr<inference::Model>> model = inference::Model::Load(*onnx, load);
  if (!model.ok()) return FailBadInput(kCmd, o.onnx + ": " + model.status().message());

  std::error_code ec;
  const fs::path out(o.out_dir);
  if (fs::exists(out, ec) && !fs::is_empty(out, ec)) {
    return FailBadInput(kCmd, o.out_dir + ": exists and is not empty");
  }
  fs::create_directories(out, ec);
  if (ec) return Fail(kCmd, Status::IoError(o.out_dir + ": " + ec.message()));

  json inputs = {
      {"features", *features}, {"window", o.window}, {"stride", o.stride}, {"step_ms", o.step_ms}};
  if (normalize) inputs["normalize"] = *normalize;
  json manifest = {
      {"name", o.name},
      {"version", version->ToString()},
      {"format", "onnx"},
      {"artifact",
       {{"file", kArtifactFile}, {"sha256", inference::Sha256Hex(*onnx)}, {"size", onnx->size()}}},
      {"inputs", std::move(inputs)}};
  if (o.threshold) manifest["output"] = {{"threshold", *o.threshold}};
  manifest["created"] = FormatRfc3339Millis(
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
  const std::string manifest_text = manifest.dump(2) + "\n";

  // The agent's own parser must accept what we wrote.
  StatusOr<inference::Manifest> parsed = inference::ParseManifest(manifest_text);
  if (!parsed.ok()) return FailBadInput(kCmd, "manifest: " + parsed.status().message());

  const std::string signature = key->SignBase64(manifest_text) + "\n";
  for (const auto& [file, bytes] : {std::pair<const char*, std::string_view>{kArtifactFile, *onnx},
                                    {kManifestFile, manifest_text},
                                    {kSignatureFile, signature}}) {
    const Status s = WriteFileDurably(out / file, bytes);
    if (!s.ok()) return Fail(kCmd, s);
  }
  std::printf("packed %s %s into %s (%s: %zu bytes, sha256 %s)\n", o.name.c_str(),
              version->ToString().c_str(), o.out_dir.c_str(), kArtifactFile, onnx->size(),
              parsed->artifact_sha256.c_str());
  return 0;
}

int RunModelVerify(const std::string& package_dir, const std::string& public_key) {
  constexpr std::string_view kCmd = "verify";
  StatusOr<VerifyingKey> key = VerifyingKey::Load(public_key);
  if (!key.ok()) return Fail(kCmd, key.status());
  std::vector<VerifyingKey> keys;
  keys.push_back(std::move(*key));
  // The check the agent applies: nothing of the package is parsed before the manifest's exact
  // bytes verify.
  inference::PackageOptions options;
  options.max_batch = 1;
  options.verify_manifest = inference::SignatureCheck(keys);
  StatusOr<ModelPackage> package = inference::LoadModelPackage(package_dir, options);
  if (!package.ok()) return Fail(kCmd, Status::InvalidArgument(package.status().message()));
  const inference::Manifest& m = package->manifest;
  std::printf("%s: ok (%s %s; signature verified with %s; %s: %lld bytes, sha256 %s)\n",
              package_dir.c_str(), m.name.c_str(), m.version.c_str(), public_key.c_str(),
              m.artifact_file.c_str(), static_cast<long long>(m.artifact_size),
              m.artifact_sha256.c_str());
  return 0;
}

namespace {

// latest.json as the previous publish left it: its serial and version (none: 0, nullopt).
void ReadPreviousLatest(const fs::path& latest, uint64_t& serial,
                        std::optional<inference::ModelVersion>& version) {
  StatusOr<std::string> text = ReadFileToString(latest, 4096);
  const json doc = text.ok() ? json::parse(*text, nullptr, false) : json();
  if (!doc.is_object()) return;
  if (doc.contains("serial") && doc["serial"].is_number_unsigned()) {
    serial = doc["serial"].get<uint64_t>();
  }
  if (doc.contains("version") && doc["version"].is_string()) {
    StatusOr<inference::ModelVersion> v =
        inference::ParseModelVersion(doc["version"].get<std::string>());
    if (v.ok()) version = *v;
  }
}

// The signed latest.json: the next serial, a fresh expiry; the version moves forward only
// (publishing a fix for an older line leaves it alone) unless `pin`.
int WriteLatest(const fs::path& model_dir, const inference::ModelVersion& version,
                const inference::SigningKey& key, std::chrono::milliseconds lifetime, bool pin) {
  constexpr std::string_view kCmd = "publish";
  const fs::path latest = model_dir / kLatestFile;
  uint64_t serial = 0;
  std::optional<inference::ModelVersion> previous;
  ReadPreviousLatest(latest, serial, previous);
  if (serial >= kMaxLatestSerial) {
    return FailBadInput(kCmd, latest.string() + ": serial is at its maximum");
  }
  LatestDocument doc;
  doc.version = pin || !previous || *previous < version ? version : *previous;
  doc.serial = serial + 1;
  doc.pin = pin;
  doc.is_signed = true;
  doc.expires = std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now() + lifetime);
  const std::string text = FormatLatestDocument(doc);
  // The signature first: a gateway that reads the new latest.json with the old signature
  // refuses it for one poll; the other way round it would too. Either way nothing is installed.
  Status s = WriteFileDurably(model_dir / kLatestSignatureFile, key.SignBase64(text) + "\n");
  if (s.ok()) s = WriteFileDurably(latest, text);
  if (!s.ok()) return Fail(kCmd, s);
  std::printf("%s now names %s%s (serial %llu, expires %s)\n", latest.c_str(),
              doc.version.ToString().c_str(), pin ? ", pinned" : "",
              static_cast<unsigned long long>(doc.serial), FormatRfc3339Millis(*doc.expires).c_str());
  return 0;
}

}  // namespace

int RunModelPublish(const PublishOptions& o) {
  constexpr std::string_view kCmd = "publish";
  const std::string& repo_root = o.repo_root;
  const fs::path src(o.package_dir);
  StatusOr<std::chrono::milliseconds> lifetime = config::ParseDuration(o.expires_in);
  if (!lifetime.ok() || *lifetime < std::chrono::hours(1) || *lifetime > std::chrono::days(366)) {
    return FailBadInput(kCmd, "--expires-in " + o.expires_in + ": a duration from 1h to 366d");
  }
  inference::PackageOptions options;
  options.max_batch = 1;
  StatusOr<ModelPackage> package = inference::LoadModelPackage(src, options);
  if (!package.ok()) return Fail(kCmd, Status::InvalidArgument(package.status().message()));
  const inference::Manifest& m = package->manifest;
  StatusOr<std::string> sig = ReadFileToString(src / kSignatureFile, 4096);
  if (!sig.ok() || sig->empty()) {
    return FailBadInput(kCmd, (src / kSignatureFile).string() +
                                  ": missing or empty; sign the package with `model pack`");
  }
  StatusOr<inference::ModelVersion> version = inference::ParseModelVersion(m.version);
  if (!version.ok()) {
    return FailBadInput(kCmd, (src / kManifestFile).string() + ": " + version.status().message());
  }
  if (Status name = config::CheckModelName(m.name); !name.ok()) {
    return FailBadInput(kCmd, (src / kManifestFile).string() + ": name " + Quoted(m.name) +
                                  " cannot be a repository path: it " + name.message());
  }

  StatusOr<inference::SigningKey> key = inference::SigningKey::Load(o.private_key);
  if (!key.ok()) return Fail(kCmd, key.status());

  const std::vector<std::string> files = {kManifestFile, kSignatureFile, m.artifact_file};
  const fs::path model_dir = fs::path(repo_root) / m.name;
  const fs::path target = model_dir / version->ToString();
  std::error_code ec;
  if (fs::exists(target, ec)) {
    for (const std::string& f : files) {
      if (!SameFileContents(src / f, target / f)) {
        return FailBadInput(kCmd, fmt::format("{}: version {} is already published with other "
                                              "contents; publish a new version instead",
                                              target.string(), version->ToString()));
      }
    }
    std::printf("%s %s is already published in %s\n", m.name.c_str(), m.version.c_str(),
                target.c_str());
  } else {
    // Copy into a temporary directory and rename it into place, so that a gateway polling the
    // repository never finds a version directory with some of its files missing.
    const fs::path staging = model_dir / fmt::format(".{}.tmp-{}", version->ToString(), ::getpid());
    fs::create_directories(staging, ec);
    if (ec) return Fail(kCmd, Status::IoError(staging.string() + ": " + ec.message()));
    for (const std::string& f : files) {
      StatusOr<std::string> bytes = ReadFileToString(src / f);
      if (!bytes.ok()) return Fail(kCmd, bytes.status());
      const Status s = WriteFileDurably(staging / f, *bytes);
      if (!s.ok()) return Fail(kCmd, s);
    }
    fs::rename(staging, target, ec);
    if (ec) return Fail(kCmd, Status::IoError(target.string() + ": " + ec.message()));
    const Status s = FsyncDirectory(model_dir);
    if (!s.ok()) return Fail(kCmd, s);
    std::printf("published %s %s to %s\n", m.name.c_str(), m.version.c_str(), target.c_str());
  }

  return WriteLatest(model_dir, *version, *key, *lifetime, o.pin);
}

}  // namespace edge::agent
