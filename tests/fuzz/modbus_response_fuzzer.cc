// libFuzzer target for what the agent does with what a PLC answers (drivers/modbus_codec.h,
// drivers/request_planner.h, and the slicing drivers/modbus_poller.cc does). The first bytes of
// an input build one device as a validated configuration allows it (config/config_loader.cc):
// its request limits and up to 48 tags of every table, type, word order, bit, string length,
// scale and offset, clustered so that requests merge. PlanReads plans them; the rest of the
// input is the answer to each planned request (registers, or one byte per bit as libmodbus
// writes them), which is sliced into tags by DecodeTagInAnswer / DecodeStringInAnswer exactly
// as the poller does.
//
// Checks, each able to fail:
//   - PlanReads refuses only a device that has a tag no request can hold; a plan it returns puts
//     every tag inside one request of its own table, within the limits and the address space;
//   - every reading equals an independent decode of the answer's bytes: the big-endian byte
//     sequence laid out from the registers per the word-order table at the top of
//     modbus_codec.h, then raw * scale + offset; NaN with kBad exactly when raw or the result
//     is not finite (strings: the characters up to the first NUL, trailing spaces trimmed);
//   - readings with scale 1 and offset 0 that are exact in a double encode back
//     (EncodeRegisters) to the very registers they came from.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "drivers/modbus_codec.h"
#include "drivers/request_planner.h"

namespace {

using edge::Quality;
using edge::config::ModbusTable;
using edge::config::ModbusTag;
using edge::config::ModbusType;
using edge::config::WordOrder;
using edge::drivers::Reading;

constexpr ModbusTable kTables[] = {ModbusTable::kHoldingRegister, ModbusTable::kInputRegister,
                                   ModbusTable::kCoil, ModbusTable::kDiscreteInput};
constexpr ModbusType kRegisterTypes[] = {
    ModbusType::kBool,    ModbusType::kInt16, ModbusType::kUInt16, ModbusType::kInt32,
    ModbusType::kUInt32,  ModbusType::kInt64, ModbusType::kUInt64, ModbusType::kFloat32,
    ModbusType::kFloat64, ModbusType::kString};
constexpr WordOrder kOrders[] = {WordOrder::kABCD, WordOrder::kCDAB, WordOrder::kBADC,
                                 WordOrder::kDCBA};

void Require(bool ok, const char* what, const ModbusTag* tag = nullptr) {
  if (!ok) {
    std::fprintf(stderr, "modbus_response_fuzzer: %s%s%s\n", what, tag ? " tag " : "",
                 tag ? tag->name.c_str() : "");
    std::abort();
  }
}

template <typename T, size_t N>
T Pick(FuzzedDataProvider& in, const T (&options)[N]) {
  return options[in.ConsumeIntegralInRange<size_t>(0, N - 1)];
}

// Scale and offset as a technician writes them: mostly neutral, sometimes a plain factor, and
// sometimes any finite double (to reach overflow to Inf).
double ScaleOrOffset(FuzzedDataProvider& in, bool scale) {
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return scale ? 1.0 : 0.0;
    case 1:
      return scale ? 0.1 : -40.0;
    case 2: {
      const double v = in.ConsumeIntegralInRange<int32_t>(-100000, 100000) / 100.0;
      return scale && v == 0.0 ? 1.0 : v;
    }
    default: {
      double v = in.ConsumeFloatingPoint<double>();
      if (!std::isfinite(v) || (scale && v == 0.0)) v = scale ? 1.0 : 0.0;
      return v;
    }
  }
}

// One tag as the loader would accept it for a device with `max_registers` per request.
ModbusTag MakeTag(FuzzedDataProvider& in, int index, uint16_t max_registers, uint16_t& cursor) {
  ModbusTag tag;
  tag.name = "t" + std::to_string(index);
  tag.table = Pick(in, kTables);
  const bool bit_table = edge::drivers::IsBitTable(tag.table);
  tag.type = bit_table ? ModbusType::kBool : Pick(in, kRegisterTypes);
  if (tag.type == ModbusType::kBool && !bit_table) {
    tag.bit = in.ConsumeIntegralInRange<uint8_t>(0, 15);
  }
  if (tag.type == ModbusType::kString) {
    tag.length = in.ConsumeIntegralInRange<uint16_t>(1, max_registers);
  }
  if (tag.type != ModbusType::kBool) {
    tag.word_order = Pick(in, kOrders);
    const bool one_register = tag.type == ModbusType::kInt16 || tag.type == ModbusType::kUInt16 ||
                              tag.type == ModbusType::kString;
    if (one_register && tag.word_order == WordOrder::kCDAB) tag.word_order = WordOrder::kABCD;
  }
  if (tag.type != ModbusType::kBool && tag.type != ModbusType::kString) {
    tag.scale = ScaleOrOffset(in, true);
    tag.offset = ScaleOrOffset(in, false);
  }
  // Addresses near the previous tag's (so requests merge, overlap and bridge gaps), now and
  // then anywhere, including the top of the address space.
  const uint16_t count = edge::config::RegisterCount(tag);
  if (in.ConsumeIntegralInRange(0, 7) == 0) {
    cursor = in.ConsumeIntegral<uint16_t>();
  } else {
    const int step = in.ConsumeIntegralInRange(-4, 40);
    cursor = static_cast<uint16_t>(std::clamp(cursor + step, 0, 65535));
  }
  // The loader refuses a register tag running past 65535; PlanReads must refuse it too, so a
  // few are let through (1 in 16) to check that.
  if (!bit_table && cursor + count > 65536 && in.ConsumeIntegralInRange(0, 15) != 0) {
    cursor = static_cast<uint16_t>(65536 - count);
  }
  tag.address = cursor;
  return tag;
}

