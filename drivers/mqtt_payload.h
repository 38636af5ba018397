// MqttPayloadDecoder: turns one MQTT message payload into the numbers of an MQTT source's tags
// and, optionally, the reading's time. A pure unit (no I/O, no clock), so that it can be unit
// tested exhaustively and fuzzed (tests/fuzz/mqtt_payload_fuzzer.cc).
//
// Payload forms:
//  - plain number: when no tag has a `field` and there is no `timestamp_field`, the payload is
//    the text of one number ("12.7", " -3e2\n"; surrounding whitespace allowed). Every tag of
//    the source gets that number.
//  - JSON: otherwise the payload is a JSON document; each tag takes the value its JSON pointer
//    (RFC 6901) names; a tag without a field takes the whole document, which must then be a
//    number. A number, or true/false (1/0), is a value; anything else (a string, null, an
//    object) is a wrong-type error.
//
// Timestamp (timestamp_field, JSON only):
//  - a JSON number is epoch time, in seconds or milliseconds told apart by magnitude: below
//    1e11 it is seconds (fraction allowed: 1732096800.123), from 1e11 on it is milliseconds
//    (1732096800123). 1e11 seconds is the year 5138 and 1e11 milliseconds is 1973-03-03, so no
//    reading of this century is ambiguous. Fractions of milliseconds are kept down to the
//    microsecond.
//  - a JSON string is an RFC 3339 date-time ("2026-11-23T10:00:00.123Z", any offset).
//  - accepted range: 1970-01-01 up to 9999-12-31; anything else (negative, NaN-like huge
//    numbers, other types) is a bad-timestamp error.
//
// Malformed input is never an exception or a crash: Decode returns an error kind, the JSON
// pointer concerned and a short description; the caller drops that message and counts it.
// Payloads above max_payload_bytes are refused before parsing.
//
// Thread-safety: Decode is const and keeps no state; one decoder may serve several threads.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/sample.h"
#include "core/status.h"

namespace edge::drivers {

enum class PayloadError {
  kNone,
  kTooLarge,      // over max_payload_bytes
  kNotANumber,    // plain-number form: not the text of a number
  kNotJson,       // JSON form: not a JSON document
  kMissingField,  // a tag's JSON pointer names nothing in the document
  kWrongType,     // a string, null, array or object where a number is due
  kNotFinite,     // NaN, inf, or a number too large for a double
  kBadTimestamp,  // timestamp missing, of the wrong type, out of range, or bad RFC 3339
};
inline constexpr int kPayloadErrorKinds = 8;

// "too_large", "not_a_number", ... : stable names for logs and metrics labels.
std::string_view PayloadErrorName(PayloadError e);

struct PayloadSpec {
  std::vector<std::string> fields;  // per tag: a JSON pointer, or "" (plain / whole document)
  std::string timestamp_field;      // JSON pointer, or "": none
  size_t max_payload_bytes = 64 * 1024;
};

struct DecodedPayload {
  std::vector<double> values;   // one per tag, in the order of PayloadSpec::fields
  std::optional<Timestamp> ts;  // set when timestamp_field is
  PayloadError error = PayloadError::kNone;
  std::string detail;  // for a log line: "field /rms: string where a number is due"
};

class MqttPayloadDecoder {
 public:
  // InvalidArgument naming the pointer if a field or timestamp_field is not a valid JSON
  // pointer (the loader rejects those already), or if fields is empty.
  [[nodiscard]] static StatusOr<MqttPayloadDecoder> Create(PayloadSpec spec);

  // Decodes `payload` into `out` (its vectors are reused: no allocation once they have room,
  // except what the JSON parser allocates). Returns out.error == kNone on success; on failure
  // out.values is unspecified.
  void Decode(std::string_view payload, DecodedPayload& out) const;

  bool json() const { return json_; }
  size_t tag_count() const { return spec_.fields.size(); }

 private:
  struct Pointers;  // the compiled JSON pointers (nlohmann types stay in the .cc)
  explicit MqttPayloadDecoder(PayloadSpec spec);

  PayloadSpec spec_;
  bool json_ = false;
  std::shared_ptr<const Pointers> pointers_;  // immutable; shared by copies
};

// The epoch-number rule above, exposed for tests: seconds below 1e11, else milliseconds.
// nullopt when out of range or not finite.
std::optional<Timestamp> EpochNumberToTimestamp(double v);

}  // namespace edge::drivers
