#include "agent/cli/model_commands.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "config/config_loader.h"
#include "config/value_syntax.h"
#include "core/file_util.h"
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

int RunModelPublish(const std::string& package_dir, const std::string& repo_root) {
  constexpr std::string_view kCmd = "publish";
  const fs::path src(package_dir);
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
  if (!config::IsValidName(m.name)) {
    return FailBadInput(kCmd, (src / kManifestFile).string() + ": name \"" + m.name +
                                  "\" cannot be a repository path");
  }

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

  // latest.json moves forward only: publishing a fix for an older line leaves it alone.
  const fs::path latest = model_dir / "latest.json";
  if (fs::exists(latest, ec)) {
    StatusOr<std::string> text = ReadFileToString(latest, 4096);
    const json doc = text.ok() ? json::parse(*text, nullptr, false) : json();
    if (doc.is_object() && doc.contains("version") && doc["version"].is_string()) {
      StatusOr<inference::ModelVersion> current =
          inference::ParseModelVersion(doc["version"].get<std::string>());
      if (current.ok() && *current >= *version) {
        std::printf("%s stays at %s\n", latest.c_str(), current->ToString().c_str());
        return 0;
      }
    }
  }
  const Status s = WriteFileDurably(latest, json{{"version", version->ToString()}}.dump() + "\n");
  if (!s.ok()) return Fail(kCmd, s);
  std::printf("%s now names %s\n", latest.c_str(), version->ToString().c_str());
  return 0;
}

}  // namespace edge::agent
