#include "config/units.h"

#include <array>
#include <cctype>
#include <limits>

#include "core/quoted.h"

namespace edge::config {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// A non-negative decimal number "123" or "1.25" at the start of `text`: the integer part,
// the fraction digits as an integer, and how many fraction digits there were.
struct Decimal {
  uint64_t integer = 0;
  uint64_t fraction = 0;
  int fraction_digits = 0;
  size_t length = 0;  // characters consumed; 0 when `text` does not start with a digit
  bool overflow = false;
};

Decimal ReadDecimal(std::string_view text, int max_fraction_digits) {
  Decimal d;
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (d.integer > (kMax - digit) / 10) d.overflow = true;
    d.integer = d.integer * 10 + digit;
    ++i;
  }
  if (i == 0) return d;
  if (i < text.size() && text[i] == '.' && i + 1 < text.size() &&
      std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
    ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (d.fraction_digits < max_fraction_digits) {
        d.fraction = d.fraction * 10 + static_cast<uint64_t>(text[i] - '0');
        ++d.fraction_digits;
      } else if (text[i] != '0') {
        d.overflow = true;  // more precision than any unit can use
      }
      ++i;
    }
  }
  d.length = i;
  return d;
}

uint64_t Pow10(int n) {
  uint64_t p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

struct Unit {
  std::string_view name;
  uint64_t factor;
};

// Longest names first so that "ms" is not read as "m" followed by "s".
constexpr std::array<Unit, 5> kDurationUnits{
    {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}, {"d", 24 * 60 * 60 * 1000}}};

constexpr std::array<Unit, 9> kSizeUnits{{{"KiB", 1ull << 10},
                                          {"MiB", 1ull << 20},
                                          {"GiB", 1ull << 30},
                                          {"TiB", 1ull << 40},
                                          {"kB", 1000ull},
                                          {"MB", 1000ull * 1000},
                                          {"GB", 1000ull * 1000 * 1000},
                                          {"TB", 1000ull * 1000 * 1000 * 1000},
                                          {"B", 1}}};

}  // namespace

StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string q = Quoted(text);
  if (text.empty()) return Status::InvalidArgument("empty duration; write e.g. 5s");
  if (text[0] == '-') return Status::InvalidArgument(q + " is negative; durations are >= 0");
  if (text[0] == '+') return Status::InvalidArgument(q + ": write the duration without a sign");
  uint64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    // Fraction digits beyond 9 could not change a whole number of milliseconds.
    const Decimal d = ReadDecimal(text.substr(pos), 9);
    if (d.length == 0) {
      return Status::InvalidArgument(q + " is not a duration; write e.g. 250ms, 5s, 10m, 2h, 7d");
    }
    pos += d.length;
    size_t unit_end = pos;
    while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end]))) {
      ++unit_end;
    }
    const std::string_view unit_name = text.substr(pos, unit_end - pos);
    if (unit_name.empty()) {
      if (pos == text.size()) {
        const std::string example = d.fraction_digits > 0
                                        ? std::string(text) + "s"
                                        : std::string(text) + "ms or " + std::string(text) + "s";
        return Status::InvalidArgument(q + " needs a unit (ms, s, m, h, d), e.g. " + example);
      }
      if (text[pos] == ' ') {
        return Status::InvalidArgument(q + ": write the number and its unit without a space");
      }
      return Status::InvalidArgument(q + " is not a duration; write e.g. 250ms, 5s, 10m, 2h, 7d");
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kDurationUnits) {
      if (u.name == unit_name) unit = &u;
    }
    if (unit == nullptr) {
      return Status::InvalidArgument(q + ": unknown unit '" + std::string(unit_name) +
                                     "'; use ms, s, m, h or d");
    }
    pos = unit_end;
    const uint64_t scale = Pow10(d.fraction_digits);
    // fraction < 10^9 and factor < 2^27: the product fits in 64 bits.
    const uint64_t fraction_ms = d.fraction * unit->factor;
    if (fraction_ms % scale != 0) {
      return Status::InvalidArgument(q + " is not a whole number of milliseconds");
    }
    if (d.overflow || d.integer > (kMax / 2) / unit->factor) {
      return Status::InvalidArgument(q + " is too large");
    }
    total += d.integer * unit->factor + fraction_ms / scale;
    if (total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / 2)) {
      return Status::InvalidArgument(q + " is too large");
    }
  }
  return std::chrono::milliseconds(static_cast<int64_t>(total));
}

