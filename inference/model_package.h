// Model packages (DESIGN §5): a directory with manifest.json, manifest.json.sig and the artifact.
//
// LoadModelPackage reads manifest.json, hands its exact bytes to the signature hook (issue #8
// plugs the ed25519 check in there; nothing else is read before it passes), parses and checks the
// manifest, checks the artifact's size and sha256 BEFORE parsing it, then loads the ONNX model
// with the manifest's window and feature count, which must agree with the model's input shape.
// Every error names the file and the fault, and is kInvalidArgument (exit code 2).
//
// Thread-safety: functions are reentrant; a ModelPackage is used by one thread at a time (its
// Model's arena), like Model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "inference/model.h"

namespace edge::inference {

struct Manifest {
  std::string name;
  std::string version;
  std::string format;  // "onnx"
  std::string artifact_file;
  std::string artifact_sha256;  // 64 lowercase hex digits
  int64_t artifact_size = 0;
  std::vector<std::string> features;
  int window = 0;
  int stride = 1;
  int64_t step_ms = 1000;
  std::vector<float> mean;  // empty when the manifest has no normalize block
  std::vector<float> std;
  bool has_threshold = false;
  double threshold = 0.0;
  std::string created;
};

// Parses and checks the manifest's JSON text. Messages name the field ("inputs.window: must be
// a positive integer") without the file name.
StatusOr<Manifest> ParseManifest(std::string_view json_text);

// Lowercase hex SHA-256 of `bytes` (OpenSSL EVP).
std::string Sha256Hex(std::string_view bytes);

struct PackageOptions {
  int max_batch = 32;
  // LoadOptions::memory_budget; an artifact larger than it is refused before it is read (its
  // weights alone would not fit).
  int64_t memory_budget = kDefaultModelMemoryBudget;
  // Called with manifest.json's exact bytes before anything else is parsed; a non-OK status
  // refuses the package. Unset: no signature check (offline `predict` of a local package).
  std::function<Status(const std::filesystem::path& dir, std::string_view manifest_bytes)>
      verify_manifest;
};

struct ModelPackage {
  std::filesystem::path dir;
  Manifest manifest;
  std::unique_ptr<Model> model;

  // (raw - mean) / std per feature, for `rows` rows of features() values; in place allowed.
  void Normalize(const float* raw, float* out, int64_t rows) const;
};

// Largest artifact accepted (bytes).
inline constexpr int64_t kMaxArtifactBytes = int64_t{1} << 30;

StatusOr<ModelPackage> LoadModelPackage(const std::filesystem::path& dir,
                                        const PackageOptions& options = {});

}  // namespace edge::inference
