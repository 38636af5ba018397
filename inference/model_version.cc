#include "inference/model_version.h"

#include <fmt/format.h>

#include <charconv>

namespace edge::inference {

std::string ModelVersion::ToString() const { return fmt::format("{}.{}.{}", major, minor, patch); }

StatusOr<ModelVersion> ParseModelVersion(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument(
        fmt::format("version \"{}\" is not MAJOR.MINOR.PATCH (e.g. 1.4.0)", text));
  };
  uint32_t parts[3];
  std::string_view rest = text;
  for (int i = 0; i < 3; ++i) {
    const size_t end = i < 2 ? rest.find('.') : rest.size();
    if (end == std::string_view::npos || end == 0) return bad();
    const std::string_view digits = rest.substr(0, end);
    if (digits.size() > 1 && digits[0] == '0') return bad();
    const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parts[i]);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) return bad();
    rest.remove_prefix(i < 2 ? end + 1 : end);
  }
  return ModelVersion{parts[0], parts[1], parts[2]};
}

}  // namespace edge::inference
