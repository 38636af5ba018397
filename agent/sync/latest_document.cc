#include "agent/sync/latest_document.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/time_format.h"

namespace edge::agent {
namespace {

using json = nlohmann::json;

Status Bad(std::string_view url, std::string_view what) {
  return Status::InvalidArgument(fmt::format("{}: {}", url, what));
}

// The fields of a signed document: serial, expires, pin.
Status ReadSignedFields(const json& doc, std::string_view url, LatestDocument& out) {
  if (!doc.contains("serial") || !doc["serial"].is_number_unsigned() ||
      doc["serial"].get<uint64_t>() < 1 || doc["serial"].get<uint64_t>() > kMaxLatestSerial) {
    return Bad(url, fmt::format("\"serial\" must be an integer 1..{}", kMaxLatestSerial));
  }
  out.serial = doc["serial"].get<uint64_t>();
  if (!doc.contains("expires") || !doc["expires"].is_string()) {
    return Bad(url, "\"expires\" (an RFC 3339 time) is missing");
  }
  StatusOr<Timestamp> expires = ParseRfc3339(doc["expires"].get<std::string>());
  if (!expires.ok()) return Bad(url, "\"expires\": " + expires.status().message());
  out.expires = *expires;
  if (doc.contains("pin")) {
    if (!doc["pin"].is_boolean()) return Bad(url, "\"pin\" must be true or false");
    out.pin = doc["pin"].get<bool>();
  }
  return Status::Ok();
}

}  // namespace

StatusOr<LatestDocument> ReadLatestDocument(std::string_view body,
                                            const std::optional<std::string>& signature,
                                            std::span<const inference::VerifyingKey> keys,
                                            bool allow_unsigned, std::string_view url) {
  LatestDocument out;
  if (signature) {
    EDGE_RETURN_IF_ERROR(inference::VerifyWithAnyKey(keys, body, *signature, url));
    out.is_signed = true;
  } else if (!allow_unsigned) {
    return Bad(url,
               "not signed (no latest.json.sig); publish it with `edge-agent model publish --key`, "
               "or set models.repository.allow_unsigned_latest for an old repository");
  }
  const json doc = json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("version") || !doc["version"].is_string()) {
    return Bad(url, "not {\"version\": \"MAJOR.MINOR.PATCH\", ...}");
  }
  StatusOr<inference::ModelVersion> version =
      inference::ParseModelVersion(doc["version"].get<std::string>());
  // Not quoted: the text came from the repository (unsigned, when allowed).
  if (!version.ok()) return Bad(url, "\"version\" is not MAJOR.MINOR.PATCH (e.g. 1.4.0)");
  out.version = *version;
  if (out.is_signed) {
    EDGE_RETURN_IF_ERROR(ReadSignedFields(doc, url, out));
  } else if (doc.contains("pin")) {
    return Bad(url, "\"pin\" needs a signed latest.json (latest.json.sig)");
  }
  return out;
}

std::string FormatLatestDocument(const LatestDocument& doc) {
  nlohmann::ordered_json out = {{"version", doc.version.ToString()}, {"serial", doc.serial}};
  if (doc.expires) {
    out["expires"] = FormatRfc3339Millis(*doc.expires);
  }
  if (doc.pin) out["pin"] = true;
  return out.dump() + "\n";
}

}  // namespace edge::agent
