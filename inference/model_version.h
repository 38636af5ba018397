// Model versions: MAJOR.MINOR.PATCH, three non-negative decimal integers ("1.4.0"), ordered
// numerically ("1.10.0" > "1.9.3"). The agent refuses a repository version that is not newer
// than the one it has installed (DESIGN §7), so the order must be exact and the text strict.
//
// Thread-safety: value type, pure functions.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edge::inference {

struct ModelVersion {
  uint32_t major = 0;
  uint32_t minor = 0;
  uint32_t patch = 0;

  auto operator<=>(const ModelVersion&) const = default;
  std::string ToString() const;
};

// InvalidArgument quoting the text if it is not MAJOR.MINOR.PATCH (no sign, no leading zeros
// except "0", each part < 2^32).
[[nodiscard]] StatusOr<ModelVersion> ParseModelVersion(std::string_view text);

}  // namespace edge::inference
