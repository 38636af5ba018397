// ModbusCodec: turns the 16-bit registers and the bits that libmodbus reads into tag values, and
// back (Encode, used by tools/plc-sim and the tests). Pure functions: no I/O, no allocation.
//
// Register layout. libmodbus hands over each register as a host-order uint16_t whose high byte
// is the byte sent first on the wire. A value of n words (n = 1 for 16-bit types, 2 for 32-bit,
// 4 for 64-bit) has the big-endian bytes b0 b1 ... b(2n-1) (b0 most significant); let
// W[i] = b(2i) << 8 | b(2i+1) be its big-endian words. The registers reg[0..n-1] hold:
//
//   ABCD  reg[i] = W[i]                    big endian (the Modbus default)
//   CDAB  reg[i] = W[n-1-i]                words reversed (low word first), bytes big endian
//   BADC  reg[i] = swap(W[i])              words in order, bytes swapped within each word
//   DCBA  reg[i] = swap(W[n-1-i])          little endian: the whole byte sequence reversed
//
// For 64-bit values "words reversed" means all four words (pymodbus's wordorder=Little does
// the same), so DCBA stays plain little endian. For 16-bit types ABCD = CDAB and BADC = DCBA.
// Example, float32 123.456 = 0x42F6E979: ABCD {0x42F6, 0xE979}, CDAB {0xE979, 0x42F6},
// BADC {0xF642, 0x79E9}, DCBA {0x79E9, 0xF642}.
//
// Other types:
//   bool on a coil / discrete input: the bit itself.
//   bool on a register table (tag.bit = n): bit n (0 = least significant) of the register value
//     as read; the word order is not applied.
//   string: `length` registers, two ASCII characters per register, high byte first for ABCD /
//     CDAB and low byte first for BADC / DCBA (word reversal is not applied); the value ends at
//     the first NUL, and trailing spaces are trimmed.
//
// Engineering value = raw * scale + offset, for every numeric type including bool. 64-bit
// integers become doubles, which are exact up to 2^53 only.
//
// Quality: a float32 / float64 register pair that holds NaN or +-Inf is not a reading (a PLC
// writes NaN for "sensor broken" or leaves garbage in an unset register), and neither is a value
// that scale / offset overflow to Inf: such readings decode with Quality::kBad and value NaN.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "config/config.h"
#include "core/sample.h"
#include "core/status.h"

namespace edge::drivers {

// The most registers one tag can occupy: a string as long as one read request.
inline constexpr uint16_t kMaxTagRegisters = 125;

// A decoded numeric value. value is NaN whenever quality is kBad.
struct Reading {
  double value;
  Quality quality;
};


// True for the coil and discrete-input tables, which are read as bits.
constexpr bool IsBitTable(config::ModbusTable table) {
  return table == config::ModbusTable::kCoil || table == config::ModbusTable::kDiscreteInput;
}

// The n = words.size() (1..4) words of a value in `order`, assembled into its big-endian integer
// (W[0] in the most significant position), and the inverse.
uint64_t GatherWords(std::span<const uint16_t> regs, config::WordOrder order);
void ScatterWords(uint64_t value, config::WordOrder order, std::span<uint16_t> regs);

// Decodes a numeric tag of a register table from its registers.
// REQUIRES: regs.size() >= RegisterCount(tag); tag.type != kString; !IsBitTable(tag.table).
Reading DecodeRegisters(const config::ModbusTag& tag, std::span<const uint16_t> regs);

// Decodes a bool tag of a coil / discrete-input table from its bit.
Reading DecodeBit(const config::ModbusTag& tag, bool bit);

// Decodes a string tag into `out` (assign() into its existing capacity: a string reserved to
// 2 * length characters never allocates here).
void DecodeString(std::span<const uint16_t> regs, config::WordOrder order, std::string& out);

// How the poller slices the answer to a planned read request (drivers/request_planner.h) into
// its tags: the numeric tag placed `offset` (its TagPlacement::offset) registers or bits into its
// request, decoded from the answer. `registers` is the answer of a register-table request,
// `bits` (one byte per bit, as libmodbus writes them) that of a bit-table request, each exactly
// the request's count long; the other span is not read. Aborts if the tag does not lie within
// the answer (PlanReads places every tag inside its request).
// REQUIRES: tag.type != kString.
Reading DecodeTagInAnswer(const config::ModbusTag& tag, uint16_t offset,
                          std::span<const uint16_t> registers, std::span<const uint8_t> bits);

// The same for a string tag: its tag.length registers at `offset` in `registers`, decoded into
// `out` as DecodeString does. Aborts if they do not lie within `registers`.
void DecodeStringInAnswer(const config::ModbusTag& tag, uint16_t offset,
                          std::span<const uint16_t> registers, std::string& out);

// The inverse of DecodeRegisters: raw = (value - offset) / scale, rounded to the nearest integer
// for integer types, written into RegisterCount(tag) registers of `regs`. For a bool on a
// register bit only that bit of regs[0] changes. InvalidArgument (naming the tag) if the raw
// value does not fit the type, or is NaN for an integer type.
// REQUIRES: regs.size() >= RegisterCount(tag); tag.type != kString; !IsBitTable(tag.table).
[[nodiscard]] Status EncodeRegisters(const config::ModbusTag& tag, double value,
                                     std::span<uint16_t> regs);

// The inverse of DecodeBit: true when (value - offset) / scale is not zero.
bool EncodeBit(const config::ModbusTag& tag, double value);

// The inverse of DecodeString: `text` NUL-padded into regs.size() registers. InvalidArgument if
// it is longer than 2 * regs.size() characters or not ASCII.
[[nodiscard]] Status EncodeString(std::string_view text, config::WordOrder order,
                                  std::span<uint16_t> regs);

// The inverses of config::ModbusTableName / ModbusTypeName / WordOrderName (the spellings of
// DESIGN §6), for tools/plc-sim's register map.
std::optional<config::ModbusTable> ParseTable(std::string_view name);
std::optional<config::ModbusType> ParseType(std::string_view name);
std::optional<config::WordOrder> ParseWordOrder(std::string_view name);

}  // namespace edge::drivers