// The independent decode: the value's big-endian bytes b0..b(2n-1), from the registers per the
// word-order table of modbus_codec.h, assembled with memcpy on a little-endian host.
template <typename T>
T FromBigEndianBytes(const uint8_t* b) {
  uint8_t little[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) little[i] = b[sizeof(T) - 1 - i];
  T v;
  std::memcpy(&v, little, sizeof(T));
  return v;
}

void BigEndianBytes(std::span<const uint16_t> regs, WordOrder order, uint8_t* out) {
  const size_t n = regs.size();
  for (size_t i = 0; i < n; ++i) {
    // reg[i] = W[i] (ABCD), W[n-1-i] (CDAB), swap(W[i]) (BADC), swap(W[n-1-i]) (DCBA).
    const bool reversed = order == WordOrder::kCDAB || order == WordOrder::kDCBA;
    const bool swapped = order == WordOrder::kBADC || order == WordOrder::kDCBA;
    const uint16_t reg = regs[reversed ? n - 1 - i : i];
    const uint8_t hi = static_cast<uint8_t>(reg >> 8);
    const uint8_t lo = static_cast<uint8_t>(reg & 0xFF);
    out[2 * i] = swapped ? lo : hi;
    out[2 * i + 1] = swapped ? hi : lo;
  }
}

double ExpectedRaw(const ModbusTag& tag, std::span<const uint16_t> regs) {
  uint8_t b[8];
  BigEndianBytes(regs.first(edge::config::RegisterCount(tag)), tag.word_order, b);
  switch (tag.type) {
    case ModbusType::kBool:
      return (regs[0] & (1u << *tag.bit)) != 0 ? 1.0 : 0.0;
    case ModbusType::kInt16:
      return FromBigEndianBytes<int16_t>(b);
    case ModbusType::kUInt16:
      return FromBigEndianBytes<uint16_t>(b);
    case ModbusType::kInt32:
      return FromBigEndianBytes<int32_t>(b);
    case ModbusType::kUInt32:
      return FromBigEndianBytes<uint32_t>(b);
    case ModbusType::kInt64:
      return static_cast<double>(FromBigEndianBytes<int64_t>(b));
    case ModbusType::kUInt64:
      return static_cast<double>(FromBigEndianBytes<uint64_t>(b));
    case ModbusType::kFloat32:
      return FromBigEndianBytes<float>(b);
    case ModbusType::kFloat64:
      return FromBigEndianBytes<double>(b);
    case ModbusType::kString:
      break;
  }
  Require(false, "string in ExpectedRaw");
  return 0;
}

void RequireReading(const Reading& got, double raw, const ModbusTag& tag) {
  double want = raw * tag.scale + tag.offset;
  if (!std::isfinite(raw) || !std::isfinite(want)) want = std::numeric_limits<double>::quiet_NaN();
  if (std::isnan(want)) {
    Require(std::isnan(got.value) && got.quality == Quality::kBad,
            "not-finite reading is not NaN/kBad", &tag);
    return;
  }
  Require(got.quality == Quality::kGood, "finite reading is not kGood", &tag);
  Require(std::bit_cast<uint64_t>(got.value) == std::bit_cast<uint64_t>(want),
          "reading differs from the independent decode", &tag);
}

