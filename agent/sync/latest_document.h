// latest.json (DESIGN §7): which version of a repository model is current, signed after the idea
// of TUF's timestamp role, so that a stale or hostile mirror cannot hold a gateway on an old
// version without being noticed:
//
//   <url>/<model>/latest.json      {"version":"1.4.0","serial":17,"expires":"2027-01-06T10:00:00Z"}
//   <url>/<model>/latest.json.sig  base64 of the Ed25519 signature of latest.json's exact bytes,
//                                  with the keys and format of manifest.json.sig
//
// - `expires` (RFC 3339): after it the document is not acted on, and the gateway reports that it
//   cannot confirm its model is current (the running model keeps running).
// - `serial` (1..2^53): raised by every `model publish`; one lower than a serial already acted on
//   is a replayed or stale copy and is refused the same way.
// - `"pin": true` is the signed way back from a bad version (also from the highest possible
//   version, above which nothing could otherwise be installed): the gateway installs `version`
//   even if it is lower than the highest installed, and that version becomes the new floor of
//   the anti-downgrade rule. A pin is obeyed once per serial, so an old pin cannot be replayed.
//
// An unsigned latest.json (no latest.json.sig, the format of earlier repositories: only
// "version") is read only when the configuration allows it (models.repository.
// allow_unsigned_latest); it cannot pin.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/sample.h"
#include "core/status.h"
#include "inference/model_version.h"
#include "inference/package_signature.h"

namespace edge::agent {

inline constexpr char kLatestFile[] = "latest.json";
inline constexpr char kLatestSignatureFile[] = "latest.json.sig";
// The largest serial: exact in every JSON implementation (a double's 53-bit mantissa).
inline constexpr uint64_t kMaxLatestSerial = uint64_t{1} << 53;

struct LatestDocument {
  inference::ModelVersion version;
  bool is_signed = false;
  std::optional<Timestamp> expires;  // set when signed
  uint64_t serial = 0;               // >= 1 when signed
  bool pin = false;
};

// `body` is latest.json's bytes, `signature` latest.json.sig's (nullopt: the repository has
// none). The signature is checked with `keys` before anything of `body` is parsed.
// InvalidArgument naming `url` and the fault otherwise: unsigned (and not allowed), a signature
// that does not verify, a field missing or malformed. Expiry and serial are the caller's to
// judge against its clock and its records.
[[nodiscard]] StatusOr<LatestDocument> ReadLatestDocument(
    std::string_view body, const std::optional<std::string>& signature,
    std::span<const inference::VerifyingKey> keys, bool allow_unsigned, std::string_view url);

// The text of a signed latest.json, as ReadLatestDocument reads it (`model publish`).
std::string FormatLatestDocument(const LatestDocument& doc);

}  // namespace edge::agent
