// ModbusFrame: a read request and its answer as bytes on the wire, for Modbus TCP (MBAP header)
// and Modbus RTU (CRC-16), and the strict check of an answer before anything in it is decoded.
//
// Why our own framing: libmodbus 3.1.6 accepts as good an answer whose MBAP length field
// disagrees with its body, whose protocol id is not 0 (its check joins the two conditions with
// && where || was meant), or whose unit id is another device's; and it cannot bound the time of
// a whole answer (drivers/modbus_link.h). So the link sends these frames itself and every
// answer passes CheckAnswer, which accepts only what the Modbus application protocol v1.1b3
// (sections 4.1, 6.1 - 6.4, 7) and the Modbus TCP and serial-line guides allow:
//   TCP   protocol id 0; length field 3..254 and equal to the bytes after it; unit id and
//         transaction id those of the request
//   RTU   unit id that of the request; CRC-16 right
//   both  function code that of the request (or it | 0x80 with one exception code); byte count
//         exactly what `count` registers or bits take; nothing after it
// An answer for another transaction id is not malformed: it can be the late answer of a request
// that timed out. The link discards it and keeps waiting for its own, within the same bound.
//
// Reading an answer: read HeadBytes(framing) bytes, AnswerLength() tells the whole length (or
// refuses the head at once), read the rest, then CheckAnswer().
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "config/config.h"

namespace edge::drivers {

enum class Framing { kTcp, kRtu };

// The longest frame of either framing (TCP: 7-byte MBAP header + 253-byte PDU).
inline constexpr size_t kMaxAduBytes = 260;

// The function code that reads `table` (1 coils, 2 discrete inputs, 3 holding, 4 input).
uint8_t ReadFunction(config::ModbusTable table);

// Writes the request frame into `out` and returns its length (12 for TCP, 8 for RTU).
// `tid` is ignored for RTU.
size_t BuildReadRequest(Framing framing, uint16_t tid, uint8_t unit, config::ModbusTable table,
                        uint16_t start, uint16_t count, std::span<uint8_t, kMaxAduBytes> out);

// Bytes of an answer needed before its length is known: 7 (MBAP header + unit id) or 3 (unit,
// function, byte count or exception code).
size_t HeadBytes(Framing framing);

// The whole length of the answer that starts with `head` (head.size() >= HeadBytes), or 0 if the
// head alone is malformed (then `*fault` says why).
size_t AnswerLength(Framing framing, std::span<const uint8_t> head, const char** fault);

// What a read request expects of its answer.
struct ExpectedAnswer {
  uint16_t tid = 0;  // TCP only
  uint8_t unit = 0;
  config::ModbusTable table = config::ModbusTable::kHoldingRegister;
  uint16_t count = 0;
};

struct AnswerVerdict {
  enum class Kind { kData, kException, kOtherTransaction, kMalformed };
  Kind kind = Kind::kMalformed;
  uint8_t exception_code = 0;  // kException
  const char* fault = "";      // kMalformed: what was wrong (static text)
};

// Checks the whole answer `adu` (of the length AnswerLength gave) against `expected`. On kData
// it fills registers[0..count) (host order, first byte high) or bits[0..count) (0 / 1) for a
// bit table; on anything else they are untouched. REQUIRES: the span of the expected table
// holds at least `count` elements.
AnswerVerdict CheckAnswer(Framing framing, const ExpectedAnswer& expected,
                          std::span<const uint8_t> adu, std::span<uint16_t> registers,
                          std::span<uint8_t> bits);

// The Modbus RTU CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF) of `bytes`; sent low byte
// first.
uint16_t ModbusCrc16(std::span<const uint8_t> bytes);

}  // namespace edge::drivers
