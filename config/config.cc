#include "config/config.h"

#include "config/value_syntax.h"
#include "core/status.h"

namespace edge::config {

StatusOr<BrokerConfig> BrokerConfig::FromUri(std::string_view uri) {
  EDGE_ASSIGN_OR_RETURN(BrokerAddress address, ParseBrokerUri(uri));
  BrokerConfig broker;
  broker.uri = std::string(uri);
  broker.address = std::move(address);
  return broker;
}

uint16_t FixedRegisterCount(ModbusType type) {
  switch (type) {
    case ModbusType::kBool:  // one coil / discrete input, or one bit of one register
    case ModbusType::kInt16:
    case ModbusType::kUInt16:
      return 1;
    case ModbusType::kInt32:
    case ModbusType::kUInt32:
    case ModbusType::kFloat32:
      return 2;
    case ModbusType::kInt64:
    case ModbusType::kUInt64:
    case ModbusType::kFloat64:
      return 4;
    case ModbusType::kString:
      break;
  }
  EDGE_CHECK(false && "FixedRegisterCount of a string");
  return 0;
}

uint16_t RegisterCount(const ModbusTag& tag) {
  return tag.type == ModbusType::kString ? tag.length : FixedRegisterCount(tag.type);
}

std::string_view ModbusTableName(ModbusTable table) {
  switch (table) {
    case ModbusTable::kCoil:
      return "coil";
    case ModbusTable::kDiscreteInput:
      return "discrete";
    case ModbusTable::kInputRegister:
      return "input";
    case ModbusTable::kHoldingRegister:
      return "holding";
  }
  return "?";
}

std::string_view ModbusTypeName(ModbusType type) {
  switch (type) {
    case ModbusType::kBool:
      return "bool";
    case ModbusType::kInt16:
      return "int16";
    case ModbusType::kUInt16:
      return "uint16";
    case ModbusType::kInt32:
      return "int32";
    case ModbusType::kUInt32:
      return "uint32";
    case ModbusType::kInt64:
      return "int64";
    case ModbusType::kUInt64:
      return "uint64";
    case ModbusType::kFloat32:
      return "float32";
    case ModbusType::kFloat64:
      return "float64";
    case ModbusType::kString:
      return "string";
  }
  return "?";
}

std::string_view WordOrderName(WordOrder order) {
  switch (order) {
    case WordOrder::kABCD:
      return "ABCD";
    case WordOrder::kCDAB:
      return "CDAB";
    case WordOrder::kBADC:
      return "BADC";
    case WordOrder::kDCBA:
      return "DCBA";
  }
  return "?";
}

}  // namespace edge::config
