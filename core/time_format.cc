#include "core/time_format.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <iterator>

namespace edge {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// A cursor over the text being parsed; every Read* either consumes exactly what it names or
// fails without consuming.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }
  char peek() const { return done() ? '\0' : text_[pos_]; }
  void Skip() { ++pos_; }

  // Exactly `n` decimal digits.
  bool ReadFixedDigits(int n, int* out) {
    if (text_.size() - pos_ < static_cast<size_t>(n)) return false;
    int v = 0;
    for (int i = 0; i < n; ++i) {
      char c = text_[pos_ + static_cast<size_t>(i)];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos_ += static_cast<size_t>(n);
    *out = v;
    return true;
  }

  bool ReadChar(char c) {
    if (done() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  // One or more digits of a fraction of a second, as microseconds (truncated past the sixth).
  bool ReadFraction(int64_t* micros) {
    int64_t v = 0;
    int n = 0;
    while (!done() && peek() >= '0' && peek() <= '9') {
      if (n < 6) v = v * 10 + (peek() - '0');
      ++n;
      Skip();
    }
    if (n == 0) return false;
    for (int i = n; i < 6; ++i) v *= 10;
    *micros = v;
    return true;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

Status Invalid(std::string_view text, std::string_view why) {
  return Status::InvalidArgument(
      fmt::format("invalid RFC 3339 timestamp '{}': {} (expected e.g. 2026-11-23T10:00:00.123Z or "
                  "2026-11-23T11:00:00+01:00)",
                  text, why));
}

}  // namespace

void AppendRfc3339Millis(Timestamp ts, std::string& out) {
  const auto ms = std::chrono::floor<milliseconds>(ts);
  const auto day = std::chrono::floor<days>(ms);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<milliseconds> hms{ms - day};
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                 static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                 static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                 hms.seconds().count(), hms.subseconds().count());
}

std::string FormatRfc3339Millis(Timestamp ts) {
  std::string out;
  out.reserve(24);
  AppendRfc3339Millis(ts, out);
  return out;
}

StatusOr<Timestamp> ParseRfc3339(std::string_view text) {
  Cursor c(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!c.ReadFixedDigits(4, &year) || !c.ReadChar('-') || !c.ReadFixedDigits(2, &month) ||
      !c.ReadChar('-') || !c.ReadFixedDigits(2, &day)) {
    return Invalid(text, "the date is not YYYY-MM-DD");
  }
  if (c.peek() == 'T' || c.peek() == 't' || c.peek() == ' ') {
    c.Skip();
  } else {
    return Invalid(text, "no 'T' between date and time");
  }
  if (!c.ReadFixedDigits(2, &hour) || !c.ReadChar(':') || !c.ReadFixedDigits(2, &minute) ||
      !c.ReadChar(':') || !c.ReadFixedDigits(2, &second)) {
    return Invalid(text, "the time is not HH:MM:SS");
  }
  int64_t micros = 0;
  if (c.ReadChar('.') && !c.ReadFraction(&micros)) {
    return Invalid(text, "no digits after the decimal point");
  }

  int offset_minutes = 0;
  if (c.peek() == 'Z' || c.peek() == 'z') {
    c.Skip();
  } else if (c.peek() == '+' || c.peek() == '-') {
    const int sign = c.peek() == '-' ? -1 : 1;
    c.Skip();
    int oh = 0, om = 0;
    if (!c.ReadFixedDigits(2, &oh) || !c.ReadChar(':') || !c.ReadFixedDigits(2, &om)) {
      return Invalid(text, "the UTC offset is not +hh:mm or -hh:mm");
    }
    if (oh > 23 || om > 59) return Invalid(text, "UTC offset out of range");
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return Invalid(text, "no time zone ('Z' or +hh:mm)");
  }
  if (!c.done()) return Invalid(text, "unexpected characters after the time zone");

  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return Invalid(text, "no such date");
  if (hour > 23 || minute > 59 || second > 60) return Invalid(text, "time of day out of range");
  if (second == 60) {  // leap second: the last representable instant of the minute
    second = 59;
    micros = 999'999;
  }

  return Timestamp{std::chrono::sys_days{ymd}} + hours{hour} + minutes{minute} + seconds{second} +
         microseconds{micros} - minutes{offset_minutes};
}

}  // namespace edge
