#include "agent/sync/package_checks.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

#include "config/value_syntax.h"
#include "inference/model.h"

namespace edge::agent {
namespace {

// What the repository supplied, quoted and escaped (JSON, ASCII only) and shortened, so that a
// hostile name can neither forge lines in the log nor reach a terminal's escape sequences.
std::string Quoted(const std::string& text) {
  const nlohmann::json quoted = text.substr(0, kMaxArtifactNameLength);
  return quoted.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) +
         (text.size() > kMaxArtifactNameLength ? "..." : "");
}

}  // namespace

Status CheckArtifactName(const std::string& file) {
  const bool plain = !file.empty() && file.size() <= kMaxArtifactNameLength &&
                     config::IsValidName(file) && file.front() != '.';
  if (!plain) {
    return Status::InvalidArgument(
        fmt::format("artifact.file {} is not a plain file name (letters, digits, '_', '.', "
                    "'-', at most {} characters, not starting with '.')",
                    Quoted(file), kMaxArtifactNameLength));
  }
  for (const char* reserved : {"manifest.json", "manifest.json.sig"}) {
    if (file == reserved) {
      return Status::InvalidArgument(fmt::format(
          "artifact.file \"{}\" is the name of the package's own {}", file, reserved));
    }
  }
  return Status::Ok();
}

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

}  // namespace edge::agent
