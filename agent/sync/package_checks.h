// The checks model sync applies to a downloaded package beyond its signature and hash (DESIGN
// §7): that the artifact's name is a plain file name of its own, and that the loaded model gives
// finite scores.
//
// Thread-safety: pure functions (SmokeTest runs the package's model, which its caller owns).
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"
#include "inference/model_package.h"

namespace edge::agent {

inline constexpr size_t kMaxArtifactNameLength = 128;

// The artifact's name comes from the (signed) manifest and becomes a URL segment and a file in
// the staging directory beside manifest.json: a name (letters, digits, '_', '.', '-') of at most
// kMaxArtifactNameLength characters, not starting with '.', and none of the package's other
// files. InvalidArgument saying which rule it breaks. (ParseManifest already refuses '/', "."
// and "..".)
[[nodiscard]] Status CheckArtifactName(const std::string& file);

// Finite outputs of the right shape for an all-mean (normalised zero) window.
[[nodiscard]] Status SmokeTest(inference::ModelPackage& package);

}  // namespace edge::agent
