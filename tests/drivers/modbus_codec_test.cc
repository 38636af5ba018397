#include "drivers/modbus_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace edge::drivers {
namespace {

using config::ModbusTable;
using config::ModbusTag;
using config::ModbusType;
using config::WordOrder;

constexpr WordOrder kAllOrders[] = {WordOrder::kABCD, WordOrder::kCDAB, WordOrder::kBADC,
                                    WordOrder::kDCBA};

ModbusTag Tag(ModbusType type, WordOrder order = WordOrder::kABCD) {
  ModbusTag tag;
  tag.name = "t";
  tag.table = ModbusTable::kHoldingRegister;
  tag.type = type;
  tag.word_order = order;
  return tag;
}

Reading Decode(ModbusType type, WordOrder order, std::vector<uint16_t> regs) {
  return DecodeRegisters(Tag(type, order), regs);
}

TEST(ModbusCodec, Float32InAllFourWordOrders) {
  // 123.456f = 0x42F6E979.
  const float expected = 123.456f;
  EXPECT_EQ(Decode(ModbusType::kFloat32, WordOrder::kABCD, {0x42F6, 0xE979}).value, expected);
  EXPECT_EQ(Decode(ModbusType::kFloat32, WordOrder::kCDAB, {0xE979, 0x42F6}).value, expected);
  EXPECT_EQ(Decode(ModbusType::kFloat32, WordOrder::kBADC, {0xF642, 0x79E9}).value, expected);
  EXPECT_EQ(Decode(ModbusType::kFloat32, WordOrder::kDCBA, {0x79E9, 0xF642}).value, expected);
  EXPECT_EQ(Decode(ModbusType::kFloat32, WordOrder::kABCD, {0x42F6, 0xE979}).quality,
            Quality::kGood);
}

TEST(ModbusCodec, Float64WordOrdersReverseAllFourWords) {
  // 123.456 = 0x405EDD2F1A9FBE77.
  EXPECT_EQ(Decode(ModbusType::kFloat64, WordOrder::kABCD, {0x405E, 0xDD2F, 0x1A9F, 0xBE77}).value,
            123.456);
  EXPECT_EQ(Decode(ModbusType::kFloat64, WordOrder::kCDAB, {0xBE77, 0x1A9F, 0xDD2F, 0x405E}).value,
            123.456);
  EXPECT_EQ(Decode(ModbusType::kFloat64, WordOrder::kBADC, {0x5E40, 0x2FDD, 0x9F1A, 0x77BE}).value,
            123.456);
  EXPECT_EQ(Decode(ModbusType::kFloat64, WordOrder::kDCBA, {0x77BE, 0x9F1A, 0x2FDD, 0x5E40}).value,
            123.456);
}

TEST(ModbusCodec, SignedIntegers) {
  EXPECT_EQ(Decode(ModbusType::kInt16, WordOrder::kABCD, {0xFFFE}).value, -2);
  EXPECT_EQ(Decode(ModbusType::kInt16, WordOrder::kBADC, {0xFEFF}).value, -2);
  EXPECT_EQ(Decode(ModbusType::kInt32, WordOrder::kABCD, {0xFFFF, 0xFFFE}).value, -2);
  EXPECT_EQ(Decode(ModbusType::kInt32, WordOrder::kCDAB, {0xFFFE, 0xFFFF}).value, -2);
  EXPECT_EQ(Decode(ModbusType::kInt32, WordOrder::kDCBA, {0xFEFF, 0xFFFF}).value, -2);
  EXPECT_EQ(Decode(ModbusType::kInt64, WordOrder::kABCD, {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE}).value,
            -2);
  EXPECT_EQ(Decode(ModbusType::kInt64, WordOrder::kABCD, {0x8000, 0, 0, 0}).value,
            static_cast<double>(std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(Decode(ModbusType::kInt16, WordOrder::kABCD, {0x8000}).value, -32768);
}

TEST(ModbusCodec, UnsignedIntegers) {
  EXPECT_EQ(Decode(ModbusType::kUInt16, WordOrder::kABCD, {0xFFFE}).value, 65534);
  EXPECT_EQ(Decode(ModbusType::kUInt16, WordOrder::kDCBA, {0x3412}).value, 0x1234);
  EXPECT_EQ(Decode(ModbusType::kUInt32, WordOrder::kABCD, {0x1234, 0x5678}).value, 0x12345678);
  EXPECT_EQ(Decode(ModbusType::kUInt32, WordOrder::kCDAB, {0x5678, 0x1234}).value, 0x12345678);
  EXPECT_EQ(Decode(ModbusType::kUInt32, WordOrder::kBADC, {0x3412, 0x7856}).value, 0x12345678);
  EXPECT_EQ(Decode(ModbusType::kUInt32, WordOrder::kDCBA, {0x7856, 0x3412}).value, 0x12345678);
  EXPECT_EQ(Decode(ModbusType::kUInt64, WordOrder::kABCD, {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}).value,
            static_cast<double>(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(Decode(ModbusType::kUInt64, WordOrder::kCDAB, {0x0004, 0x0003, 0x0002, 0x0001}).value,
            static_cast<double>(0x0001000200030004ull));
  EXPECT_EQ(Decode(ModbusType::kUInt64, WordOrder::kDCBA, {0x0400, 0x0300, 0x0200, 0x0100}).value,
            static_cast<double>(0x0001000200030004ull));
}

TEST(ModbusCodec, GatherAndScatterAreInverseForEveryOrderAndWidth) {
  std::mt19937_64 rng(42);
  for (int iteration = 0; iteration < 1000; ++iteration) {
    for (const WordOrder order : kAllOrders) {
      for (size_t n = 1; n <= 4; ++n) {
        const uint64_t value = n == 4 ? rng() : rng() & ((1ull << (16 * n)) - 1);
        uint16_t regs[4] = {};
        ScatterWords(value, order, std::span(regs, n));
        EXPECT_EQ(GatherWords(std::span<const uint16_t>(regs, n), order), value);
      }
    }
  }
}

TEST(ModbusCodec, ScaleAndOffset) {
  ModbusTag tag = Tag(ModbusType::kInt16);
  tag.scale = 0.1;
  tag.offset = -40;
  const std::vector<uint16_t> regs = {650};
  EXPECT_DOUBLE_EQ(DecodeRegisters(tag, regs).value, 25.0);
}

TEST(ModbusCodec, BitOfARegister) {
  ModbusTag tag = Tag(ModbusType::kBool);
  const std::vector<uint16_t> regs = {0x8001};
  tag.bit = 0;
  EXPECT_EQ(DecodeRegisters(tag, regs).value, 1);
  tag.bit = 1;
  EXPECT_EQ(DecodeRegisters(tag, regs).value, 0);
  tag.bit = 15;
  EXPECT_EQ(DecodeRegisters(tag, regs).value, 1);
}

TEST(ModbusCodec, CoilBits) {
  ModbusTag tag = Tag(ModbusType::kBool);
  tag.table = ModbusTable::kCoil;
  EXPECT_EQ(DecodeBit(tag, true).value, 1);
  EXPECT_EQ(DecodeBit(tag, false).value, 0);
  EXPECT_EQ(DecodeBit(tag, true).quality, Quality::kGood);
  EXPECT_TRUE(EncodeBit(tag, 1.0));
  EXPECT_FALSE(EncodeBit(tag, 0.0));
}

TEST(ModbusCodec, NanAndInfFromAPlcAreBadQualityAndNan) {
  for (const std::vector<uint16_t>& regs :
       std::vector<std::vector<uint16_t>>{{0x7FC0, 0x0000},     // quiet NaN
                                          {0x7F80, 0x0001},     // signalling NaN
                                          {0x7F80, 0x0000},     // +Inf
                                          {0xFF80, 0x0000}}) {  // -Inf
    const Reading r = Decode(ModbusType::kFloat32, WordOrder::kABCD, regs);
    EXPECT_EQ(r.quality, Quality::kBad);
    EXPECT_TRUE(std::isnan(r.value));
  }
  const Reading r64 = Decode(ModbusType::kFloat64, WordOrder::kABCD, {0x7FF0, 0, 0, 0});
  EXPECT_EQ(r64.quality, Quality::kBad);
  EXPECT_TRUE(std::isnan(r64.value));
}

TEST(ModbusCodec, ScaleOverflowToInfIsBadQuality) {
  ModbusTag tag = Tag(ModbusType::kFloat64);
  tag.scale = 1e300;
  uint16_t regs[4];
  ScatterWords(std::bit_cast<uint64_t>(1e300), WordOrder::kABCD, regs);
  const Reading r = DecodeRegisters(tag, regs);
  EXPECT_EQ(r.quality, Quality::kBad);
  EXPECT_TRUE(std::isnan(r.value));
}

TEST(ModbusCodec, Strings) {
  std::string out;
  const std::vector<uint16_t> regs = {0x4142, 0x4320, 0x2020, 0x0000};  // "ABC   " + NUL
  DecodeString(regs, WordOrder::kABCD, out);
  EXPECT_EQ(out, "ABC");
  const std::vector<uint16_t> swapped = {0x4241, 0x0043};
  DecodeString(swapped, WordOrder::kBADC, out);
  EXPECT_EQ(out, "ABC");
  const std::vector<uint16_t> full = {0x6869, 0x2121};
  DecodeString(full, WordOrder::kABCD, out);
  EXPECT_EQ(out, "hi!!");
  const std::vector<uint16_t> empty = {0x0000, 0x4141};  // NUL ends the value
  DecodeString(empty, WordOrder::kABCD, out);
  EXPECT_EQ(out, "");
}

TEST(ModbusCodec, StringEncodeRoundTripsAndRejectsTooLong) {
  for (const WordOrder order : kAllOrders) {
    uint16_t regs[3];
    ASSERT_TRUE(EncodeString("pump-1", order, regs).ok());
    std::string out;
    DecodeString(regs, order, out);
    EXPECT_EQ(out, "pump-1");
    ASSERT_TRUE(EncodeString("ab", order, regs).ok());
    DecodeString(regs, order, out);
    EXPECT_EQ(out, "ab");
  }
  uint16_t regs[2];
  EXPECT_EQ(EncodeString("12345", WordOrder::kABCD, regs).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeString("\xC3\xA9", WordOrder::kABCD, regs).code(), StatusCode::kInvalidArgument);
}

TEST(ModbusCodec, EncodeMatchesKnownVectors) {
  uint16_t regs[4] = {};
  ASSERT_TRUE(EncodeRegisters(Tag(ModbusType::kFloat32, WordOrder::kCDAB), 123.456, regs).ok());
  EXPECT_EQ(regs[0], 0xE979);
  EXPECT_EQ(regs[1], 0x42F6);
  ASSERT_TRUE(EncodeRegisters(Tag(ModbusType::kInt32, WordOrder::kABCD), -2, regs).ok());
  EXPECT_EQ(regs[0], 0xFFFF);
  EXPECT_EQ(regs[1], 0xFFFE);
  ASSERT_TRUE(EncodeRegisters(Tag(ModbusType::kFloat64, WordOrder::kDCBA), 123.456, regs).ok());
  EXPECT_EQ(regs[0], 0x77BE);
  EXPECT_EQ(regs[3], 0x5E40);
}

TEST(ModbusCodec, EncodeDecodeRoundTripForEveryTypeAndOrder) {
  struct Case {
    ModbusType type;
    double value;
  };
  const Case cases[] = {
      {ModbusType::kInt16, -12345},
      {ModbusType::kUInt16, 30000},
      {ModbusType::kInt32, -2},
      {ModbusType::kUInt32, 2000000000.0},
      {ModbusType::kInt64, -1234567890123.0},
      {ModbusType::kUInt64, 9007199254740992.0},
      {ModbusType::kFloat32, -0.5},
      {ModbusType::kFloat64, 2.718281828459045},
  };
  for (const WordOrder order : kAllOrders) {
    for (const Case& c : cases) {
      ModbusTag tag = Tag(c.type, order);
      tag.scale = 0.5;
      tag.offset = 10;
      uint16_t regs[4] = {};
      ASSERT_TRUE(EncodeRegisters(tag, c.value, regs).ok()) << config::ModbusTypeName(c.type);
      const Reading r = DecodeRegisters(tag, regs);
      EXPECT_EQ(r.quality, Quality::kGood);
      EXPECT_DOUBLE_EQ(r.value, c.value)
          << config::ModbusTypeName(c.type) << " " << config::WordOrderName(order);
    }
  }
}

TEST(ModbusCodec, EncodeRejectsValuesThatDoNotFit) {
  uint16_t regs[4] = {};
  EXPECT_FALSE(EncodeRegisters(Tag(ModbusType::kInt16), 32768, regs).ok());
  EXPECT_FALSE(EncodeRegisters(Tag(ModbusType::kUInt16), -1, regs).ok());
  EXPECT_FALSE(EncodeRegisters(Tag(ModbusType::kUInt32), 4294967296.0, regs).ok());
  // (double)UINT64_MAX rounds up to 2^64, one past the largest uint64.
  EXPECT_FALSE(EncodeRegisters(Tag(ModbusType::kUInt64),
                               static_cast<double>(std::numeric_limits<uint64_t>::max()), regs)
                   .ok());
  EXPECT_FALSE(EncodeRegisters(Tag(ModbusType::kInt32), std::nan(""), regs).ok());
  EXPECT_TRUE(EncodeRegisters(Tag(ModbusType::kInt16), -32768, regs).ok());
  // NaN is representable in a float register, and reads back as bad quality.
  ASSERT_TRUE(EncodeRegisters(Tag(ModbusType::kFloat32), std::nan(""), regs).ok());
  EXPECT_EQ(DecodeRegisters(Tag(ModbusType::kFloat32), regs).quality, Quality::kBad);
}

TEST(ModbusCodec, EncodeBitChangesOnlyThatBit) {
  ModbusTag tag = Tag(ModbusType::kBool);
  tag.bit = 3;
  uint16_t reg = 0xF0F0;
  ASSERT_TRUE(EncodeRegisters(tag, 1, std::span(&reg, 1)).ok());
  EXPECT_EQ(reg, 0xF0F8);
  tag.bit = 4;
  ASSERT_TRUE(EncodeRegisters(tag, 0, std::span(&reg, 1)).ok());
  EXPECT_EQ(reg, 0xF0E8);
}

TEST(ModbusCodec, NamesRoundTrip) {
  for (const WordOrder order : kAllOrders)
    EXPECT_EQ(ParseWordOrder(config::WordOrderName(order)), order);
  EXPECT_EQ(ParseType("float64"), ModbusType::kFloat64);
  EXPECT_EQ(ParseTable("discrete"), ModbusTable::kDiscreteInput);
  EXPECT_EQ(ParseTable("holdings"), std::nullopt);
}

TEST(ModbusCodec, DecodesEachTagAtItsOffsetInARequestsAnswer) {
  // One holding-register request's answer: uint16 at 0, float32 123.456f at 1, a 2-register
  // string at 3, a bool on bit 3 at 5.
  const std::vector<uint16_t> answer = {0x0001, 0x42F6, 0xE979, 0x4142, 0x4300, 0x0008};
  EXPECT_EQ(DecodeTagInAnswer(Tag(ModbusType::kUInt16), 0, answer, {}).value, 1);
  EXPECT_EQ(DecodeTagInAnswer(Tag(ModbusType::kFloat32), 1, answer, {}).value, 123.456f);
  ModbusTag flag = Tag(ModbusType::kBool);
  flag.bit = 3;
  EXPECT_EQ(DecodeTagInAnswer(flag, 5, answer, {}).value, 1);
  ModbusTag text = Tag(ModbusType::kString);
  text.length = 2;
  std::string out;
  DecodeStringInAnswer(text, 3, answer, out);
  EXPECT_EQ(out, "ABC");

  // A coil request's answer: one byte per bit.
  ModbusTag coil = Tag(ModbusType::kBool);
  coil.table = ModbusTable::kCoil;
  const std::vector<uint8_t> bits = {0, 1, 0};
  EXPECT_EQ(DecodeTagInAnswer(coil, 1, {}, bits).value, 1);
  EXPECT_EQ(DecodeTagInAnswer(coil, 2, {}, bits).value, 0);
}

TEST(ModbusCodecDeathTest, ATagReachingPastTheAnswerAborts) {
  const std::vector<uint16_t> answer(6, 0);
  // A float32 at offset 5 would need a 7th register: a plan that broke its contract.
  EXPECT_DEATH(DecodeTagInAnswer(Tag(ModbusType::kFloat32), 5, answer, {}), "check failed");
  ModbusTag text = Tag(ModbusType::kString);
  text.length = 3;
  std::string out;
  EXPECT_DEATH(DecodeStringInAnswer(text, 4, answer, out), "check failed");
  ModbusTag coil = Tag(ModbusType::kBool);
  coil.table = ModbusTable::kDiscreteInput;
  const std::vector<uint8_t> bits(2, 1);
  EXPECT_DEATH(DecodeTagInAnswer(coil, 2, {}, bits), "check failed");
}

}  // namespace
}  // namespace edge::drivers
