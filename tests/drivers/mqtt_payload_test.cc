// The payload decoder: every payload form, every timestamp form, every malformed kind.
#include "drivers/mqtt_payload.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/time_format.h"

namespace edge::drivers {
namespace {

MqttPayloadDecoder Make(std::vector<std::string> fields, std::string ts = "",
                        size_t max_bytes = 64 * 1024) {
  PayloadSpec spec;
  spec.fields = std::move(fields);
  spec.timestamp_field = std::move(ts);
  spec.max_payload_bytes = max_bytes;
  StatusOr<MqttPayloadDecoder> d = MqttPayloadDecoder::Create(std::move(spec));
  EDGE_CHECK(d.ok());
  return std::move(d).value();
}

DecodedPayload Decode(const MqttPayloadDecoder& d, std::string_view payload) {
  DecodedPayload out;
  d.Decode(payload, out);
  return out;
}

Timestamp At(const char* rfc3339) { return ParseRfc3339(rfc3339).value(); }

TEST(MqttPayloadDecoder, PlainNumber) {
  const MqttPayloadDecoder d = Make({""});
  EXPECT_FALSE(d.json());
  DecodedPayload out = Decode(d, " 12.75\n");
  ASSERT_EQ(out.error, PayloadError::kNone) << out.detail;
  EXPECT_EQ(out.values, std::vector<double>{12.75});
  EXPECT_FALSE(out.ts.has_value());
  EXPECT_EQ(Decode(d, "-3e2").values, std::vector<double>{-300});
}

TEST(MqttPayloadDecoder, PlainNumberFaults) {
  const MqttPayloadDecoder d = Make({""});
  EXPECT_EQ(Decode(d, "").error, PayloadError::kNotANumber);
  EXPECT_EQ(Decode(d, "12.7 V").error, PayloadError::kNotANumber);
  EXPECT_EQ(Decode(d, "{\"v\":1}").error, PayloadError::kNotANumber);
  EXPECT_EQ(Decode(d, "nan").error, PayloadError::kNotFinite);
  EXPECT_EQ(Decode(d, "-inf").error, PayloadError::kNotFinite);
  EXPECT_EQ(Decode(d, "1e999").error, PayloadError::kNotFinite);
}

TEST(MqttPayloadDecoder, JsonFieldsByPointer) {
  const MqttPayloadDecoder d = Make({"/rms", "/temp/value", "/axes/1", "/on"});
  EXPECT_TRUE(d.json());
  DecodedPayload out =
      Decode(d, R"({"rms": 0.21, "temp": {"value": 41}, "axes": [1.5, -2.5], "on": true})");
  ASSERT_EQ(out.error, PayloadError::kNone) << out.detail;
  EXPECT_EQ(out.values, (std::vector<double>{0.21, 41, -2.5, 1}));
}

TEST(MqttPayloadDecoder, TagWithoutFieldInJsonTakesTheWholeDocument) {
  const MqttPayloadDecoder d = Make({""}, "");  // plain
  const MqttPayloadDecoder j = Make({"", "/x"});
  DecodedPayload out = Decode(j, R"({"x": 1})");
  EXPECT_EQ(out.error, PayloadError::kWrongType);
  EXPECT_EQ(Decode(d, "7").values, std::vector<double>{7});
}

TEST(MqttPayloadDecoder, MalformedJsonKinds) {
  const MqttPayloadDecoder d = Make({"/rms", "/peak"});
  DecodedPayload out = Decode(d, "{\"rms\": 1,");
  EXPECT_EQ(out.error, PayloadError::kNotJson);
  out = Decode(d, R"({"rms": 1})");
  EXPECT_EQ(out.error, PayloadError::kMissingField);
  EXPECT_NE(out.detail.find("/peak"), std::string::npos) << out.detail;
  out = Decode(d, R"({"rms": "1.0", "peak": 2})");
  EXPECT_EQ(out.error, PayloadError::kWrongType);
  EXPECT_NE(out.detail.find("a string where a number is due"), std::string::npos) << out.detail;
  EXPECT_EQ(Decode(d, R"({"rms": null, "peak": 2})").error, PayloadError::kWrongType);
  EXPECT_EQ(Decode(d, R"({"rms": {}, "peak": 2})").error, PayloadError::kWrongType);
  // nlohmann_json refuses a number out of double range as a parse error.
  EXPECT_EQ(Decode(d, R"({"rms": 1e400, "peak": 2})").error, PayloadError::kNotJson);
  EXPECT_EQ(Decode(d, R"({"rms": NaN, "peak": 2})").error, PayloadError::kNotJson);
  EXPECT_EQ(Decode(d, R"([1, 2])").error, PayloadError::kMissingField);
}

TEST(MqttPayloadDecoder, HugePayloadRefusedBeforeParsing) {
  const MqttPayloadDecoder d = Make({"/v"}, "", 1024);
  std::string big = R"({"v": 1, "pad": ")" + std::string(2000, 'x') + "\"}";
  DecodedPayload out = Decode(d, big);
  EXPECT_EQ(out.error, PayloadError::kTooLarge);
  EXPECT_EQ(Decode(d, R"({"v": 1})").error, PayloadError::kNone);
}

TEST(MqttPayloadDecoder, TimestampEpochMilliseconds) {
  const MqttPayloadDecoder d = Make({"/v"}, "/ts");
  DecodedPayload out = Decode(d, R"({"ts": 1732096800123, "v": 1})");
  ASSERT_EQ(out.error, PayloadError::kNone) << out.detail;
  ASSERT_TRUE(out.ts.has_value());
  EXPECT_EQ(*out.ts, At("2024-11-20T10:00:00.123Z"));
}

TEST(MqttPayloadDecoder, TimestampEpochSecondsWithFraction) {
  const MqttPayloadDecoder d = Make({"/v"}, "/ts");
  DecodedPayload out = Decode(d, R"({"ts": 1732096800.25, "v": 1})");
  ASSERT_EQ(out.error, PayloadError::kNone) << out.detail;
  EXPECT_EQ(*out.ts, At("2024-11-20T10:00:00.250Z"));
  out = Decode(d, R"({"ts": 1732096800, "v": 1})");
  EXPECT_EQ(*out.ts, At("2024-11-20T10:00:00Z"));
}

TEST(MqttPayloadDecoder, SecondsAndMillisecondsToldApartAtOneHundredBillion) {
  // Just below 1e11: seconds (year 5138). From 1e11 on: milliseconds (1973-03-03).
  EXPECT_EQ(*EpochNumberToTimestamp(99999999999.0), Timestamp(std::chrono::seconds(99999999999LL)));
  EXPECT_EQ(*EpochNumberToTimestamp(1e11), Timestamp(std::chrono::milliseconds(100000000000LL)));
  EXPECT_FALSE(EpochNumberToTimestamp(-1).has_value());
  EXPECT_FALSE(EpochNumberToTimestamp(1e20).has_value());  // past year 9999 in ms
}

TEST(MqttPayloadDecoder, TimestampRfc3339) {
  const MqttPayloadDecoder d = Make({"/v"}, "/time");
  DecodedPayload out = Decode(d, R"({"time": "2026-11-23T11:00:00.5+01:00", "v": 2})");
  ASSERT_EQ(out.error, PayloadError::kNone) << out.detail;
  EXPECT_EQ(*out.ts, At("2026-11-23T10:00:00.500Z"));
}

TEST(MqttPayloadDecoder, BadTimestamps) {
  const MqttPayloadDecoder d = Make({"/v"}, "/ts");
  EXPECT_EQ(Decode(d, R"({"v": 1})").error, PayloadError::kBadTimestamp);
  EXPECT_EQ(Decode(d, R"({"ts": "yesterday", "v": 1})").error, PayloadError::kBadTimestamp);
  EXPECT_EQ(Decode(d, R"({"ts": -5, "v": 1})").error, PayloadError::kBadTimestamp);
  EXPECT_EQ(Decode(d, R"({"ts": true, "v": 1})").error, PayloadError::kBadTimestamp);
  EXPECT_EQ(Decode(d, R"({"ts": 1e300, "v": 1})").error, PayloadError::kBadTimestamp);
}

TEST(MqttPayloadDecoder, DecoderIsReusableAfterAnError) {
  const MqttPayloadDecoder d = Make({"/v"});
  DecodedPayload out;
  d.Decode("garbage", out);
  EXPECT_EQ(out.error, PayloadError::kNotJson);
  d.Decode(R"({"v": 3})", out);
  EXPECT_EQ(out.error, PayloadError::kNone);
  EXPECT_TRUE(out.detail.empty());
  EXPECT_EQ(out.values, std::vector<double>{3});
}

TEST(MqttPayloadDecoder, CreateRejectsBadPointers) {
  PayloadSpec spec;
  spec.fields = {"rms"};  // no leading '/'
  EXPECT_FALSE(MqttPayloadDecoder::Create(spec).ok());
  spec.fields = {};
  EXPECT_FALSE(MqttPayloadDecoder::Create(spec).ok());
  spec.fields = {"/a~2"};
  EXPECT_FALSE(MqttPayloadDecoder::Create(spec).ok());
}

}  // namespace
}  // namespace edge::drivers