std::string ExpectedString(const ModbusTag& tag, std::span<const uint16_t> regs) {
  std::string s;
  const bool low_first = tag.word_order == WordOrder::kBADC || tag.word_order == WordOrder::kDCBA;
  for (const uint16_t reg : regs) {
    const char chars[2] = {static_cast<char>(low_first ? reg & 0xFF : reg >> 8),
                           static_cast<char>(low_first ? reg >> 8 : reg & 0xFF)};
    for (const char c : chars) {
      if (c == '\0') goto done;
      s.push_back(c);
    }
  }
done:
  s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

// A reading with scale 1 and offset 0 that a double holds exactly encodes back to its registers.
void RequireEncodesBack(const ModbusTag& tag, const Reading& r, std::span<const uint16_t> regs) {
  if (r.quality != Quality::kGood || tag.scale != 1.0 || tag.offset != 0.0) return;
  const bool wide_int = tag.type == ModbusType::kInt64 || tag.type == ModbusType::kUInt64;
  if (wide_int && std::fabs(r.value) > 9007199254740992.0) return;  // 2^53: such readings round
  // A float register holding -0.0 reads as 0.0 (-0.0 * 1 + 0 = +0.0): equal, not the same bits.
  if (r.value == 0.0 && (tag.type == ModbusType::kFloat32 || tag.type == ModbusType::kFloat64)) {
    return;
  }
  const uint16_t n = edge::config::RegisterCount(tag);
  std::vector<uint16_t> out(regs.begin(), regs.begin() + n);
  if (tag.type == ModbusType::kBool) out[0] = static_cast<uint16_t>(~out[0]);  // other bits kept
  Require(edge::drivers::EncodeRegisters(tag, r.value, out).ok(), "reading does not encode", &tag);
  if (tag.type == ModbusType::kBool) {
    const auto mask = static_cast<uint16_t>(1u << *tag.bit);
    Require((out[0] & mask) == (regs[0] & mask) && (out[0] & ~mask) == (~regs[0] & ~mask & 0xFFFF),
            "bool encode changed other bits or not its own", &tag);
    return;
  }
  for (uint16_t i = 0; i < n; ++i) {
    Require(out[i] == regs[i], "encode(decode(registers)) != registers", &tag);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  edge::config::ModbusDevice device;
  device.max_registers_per_request = in.ConsumeIntegralInRange<uint16_t>(1, 125);
  device.max_gap = in.ConsumeIntegralInRange<uint16_t>(0, 125);
  const int tag_count = in.ConsumeIntegralInRange(1, 48);
  uint16_t cursor = in.ConsumeIntegral<uint16_t>();
  for (int i = 0; i < tag_count; ++i) {
    device.tags.push_back(MakeTag(in, i, device.max_registers_per_request, cursor));
  }
  const edge::drivers::PlanLimits limits = edge::drivers::LimitsFor(device);
  auto planned = edge::drivers::PlanReads(device.tags, limits);

  bool plannable = true;
  for (const ModbusTag& tag : device.tags) {
    const uint32_t end = uint32_t{tag.address} + edge::config::RegisterCount(tag);
    const uint32_t max =
        edge::drivers::IsBitTable(tag.table) ? limits.max_bits : limits.max_registers;
    if (end > 65536 || edge::config::RegisterCount(tag) > max) plannable = false;
  }
  Require(planned.ok() == plannable,
          planned.ok() ? "planned an impossible device" : "refused a plannable device");
  if (!planned.ok()) return 0;
  const edge::drivers::ReadPlan& plan = *planned;
  Require(plan.placements.size() == device.tags.size(), "not one placement per tag");
  for (const edge::drivers::ReadRequest& req : plan.requests) {
    const uint32_t max =
        edge::drivers::IsBitTable(req.table) ? limits.max_bits : limits.max_registers;
    Require(req.count >= 1 && req.count <= max && uint32_t{req.start} + req.count <= 65536,
            "request outside the limits or the address space");
  }

  // The answers, request by request, from the rest of the input (zeros once it runs out).
  std::vector<std::vector<uint16_t>> registers(plan.requests.size());
  std::vector<std::vector<uint8_t>> bits(plan.requests.size());
  for (size_t r = 0; r < plan.requests.size(); ++r) {
    const edge::drivers::ReadRequest& req = plan.requests[r];
    if (edge::drivers::IsBitTable(req.table)) {
      // libmodbus writes 0 or 1 per bit; 8 bits per input byte.
      for (uint16_t i = 0; i < req.count; i += 8) {
        const uint8_t byte = in.ConsumeIntegral<uint8_t>();
        for (uint16_t k = i; k < req.count && k < i + 8; ++k) {
          bits[r].push_back((byte >> (k - i)) & 1);
        }
      }
    } else {
      for (uint16_t i = 0; i < req.count; ++i)
        registers[r].push_back(in.ConsumeIntegral<uint16_t>());
    }
  }

  for (size_t t = 0; t < device.tags.size(); ++t) {
    const ModbusTag& tag = device.tags[t];
    const edge::drivers::TagPlacement& p = plan.placements[t];
    Require(p.request < plan.requests.size(), "placement names no request", &tag);
    const edge::drivers::ReadRequest& req = plan.requests[p.request];
    Require(req.table == tag.table && uint32_t{req.start} + p.offset == tag.address,
            "placement is not where the tag is", &tag);
    Require(uint32_t{p.offset} + edge::config::RegisterCount(tag) <= req.count,
            "tag does not lie inside its request", &tag);
    const std::span<const uint16_t> regs = registers[p.request];
    const std::span<const uint8_t> bs = bits[p.request];
    if (tag.type == ModbusType::kString) {
      std::string text = "stale";
      edge::drivers::DecodeStringInAnswer(tag, p.offset, regs, text);
      Require(text == ExpectedString(tag, regs.subspan(p.offset, tag.length)),
              "string differs from the independent decode", &tag);
      continue;
    }
    const Reading got = edge::drivers::DecodeTagInAnswer(tag, p.offset, regs, bs);
    if (edge::drivers::IsBitTable(tag.table)) {
      RequireReading(got, bs[p.offset] != 0 ? 1.0 : 0.0, tag);
      continue;
    }
    const std::span<const uint16_t> mine = regs.subspan(p.offset);
    RequireReading(got, ExpectedRaw(tag, mine), tag);
    RequireEncodesBack(tag, got, mine);
  }
  return 0;
}
