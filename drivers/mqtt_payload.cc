#include "drivers/mqtt_payload.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/time_format.h"

namespace edge::drivers {
namespace {

using Json = nlohmann::json;

constexpr double kSecondsMillisBoundary = 1e11;
// 9999-12-31T23:59:59Z in seconds since the epoch.
constexpr double kMaxEpochSeconds = 253402300799.0;

bool IsJsonPointerValid(const std::string& p) {
  if (p.empty()) return true;
  try {
    Json::json_pointer ptr(p);
    (void)ptr;
    return true;
  } catch (const Json::exception&) {
    return false;
  }
}

std::string_view TrimSpace(std::string_view s) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

void Fail(DecodedPayload& out, PayloadError e, std::string detail) {
  out.error = e;
  out.detail = std::move(detail);
}

std::string_view TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::string:
      return "a string";
    case Json::value_t::null:
      return "null";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "a non-number";
  }
}

std::string FieldName(const std::string& pointer) {
  return pointer.empty() ? std::string("the payload") : "field " + pointer;
}

}  // namespace

std::string_view PayloadErrorName(PayloadError e) {
  switch (e) {
    case PayloadError::kNone:
      return "none";
    case PayloadError::kTooLarge:
      return "too_large";
    case PayloadError::kNotANumber:
      return "not_a_number";
    case PayloadError::kNotJson:
      return "not_json";
    case PayloadError::kMissingField:
      return "missing_field";
    case PayloadError::kWrongType:
      return "wrong_type";
    case PayloadError::kNotFinite:
      return "not_finite";
    case PayloadError::kBadTimestamp:
      return "bad_timestamp";
  }
  return "unknown";
}

std::optional<Timestamp> EpochNumberToTimestamp(double v) {
  if (!std::isfinite(v) || v < 0) return std::nullopt;
  const double seconds = v < kSecondsMillisBoundary ? v : v / 1000.0;
  if (seconds > kMaxEpochSeconds) return std::nullopt;
  const double micros = std::round(seconds * 1e6);
  return Timestamp(std::chrono::microseconds(static_cast<int64_t>(micros)));
}

// Parsed once in Create: building a json_pointer parses and allocates, too slow per message.
struct MqttPayloadDecoder::Pointers {
  std::vector<Json::json_pointer> fields;
  Json::json_pointer timestamp;
};

MqttPayloadDecoder::MqttPayloadDecoder(PayloadSpec spec) : spec_(std::move(spec)) {
  json_ = !spec_.timestamp_field.empty();
  for (const std::string& f : spec_.fields) json_ = json_ || !f.empty();
  auto pointers = std::make_shared<Pointers>();
  for (const std::string& f : spec_.fields) pointers->fields.emplace_back(f);  // validated
  pointers->timestamp = Json::json_pointer(spec_.timestamp_field);
  pointers_ = std::move(pointers);
}

StatusOr<MqttPayloadDecoder> MqttPayloadDecoder::Create(PayloadSpec spec) {
  if (spec.fields.empty()) return Status::InvalidArgument("an MQTT source needs at least one tag");
  for (const std::string& f : spec.fields) {
    if (!IsJsonPointerValid(f)) return Status::InvalidArgument("'" + f + "' is not a JSON pointer");
  }
  if (!IsJsonPointerValid(spec.timestamp_field)) {
    return Status::InvalidArgument("'" + spec.timestamp_field + "' is not a JSON pointer");
  }
  return MqttPayloadDecoder(std::move(spec));
}

void MqttPayloadDecoder::Decode(std::string_view payload, DecodedPayload& out) const {
  out.error = PayloadError::kNone;
  out.detail.clear();
  out.values.clear();
  out.ts.reset();
  if (payload.size() > spec_.max_payload_bytes) {
    return Fail(out, PayloadError::kTooLarge,
                std::to_string(payload.size()) + " bytes, limit " +
                    std::to_string(spec_.max_payload_bytes));
  }

  if (!json_) {
    const std::string_view text = TrimSpace(payload);
    double v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ptr != text.data() + text.size() ||
        (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      return Fail(out, PayloadError::kNotANumber, "the payload is not a number");
    }
    if (ec == std::errc::result_out_of_range || !std::isfinite(v)) {
      return Fail(out, PayloadError::kNotFinite, "the payload is not a finite number");
    }
    out.values.assign(spec_.fields.size(), v);
    return;
  }

  // Parse without exceptions: discarded documents come back as value_t::discarded.
  const Json doc = Json::parse(payload.begin(), payload.end(), nullptr,
                               /*allow_exceptions=*/false, /*ignore_comments=*/false);
  if (doc.is_discarded()) return Fail(out, PayloadError::kNotJson, "the payload is not JSON");

  // Looks up a pointer; nullptr when it names nothing. contains() does not throw on missing
  // paths; at() may still throw on odd array indices ("/01"), which count as missing.
  const auto lookup = [&doc](const Json::json_pointer& ptr) -> const Json* {
    if (ptr.empty()) return &doc;
    try {
      if (!doc.contains(ptr)) return nullptr;
      return &doc.at(ptr);
    } catch (const Json::exception&) {
      return nullptr;
    }
  };

  for (size_t i = 0; i < spec_.fields.size(); ++i) {
    const std::string& field = spec_.fields[i];
    const Json* v = lookup(pointers_->fields[i]);
    if (v == nullptr)
      return Fail(out, PayloadError::kMissingField, FieldName(field) + " is missing");
    double number;
    if (v->is_number()) {
      number = v->get<double>();
    } else if (v->is_boolean()) {
      number = v->get<bool>() ? 1.0 : 0.0;
    } else {
      return Fail(out, PayloadError::kWrongType,
                  FieldName(field) + ": " + std::string(TypeName(*v)) + " where a number is due");
    }
    if (!std::isfinite(number)) {
      return Fail(out, PayloadError::kNotFinite, FieldName(field) + " is not a finite number");
    }
    out.values.push_back(number);
  }

  if (!spec_.timestamp_field.empty()) {
    const Json* t = lookup(pointers_->timestamp);
    const auto name = [this] { return "timestamp " + spec_.timestamp_field; };
    if (t == nullptr) return Fail(out, PayloadError::kBadTimestamp, name() + " is missing");
    if (t->is_number()) {
      out.ts = EpochNumberToTimestamp(t->get<double>());
      if (!out.ts) {
        return Fail(out, PayloadError::kBadTimestamp,
                    name() + ": not epoch seconds or milliseconds between 1970 and 9999");
      }
    } else if (t->is_string()) {
      StatusOr<Timestamp> ts = ParseRfc3339(t->get_ref<const std::string&>());
      if (!ts.ok() || ts->time_since_epoch().count() < 0) {
        return Fail(out, PayloadError::kBadTimestamp, name() + ": not an RFC 3339 date-time");
      }
      out.ts = *ts;
    } else {
      return Fail(out, PayloadError::kBadTimestamp,
                  name() + ": " + std::string(TypeName(*t)) + " where a time is due");
    }
  }
}

}  // namespace edge::drivers
