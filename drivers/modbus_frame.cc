#include "drivers/modbus_frame.h"

#include "core/logging.h"
#include "drivers/modbus_codec.h"

namespace edge::drivers {
namespace {

using VerdictKind = AnswerVerdict::Kind;

constexpr size_t kTcpHeadBytes = 7;  // transaction id, protocol id, length, unit id
constexpr size_t kRtuHeadBytes = 3;  // unit id, function, byte count or exception code
constexpr uint8_t kExceptionBit = 0x80;
// The longest PDU (function code + data) of the protocol, and so the largest MBAP length field
// (unit id + PDU).
constexpr size_t kMaxPduBytes = 253;

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v & 0xFF);
}

// The bytes `count` registers or bits take in an answer.
size_t DataBytes(config::ModbusTable table, uint16_t count) {
  return IsBitTable(table) ? (count + 7u) / 8u : 2u * count;
}

AnswerVerdict Malformed(const char* fault) { return {VerdictKind::kMalformed, 0, fault}; }

// Checks the PDU (function code onward) of an answer for `expected` and, if it carries the data,
// unpacks it.
AnswerVerdict CheckPdu(const ExpectedAnswer& expected, std::span<const uint8_t> pdu,
                       std::span<uint16_t> registers, std::span<uint8_t> bits) {
  const uint8_t function = ReadFunction(expected.table);
  if (pdu.size() < 2) return Malformed("answer shorter than a function code and one byte");
  if (pdu[0] == (function | kExceptionBit)) {
    if (pdu.size() != 2) return Malformed("exception answer of the wrong length");
    return {VerdictKind::kException, pdu[1], ""};
  }
  if (pdu[0] != function) return Malformed("function code is not the request's");
  const size_t data_bytes = DataBytes(expected.table, expected.count);
  if (pdu[1] != data_bytes) return Malformed("byte count does not match the registers asked for");
  if (pdu.size() != 2 + data_bytes) return Malformed("frame length disagrees with its byte count");
  const uint8_t* data = pdu.data() + 2;
  if (IsBitTable(expected.table)) {
    EDGE_CHECK(bits.size() >= expected.count);
    for (size_t i = 0; i < expected.count; ++i) bits[i] = (data[i / 8] >> (i % 8)) & 1u;
  } else {
    EDGE_CHECK(registers.size() >= expected.count);
    for (size_t i = 0; i < expected.count; ++i) registers[i] = Be16(data + 2 * i);
  }
  return {VerdictKind::kData, 0, ""};
}

}  // namespace

uint8_t ReadFunction(config::ModbusTable table) {
  switch (table) {
    case config::ModbusTable::kCoil:
      return 0x01;
    case config::ModbusTable::kDiscreteInput:
      return 0x02;
    case config::ModbusTable::kHoldingRegister:
      return 0x03;
    case config::ModbusTable::kInputRegister:
      return 0x04;
  }
  EDGE_CHECK(false);
  return 0;
}

uint16_t ModbusCrc16(std::span<const uint8_t> bytes) {
  uint16_t crc = 0xFFFF;
  for (const uint8_t b : bytes) {
    crc ^= b;
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 1u) != 0 ? static_cast<uint16_t>((crc >> 1) ^ 0xA001) : crc >> 1;
    }
  }
  return crc;
}

size_t BuildReadRequest(Framing framing, uint16_t tid, uint8_t unit, config::ModbusTable table,
                        uint16_t start, uint16_t count, std::span<uint8_t, kMaxAduBytes> out) {
  uint8_t* p = out.data();
  if (framing == Framing::kTcp) {
    PutBe16(p, tid);
    PutBe16(p + 2, 0);  // protocol id: Modbus
    PutBe16(p + 4, 6);  // unit id + function + start + count
    p += 6;
  }
  p[0] = unit;
  p[1] = ReadFunction(table);
  PutBe16(p + 2, start);
  PutBe16(p + 4, count);
  p += 6;
  if (framing == Framing::kRtu) {
    const uint16_t crc = ModbusCrc16(std::span<const uint8_t>(out.data(), 6));
    p[0] = static_cast<uint8_t>(crc & 0xFF);
    p[1] = static_cast<uint8_t>(crc >> 8);
    p += 2;
  }
  return static_cast<size_t>(p - out.data());
}

size_t HeadBytes(Framing framing) {
  return framing == Framing::kTcp ? kTcpHeadBytes : kRtuHeadBytes;
}

size_t AnswerLength(Framing framing, std::span<const uint8_t> head, const char** fault) {
  EDGE_CHECK(head.size() >= HeadBytes(framing));
  if (framing == Framing::kTcp) {
    if (Be16(head.data() + 2) != 0) {
      *fault = "MBAP protocol id is not 0 (not a Modbus answer)";
      return 0;
    }
    const size_t length = Be16(head.data() + 4);  // unit id + PDU
    if (length < 3 || length > 1 + kMaxPduBytes) {
      *fault = "MBAP length field outside 3..254";
      return 0;
    }
    return 6 + length;
  }
  const uint8_t function = head[1];
  if ((function & kExceptionBit) != 0) return 5;  // unit, function, code, CRC
  if (function < 0x01 || function > 0x04) {
    *fault = "function code is not a read's";
    return 0;
  }
  if (head[2] > kMaxPduBytes - 3) {  // function + byte count + data + ... within a PDU
    *fault = "byte count beyond the longest frame";
    return 0;
  }
  return kRtuHeadBytes + head[2] + 2;
}

AnswerVerdict CheckAnswer(Framing framing, const ExpectedAnswer& expected,
                          std::span<const uint8_t> adu, std::span<uint16_t> registers,
                          std::span<uint8_t> bits) {
  if (adu.size() < HeadBytes(framing)) return Malformed("answer shorter than its header");
  if (framing == Framing::kTcp) {
    const char* fault = "";
    if (AnswerLength(framing, adu, &fault) != adu.size()) {
      return Malformed(*fault != '\0' ? fault : "MBAP length field disagrees with the frame");
    }
    if (Be16(adu.data()) != expected.tid) return {VerdictKind::kOtherTransaction, 0, ""};
    if (adu[6] != expected.unit) return Malformed("unit id is not the request's");
    return CheckPdu(expected, adu.subspan(7), registers, bits);
  }
  if (adu.size() < 5) return Malformed("answer shorter than unit, function, one byte and CRC");
  const auto body = adu.first(adu.size() - 2);
  const uint16_t crc = static_cast<uint16_t>(adu[adu.size() - 2] | adu[adu.size() - 1] << 8);
  if (ModbusCrc16(body) != crc) return Malformed("CRC mismatch");
  if (adu[0] != expected.unit) return Malformed("unit id is not the request's");
  return CheckPdu(expected, body.subspan(1), registers, bits);
}

}  // namespace edge::drivers
