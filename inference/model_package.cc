#include "inference/model_package.h"

#include <openssl/evp.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace edge::inference {
namespace {

using nlohmann::json;

Status Field(const std::string& field, const std::string& fault) {
  return Status::InvalidArgument(field + ": " + fault);
}

StatusOr<const json*> Member(const json& obj, const std::string& key, const std::string& path,
                             bool required) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return Field(path, "missing");
    return static_cast<const json*>(nullptr);
  }
  return &*it;
}

StatusOr<std::string> RequiredString(const json& obj, const std::string& key,
                                     const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(const json* v, Member(obj, key, path, true));
  if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
    return Field(path, "must be a non-empty string");
  }
  return v->get<std::string>();
}

StatusOr<int64_t> Integer(const json& obj, const std::string& key, const std::string& path,
                          bool required, int64_t def, int64_t min, int64_t max) {
  EDGE_ASSIGN_OR_RETURN(const json* v, Member(obj, key, path, required));
  if (v == nullptr) return def;
  if (!v->is_number_integer() && !v->is_number_unsigned()) return Field(path, "must be an integer");
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return Field(path, "must be at most " + std::to_string(max));
  }
  const int64_t x = v->get<int64_t>();
  if (x < min || x > max) {
    return Field(path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return x;
}

StatusOr<std::vector<float>> Numbers(const json& v, const std::string& path, size_t count) {
  if (!v.is_array()) return Field(path, "must be an array of numbers");
  if (v.size() != count) {
    return Field(path, "has " + std::to_string(v.size()) + " values for " + std::to_string(count) +
                           " features");
  }
  std::vector<float> out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number()) return Field(path + "[" + std::to_string(i) + "]", "must be a number");
    const double d = v[i].get<double>();
    if (!std::isfinite(d) || std::fabs(d) > 3.0e38) {
      return Field(path + "[" + std::to_string(i) + "]", "must be a finite float");
    }
    out.push_back(static_cast<float>(d));
  }
  return out;
}

bool IsLowerHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

StatusOr<std::string> ReadWholeFile(const std::filesystem::path& path, int64_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path.string() + ": cannot be read");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) return Status::InvalidArgument(path.string() + ": cannot be read");
  if (size > limit) {
    return Status::InvalidArgument(path.string() + ": larger than the limit of " +
                                   std::to_string(limit) + " bytes");
  }
  in.seekg(0);
  std::string bytes(static_cast<size_t>(size), '\0');
  if (!in.read(bytes.data(), size)) {
    return Status::InvalidArgument(path.string() + ": read failed");
  }
  return bytes;
}

// "artifact": the file, its digest and size.
Status ParseArtifact(const json& doc, Manifest& m) {
  EDGE_ASSIGN_OR_RETURN(const json* artifact, Member(doc, "artifact", "artifact", true));
  if (!artifact->is_object()) return Field("artifact", "must be an object");
  EDGE_ASSIGN_OR_RETURN(m.artifact_file, RequiredString(*artifact, "file", "artifact.file"));
  if (m.artifact_file.find('/') != std::string::npos || m.artifact_file == "." ||
      m.artifact_file == ".." || m.artifact_file.find('\\') != std::string::npos) {
    return Field("artifact.file", "must be a file name in the package directory, not a path");
  }
  EDGE_ASSIGN_OR_RETURN(m.artifact_sha256, RequiredString(*artifact, "sha256", "artifact.sha256"));
  if (!IsLowerHex64(m.artifact_sha256)) {
    return Field("artifact.sha256", "must be 64 lowercase hex digits");
  }
  EDGE_ASSIGN_OR_RETURN(m.artifact_size,
                        Integer(*artifact, "size", "artifact.size", true, 0, 1, kMaxArtifactBytes));
  return Status::Ok();
}

