// libFuzzer target for the MQTT payload decoder (drivers/mqtt_payload.h): every input is fed to
// a plain-number decoder and to JSON decoders with nested pointers, array indices, escaped
// pointer tokens and a timestamp field. The decoder must never crash, leak, or report success
// with a non-finite value or without one value per tag.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "drivers/mqtt_payload.h"

namespace {

using edge::drivers::DecodedPayload;
using edge::drivers::MqttPayloadDecoder;
using edge::drivers::PayloadError;
using edge::drivers::PayloadSpec;

MqttPayloadDecoder Make(std::vector<std::string> fields, std::string ts) {
  PayloadSpec spec;
  spec.fields = std::move(fields);
  spec.timestamp_field = std::move(ts);
  spec.max_payload_bytes = 4096;
  auto d = MqttPayloadDecoder::Create(std::move(spec));
  if (!d.ok()) std::abort();
  return std::move(d).value();
}

const MqttPayloadDecoder& Plain() {
  static const MqttPayloadDecoder d = Make({""}, "");
  return d;
}
const MqttPayloadDecoder& Fields() {
  static const MqttPayloadDecoder d = Make({"/rms", "/temp/value", "/axes/1", "/a~1b"}, "/ts");
  return d;
}
const MqttPayloadDecoder& Whole() {
  static const MqttPayloadDecoder d = Make({"", "/0"}, "/1");
  return d;
}

void Check(const MqttPayloadDecoder& d, std::string_view input) {
  DecodedPayload out;
  d.Decode(input, out);
  if (out.error != PayloadError::kNone) {
    if (out.detail.empty()) std::abort();
    return;
  }
  if (out.values.size() != d.tag_count()) std::abort();
  for (double v : out.values) {
    if (!std::isfinite(v)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Check(Plain(), input);
  Check(Fields(), input);
  Check(Whole(), input);
  return 0;
}