StatusOr<uint64_t> ParseSize(std::string_view text) {
  const std::string q = Quoted(text);
  if (text.empty()) return Status::InvalidArgument("empty size; write e.g. 512MiB");
  if (text[0] == '-') return Status::InvalidArgument(q + " is negative; sizes are >= 0");
  // 6 fraction digits keep fraction * factor (< 10^6 * 2^40) inside 64 bits.
  const Decimal d = ReadDecimal(text, 6);
  if (d.length == 0) {
    return Status::InvalidArgument(q + " is not a size; write e.g. 512MiB, 2GiB, 100MB");
  }
  std::string_view unit_name = text.substr(d.length);
  if (!unit_name.empty() && unit_name[0] == ' ') {
    return Status::InvalidArgument(q + ": write the number and its unit without a space");
  }
  uint64_t factor = 1;
  if (!unit_name.empty()) {
    const Unit* unit = nullptr;
    for (const Unit& u : kSizeUnits) {
      if (u.name == unit_name) unit = &u;
    }
    if (unit == nullptr) {
      if (unit_name == "KB" || unit_name == "K" || unit_name == "k") {
        return Status::InvalidArgument(q + ": unknown unit '" + std::string(unit_name) +
                                       "'; use kB (1000) or KiB (1024)");
      }
      return Status::InvalidArgument(q + ": unknown unit '" + std::string(unit_name) +
                                     "'; use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB");
    }
    factor = unit->factor;
  } else if (d.fraction_digits > 0) {
    return Status::InvalidArgument(q + " is not a whole number of bytes");
  }
  if (d.overflow || d.integer > kMax / factor) return Status::InvalidArgument(q + " is too large");
  const uint64_t whole = d.integer * factor;
  const uint64_t part = d.fraction * factor / Pow10(d.fraction_digits);  // rounded down
  if (whole > kMax - part) return Status::InvalidArgument(q + " is too large");
  return whole + part;
}

StatusOr<uint64_t> ParseRate(std::string_view text) {
  const std::string q = Quoted(text);
  if (text.empty()) {
    return Status::InvalidArgument("empty rate; write e.g. 256KiB/s, or 0 for no limit");
  }
  if (text == "0") return uint64_t{0};
  if (text[0] == '-') return Status::InvalidArgument(q + " is negative; write 0 for no limit");
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    const bool bare_number = std::isdigit(static_cast<unsigned char>(text.back()));
    return Status::InvalidArgument(q + ": a rate needs '/s' (bytes per second), e.g. " +
                                   std::string(text) + (bare_number ? "B/s" : "/s") +
                                   "; 0 means no limit");
  }
  if (text.substr(slash) != "/s") {
    return Status::InvalidArgument(q + ": write the rate per second, e.g. 256KiB/s");
  }
  const std::string_view size = text.substr(0, slash);
  if (size.empty()) return Status::InvalidArgument(q + " needs a size, e.g. 256KiB/s");
  // "256/s" would be bytes by the size rule; say so rather than guess a unit was forgotten.
  if (std::isdigit(static_cast<unsigned char>(size.back()))) {
    return Status::InvalidArgument(q + " needs a unit, e.g. " + std::string(size) + "B/s or " +
                                   std::string(size) + "KiB/s");
  }
  auto bytes = ParseSize(size);
  if (!bytes.ok()) {
    // ParseSize quotes the size only; quote what was written.
    std::string message = bytes.status().message();
    const std::string size_q = Quoted(size);
    if (message.rfind(size_q, 0) == 0) message = q + message.substr(size_q.size());
    return Status::InvalidArgument(message);
  }
  if (*bytes == 0) {
    return Status::InvalidArgument(q + " is less than one byte per second; write 0 for no limit");
  }
  return *bytes;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms < 0) return "-" + FormatDuration(std::chrono::milliseconds(-ms));
  if (ms == 0) return "0s";
  for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
    const auto factor = static_cast<int64_t>(it->factor);
    if (ms % factor == 0) return std::to_string(ms / factor) + std::string(it->name);
  }
  return std::to_string(ms) + "ms";  // not reached: every value divides by 1 ms
}

std::string FormatSize(uint64_t bytes) {
  static constexpr std::array<Unit, 4> kBinary{
      {{"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}}};
  if (bytes != 0) {
    for (const Unit& u : kBinary) {
      if (bytes % u.factor == 0) return std::to_string(bytes / u.factor) + std::string(u.name);
    }
  }
  return std::to_string(bytes) + "B";
}

std::string FormatRate(uint64_t bytes_per_second) {
  return bytes_per_second == 0 ? "0" : FormatSize(bytes_per_second) + "/s";
}

}  // namespace edge::config
