// libFuzzer target for the model package manifest parser (inference/model_package.h): every input
// is parsed as manifest.json. It must never crash, leak or trip a sanitizer, and a manifest it
// accepts must satisfy the checks the rest of the agent relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "inference/model_package.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = edge::inference::ParseManifest(text);
  if (!m.ok()) return 0;
  const bool sound =
      !m->features.empty() && m->window >= 1 && m->stride >= 1 && m->artifact_sha256.size() == 64 &&
      m->artifact_size >= 1 && m->artifact_file.find('/') == std::string::npos &&
      (m->mean.empty() ||
       (m->mean.size() == m->features.size() && m->std.size() == m->features.size()));
  if (!sound) std::abort();
  for (float s : m->std) {
    if (!(s > 0.0f)) std::abort();
  }
  return 0;
}