// "inputs": the features in model order, the window, stride and grid, the normalisation.
Status ParseInputs(const json& doc, Manifest& m) {
  EDGE_ASSIGN_OR_RETURN(const json* inputs, Member(doc, "inputs", "inputs", true));
  if (!inputs->is_object()) return Field("inputs", "must be an object");
  EDGE_ASSIGN_OR_RETURN(const json* features, Member(*inputs, "features", "inputs.features", true));
  if (!features->is_array() || features->empty()) {
    return Field("inputs.features", "must be a non-empty array of names");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < features->size(); ++i) {
    const json& f = (*features)[i];
    const std::string path = "inputs.features[" + std::to_string(i) + "]";
    if (!f.is_string() || f.get_ref<const std::string&>().empty()) {
      return Field(path, "must be a non-empty string");
    }
    if (!seen.insert(f.get<std::string>()).second) {
      return Field(path, "'" + f.get<std::string>() + "' is listed twice");
    }
    m.features.push_back(f.get<std::string>());
  }
  if (m.features.size() > 100'000) return Field("inputs.features", "too many features");
  EDGE_ASSIGN_OR_RETURN(int64_t window,
                        Integer(*inputs, "window", "inputs.window", true, 0, 1, 1'000'000));
  m.window = static_cast<int>(window);
  EDGE_ASSIGN_OR_RETURN(int64_t stride,
                        Integer(*inputs, "stride", "inputs.stride", false, 1, 1, 1'000'000));
  m.stride = static_cast<int>(stride);
  EDGE_ASSIGN_OR_RETURN(
      m.step_ms, Integer(*inputs, "step_ms", "inputs.step_ms", false, 1000, 1, int64_t{1} << 40));
  EDGE_ASSIGN_OR_RETURN(const json* normalize,
                        Member(*inputs, "normalize", "inputs.normalize", false));
  if (normalize != nullptr) {
    if (!normalize->is_object()) return Field("inputs.normalize", "must be an object");
    EDGE_ASSIGN_OR_RETURN(const json* mean,
                          Member(*normalize, "mean", "inputs.normalize.mean", true));
    EDGE_ASSIGN_OR_RETURN(const json* sd, Member(*normalize, "std", "inputs.normalize.std", true));
    EDGE_ASSIGN_OR_RETURN(m.mean, Numbers(*mean, "inputs.normalize.mean", m.features.size()));
    EDGE_ASSIGN_OR_RETURN(m.std, Numbers(*sd, "inputs.normalize.std", m.features.size()));
    for (size_t i = 0; i < m.std.size(); ++i) {
      if (!(m.std[i] > 0.0f)) {
        return Field("inputs.normalize.std[" + std::to_string(i) + "]", "must be > 0");
      }
    }
  }
  return Status::Ok();
}

// "output" (optional): the threshold.
Status ParseOutput(const json& doc, Manifest& m) {
  EDGE_ASSIGN_OR_RETURN(const json* output, Member(doc, "output", "output", false));
  if (output != nullptr) {
    if (!output->is_object()) return Field("output", "must be an object");
    EDGE_ASSIGN_OR_RETURN(const json* threshold,
                          Member(*output, "threshold", "output.threshold", false));
    if (threshold != nullptr) {
      if (!threshold->is_number() || !std::isfinite(threshold->get<double>())) {
        return Field("output.threshold", "must be a finite number");
      }
      m.has_threshold = true;
      m.threshold = threshold->get<double>();
    }
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Manifest> ParseManifest(std::string_view json_text) {
  json doc = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::InvalidArgument("not valid JSON");
  if (!doc.is_object()) return Status::InvalidArgument("must be a JSON object");
  Manifest m;
  EDGE_ASSIGN_OR_RETURN(m.name, RequiredString(doc, "name", "name"));
  EDGE_ASSIGN_OR_RETURN(m.version, RequiredString(doc, "version", "version"));
  EDGE_ASSIGN_OR_RETURN(m.format, RequiredString(doc, "format", "format"));
  if (m.format != "onnx") return Field("format", "'" + m.format + "' is not supported (onnx is)");

  EDGE_RETURN_IF_ERROR(ParseArtifact(doc, m));
  EDGE_RETURN_IF_ERROR(ParseInputs(doc, m));
  EDGE_RETURN_IF_ERROR(ParseOutput(doc, m));
  EDGE_ASSIGN_OR_RETURN(const json* created, Member(doc, "created", "created", false));
  if (created != nullptr) {
    if (!created->is_string()) return Field("created", "must be a string (RFC 3339)");
    m.created = created->get<std::string>();
  }
  return m;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EDGE_CHECK(EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) == 1);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

void ModelPackage::Normalize(const float* raw, float* out, int64_t rows) const {
  const size_t f = manifest.features.size();
  if (manifest.mean.empty()) {
    if (raw != out) std::copy(raw, raw + rows * static_cast<int64_t>(f), out);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t j = 0; j < f; ++j) {
      const size_t i = static_cast<size_t>(r) * f + j;
      out[i] = (raw[i] - manifest.mean[j]) / manifest.std[j];
    }
  }
}

StatusOr<ModelPackage> LoadModelPackage(const std::filesystem::path& dir,
                                        const PackageOptions& options) {
  const std::filesystem::path manifest_path = dir / "manifest.json";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::InvalidArgument(dir.string() + ": not a model package directory");
  }
  EDGE_ASSIGN_OR_RETURN(std::string manifest_bytes, ReadWholeFile(manifest_path, 1 << 20));
  if (options.verify_manifest) {
    EDGE_RETURN_IF_ERROR(options.verify_manifest(dir, manifest_bytes));
  }
  StatusOr<Manifest> manifest = ParseManifest(manifest_bytes);
  if (!manifest.ok()) {
    return Status::InvalidArgument(manifest_path.string() + ": " + manifest.status().message());
  }
  ModelPackage pkg;
  pkg.dir = dir;
  pkg.manifest = std::move(manifest).value();
  const Manifest& m = pkg.manifest;

  // Size and hash before the parser sees a single byte of the artifact.
  const std::filesystem::path artifact = dir / m.artifact_file;
  const auto size = std::filesystem::file_size(artifact, ec);
  if (ec) return Status::InvalidArgument(artifact.string() + ": cannot be read: " + ec.message());
  if (static_cast<int64_t>(size) != m.artifact_size) {
    return Status::InvalidArgument(artifact.string() + ": size is " + std::to_string(size) +
                                   " bytes, " + manifest_path.string() + " says " +
                                   std::to_string(m.artifact_size));
  }
  if (static_cast<int64_t>(size) > options.memory_budget) {
    return Status::InvalidArgument(artifact.string() + ": " + std::to_string(size) +
                                   " bytes, above the model's memory budget of " +
                                   BytesText(options.memory_budget));
  }
  EDGE_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(artifact, kMaxArtifactBytes));
  if (static_cast<int64_t>(bytes.size()) != m.artifact_size) {
    return Status::InvalidArgument(artifact.string() + ": changed while being read");
  }
  const std::string digest = Sha256Hex(bytes);
  if (digest != m.artifact_sha256) {
    return Status::InvalidArgument(artifact.string() + ": sha256 is " + digest + ", " +
                                   manifest_path.string() + " says " + m.artifact_sha256);
  }
  LoadOptions load;
  load.window = m.window;
  load.features = static_cast<int>(m.features.size());
  load.max_batch = options.max_batch;
  load.memory_budget = options.memory_budget;
  StatusOr<std::unique_ptr<Model>> model = Model::Load(bytes, load);
  if (!model.ok()) {
    return Status::InvalidArgument(artifact.string() + ": " + model.status().message() +
                                   " (manifest " + manifest_path.string() + ": inputs.window " +
                                   std::to_string(m.window) + ", " +
                                   std::to_string(m.features.size()) + " features)");
  }
  pkg.model = std::move(model).value();
  return pkg;
}

}  // namespace edge::inference
