#include "drivers/modbus_codec.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace edge::drivers {
namespace {

using config::ModbusTable;
using config::ModbusTag;
using config::ModbusType;
using config::WordOrder;

constexpr uint16_t Swap(uint16_t w) { return static_cast<uint16_t>((w << 8) | (w >> 8)); }

constexpr bool ReversesWords(WordOrder order) {
  return order == WordOrder::kCDAB || order == WordOrder::kDCBA;
}
constexpr bool SwapsBytes(WordOrder order) {
  return order == WordOrder::kBADC || order == WordOrder::kDCBA;
}

double Finish(const ModbusTag& tag, double raw) {
  const double value = raw * tag.scale + tag.offset;
  if (!std::isfinite(value)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return value;
}

Reading MakeReading(double value) {
  return std::isnan(value) ? Reading{value, Quality::kBad} : Reading{value, Quality::kGood};
}

// 2^63 and 2^64 as doubles (exact), the exclusive upper bounds of int64 / uint64.
constexpr double kTwo63 = 9223372036854775808.0;
constexpr double kTwo64 = 18446744073709551616.0;

}  // namespace

uint64_t GatherWords(std::span<const uint16_t> regs, WordOrder order) {
  const size_t n = regs.size();
  EDGE_CHECK(n >= 1 && n <= 4);
  uint64_t value = 0;
  for (size_t i = 0; i < n; ++i) {
    uint16_t w = regs[ReversesWords(order) ? n - 1 - i : i];
    if (SwapsBytes(order)) w = Swap(w);
    value = (value << 16) | w;
  }
  return value;
}

void ScatterWords(uint64_t value, WordOrder order, std::span<uint16_t> regs) {
  const size_t n = regs.size();
  EDGE_CHECK(n >= 1 && n <= 4);
  for (size_t i = 0; i < n; ++i) {
    // W[i], counting from the most significant word.
    auto w = static_cast<uint16_t>(value >> (16 * (n - 1 - i)));
    if (SwapsBytes(order)) w = Swap(w);
    regs[ReversesWords(order) ? n - 1 - i : i] = w;
  }
}

Reading DecodeRegisters(const ModbusTag& tag, std::span<const uint16_t> regs) {
  EDGE_CHECK(!IsBitTable(tag.table) && tag.type != ModbusType::kString);
  if (tag.type == ModbusType::kBool) {
    EDGE_CHECK(!regs.empty());
    const unsigned bit = tag.bit.value_or(0);
    return MakeReading(Finish(tag, (regs[0] >> bit) & 1u));
  }
  const auto n = static_cast<size_t>(config::FixedRegisterCount(tag.type));
  EDGE_CHECK(regs.size() >= n);
  const uint64_t bits = GatherWords(regs.first(n), tag.word_order);
  double raw = 0;
  switch (tag.type) {
    case ModbusType::kInt16:
      raw = static_cast<int16_t>(bits);
      break;
    case ModbusType::kUInt16:
      raw = static_cast<uint16_t>(bits);
      break;
    case ModbusType::kInt32:
      raw = static_cast<int32_t>(bits);
      break;
    case ModbusType::kUInt32:
      raw = static_cast<uint32_t>(bits);
      break;
    case ModbusType::kInt64:
      raw = static_cast<double>(static_cast<int64_t>(bits));
      break;
    case ModbusType::kUInt64:
      raw = static_cast<double>(bits);
      break;
    case ModbusType::kFloat32:
      raw = std::bit_cast<float>(static_cast<uint32_t>(bits));
      break;
    case ModbusType::kFloat64:
      raw = std::bit_cast<double>(bits);
      break;
    case ModbusType::kBool:
    case ModbusType::kString:
      break;
  }
  if (!std::isfinite(raw)) {
    return Reading{std::numeric_limits<double>::quiet_NaN(), Quality::kBad};
  }
  return MakeReading(Finish(tag, raw));
}

Reading DecodeBit(const ModbusTag& tag, bool bit) {
  return MakeReading(Finish(tag, bit ? 1.0 : 0.0));
}

void DecodeString(std::span<const uint16_t> regs, WordOrder order, std::string& out) {
  out.clear();
  const bool low_first = SwapsBytes(order);
  for (const uint16_t reg : regs) {
    const char hi = static_cast<char>(reg >> 8);
    const char lo = static_cast<char>(reg & 0xFF);
    const char first = low_first ? lo : hi;
    const char second = low_first ? hi : lo;
    if (first == '\0') break;
    out.push_back(first);
    if (second == '\0') break;
    out.push_back(second);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
}

Reading DecodeTagInAnswer(const ModbusTag& tag, uint16_t offset,
                          std::span<const uint16_t> registers, std::span<const uint8_t> bits) {
  EDGE_CHECK(tag.type != ModbusType::kString);
  if (IsBitTable(tag.table)) {
    EDGE_CHECK(offset < bits.size());
    return DecodeBit(tag, bits[offset] != 0);
  }
  const uint16_t n = config::RegisterCount(tag);
  EDGE_CHECK(static_cast<size_t>(offset) + n <= registers.size());
  return DecodeRegisters(tag, registers.subspan(offset, n));
}

void DecodeStringInAnswer(const ModbusTag& tag, uint16_t offset,
                          std::span<const uint16_t> registers, std::string& out) {
  EDGE_CHECK(tag.type == ModbusType::kString &&
             static_cast<size_t>(offset) + tag.length <= registers.size());
  DecodeString(registers.subspan(offset, tag.length), tag.word_order, out);
}

Status EncodeRegisters(const ModbusTag& tag, double value, std::span<uint16_t> regs) {
  EDGE_CHECK(!IsBitTable(tag.table) && tag.type != ModbusType::kString);
  const double raw = (value - tag.offset) / tag.scale;
  const auto out_of_range = [&] {
    return Status::InvalidArgument(fmt::format("tag '{}': value {} (raw {}) does not fit {}",
                                               tag.name, value, raw,
                                               config::ModbusTypeName(tag.type)));
  };
  if (tag.type == ModbusType::kBool) {
    EDGE_CHECK(!regs.empty());
    const unsigned bit = tag.bit.value_or(0);
    const auto mask = static_cast<uint16_t>(1u << bit);
    regs[0] =
        raw != 0 ? static_cast<uint16_t>(regs[0] | mask) : static_cast<uint16_t>(regs[0] & ~mask);
    return Status::Ok();
  }
  const auto n = static_cast<size_t>(config::FixedRegisterCount(tag.type));
  EDGE_CHECK(regs.size() >= n);
  if (tag.type == ModbusType::kFloat32) {
    ScatterWords(std::bit_cast<uint32_t>(static_cast<float>(raw)), tag.word_order, regs.first(n));
    return Status::Ok();
  }
  if (tag.type == ModbusType::kFloat64) {
    ScatterWords(std::bit_cast<uint64_t>(raw), tag.word_order, regs.first(n));
    return Status::Ok();
  }
  const double r = std::nearbyint(raw);  // NaN stays NaN and fails every range check below
  uint64_t bits = 0;
  switch (tag.type) {
    case ModbusType::kInt16:
      if (!(r >= -32768.0 && r <= 32767.0)) return out_of_range();
      bits = static_cast<uint16_t>(static_cast<int16_t>(r));
      break;
    case ModbusType::kUInt16:
      if (!(r >= 0.0 && r <= 65535.0)) return out_of_range();
      bits = static_cast<uint16_t>(r);
      break;
    case ModbusType::kInt32:
      if (!(r >= -2147483648.0 && r <= 2147483647.0)) return out_of_range();
      bits = static_cast<uint32_t>(static_cast<int32_t>(r));
      break;
    case ModbusType::kUInt32:
      if (!(r >= 0.0 && r <= 4294967295.0)) return out_of_range();
      bits = static_cast<uint32_t>(r);
      break;
    case ModbusType::kInt64:
      if (!(r >= -kTwo63 && r < kTwo63)) return out_of_range();
      bits = static_cast<uint64_t>(static_cast<int64_t>(r));
      break;
    case ModbusType::kUInt64:
      if (!(r >= 0.0 && r < kTwo64)) return out_of_range();
      bits = static_cast<uint64_t>(r);
      break;
    default:
      EDGE_CHECK(false && "unreachable");
  }
  ScatterWords(bits, tag.word_order, regs.first(n));
  return Status::Ok();
}

bool EncodeBit(const ModbusTag& tag, double value) {
  return (value - tag.offset) / tag.scale != 0.0;
}

Status EncodeString(std::string_view text, WordOrder order, std::span<uint16_t> regs) {
  if (text.size() > 2 * regs.size()) {
    return Status::InvalidArgument(
        fmt::format("string '{}' is longer than {} characters", text, 2 * regs.size()));
  }
  for (const char c : text) {
    if (static_cast<unsigned char>(c) > 0x7F || c == '\0') {
      return Status::InvalidArgument(
          fmt::format("string '{}' is not ASCII (or contains NUL)", text));
    }
  }
  const bool low_first = SwapsBytes(order);
  for (size_t i = 0; i < regs.size(); ++i) {
    const auto first = static_cast<uint8_t>(2 * i < text.size() ? text[2 * i] : '\0');
    const auto second = static_cast<uint8_t>(2 * i + 1 < text.size() ? text[2 * i + 1] : '\0');
    regs[i] = low_first ? static_cast<uint16_t>(second << 8 | first)
                        : static_cast<uint16_t>(first << 8 | second);
  }
  return Status::Ok();
}

std::optional<ModbusTable> ParseTable(std::string_view name) {
  for (const auto t : {ModbusTable::kCoil, ModbusTable::kDiscreteInput, ModbusTable::kInputRegister,
                       ModbusTable::kHoldingRegister}) {
    if (config::ModbusTableName(t) == name) return t;
  }
  return std::nullopt;
}

std::optional<ModbusType> ParseType(std::string_view name) {
  for (const auto t :
       {ModbusType::kBool, ModbusType::kInt16, ModbusType::kUInt16, ModbusType::kInt32,
        ModbusType::kUInt32, ModbusType::kInt64, ModbusType::kUInt64, ModbusType::kFloat32,
        ModbusType::kFloat64, ModbusType::kString}) {
    if (config::ModbusTypeName(t) == name) return t;
  }
  return std::nullopt;
}

std::optional<WordOrder> ParseWordOrder(std::string_view name) {
  for (const auto o : {WordOrder::kABCD, WordOrder::kCDAB, WordOrder::kBADC, WordOrder::kDCBA}) {
    if (config::WordOrderName(o) == name) return o;
  }
  return std::nullopt;
}

}  // namespace edge::drivers
