// Numbers as text for the encoders: the shortest decimal that reads back as the same double
// (std::to_chars without a precision, so a consumer comparing values exactly gets exactly what
// was stored), and integers. Both append to a string the caller reuses, so that encoding a
// message allocates only when the payload outgrows the string's capacity.
//
// Thread-safety: pure functions.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <system_error>

#include "core/status.h"

namespace edge::uplink {

// REQUIRES: std::isfinite(v) (neither JSON nor line protocol can spell NaN or infinity).
inline void AppendShortestDouble(std::string& out, double v) {
  char buf[32];  // the longest shortest form, "-2.2250738585072014e-308", is 24 characters
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  EDGE_CHECK(ec == std::errc());
  out.append(buf, end);
}

template <typename Int>
inline void AppendInteger(std::string& out, Int v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  EDGE_CHECK(ec == std::errc());
  out.append(buf, end);
}

}  // namespace edge::uplink
