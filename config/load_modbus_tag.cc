// One tag of a Modbus device: where it lives (table, address, bit) and how its registers decode
// (type, length, word order, scale, offset). Table and type are read first: every other key is
// checked against them, and a fault is reported once, at the key that contradicts them.
#include "config/section_readers.h"
#include "config/value_syntax.h"
#include "core/quoted.h"

namespace edge::config::internal {
namespace {

constexpr std::string_view kModbusTagKeys[] = {"name", "table",  "address", "type",  "word_order",
                                               "bit",  "length", "scale",   "offset"};
// Index order matches the enums in config.h.
constexpr std::string_view kTables[] = {"holding", "input", "coil", "discrete"};
constexpr ModbusTable kTableValues[] = {ModbusTable::kHoldingRegister, ModbusTable::kInputRegister,
                                        ModbusTable::kCoil, ModbusTable::kDiscreteInput};
constexpr std::string_view kTypes[] = {"bool",  "int16",  "uint16",  "int32",   "uint32",
                                       "int64", "uint64", "float32", "float64", "string"};
constexpr ModbusType kTypeValues[] = {
    ModbusType::kBool,    ModbusType::kInt16, ModbusType::kUInt16, ModbusType::kInt32,
    ModbusType::kUInt32,  ModbusType::kInt64, ModbusType::kUInt64, ModbusType::kFloat32,
    ModbusType::kFloat64, ModbusType::kString};
constexpr std::string_view kWordOrders[] = {"ABCD", "CDAB", "BADC", "DCBA"};
constexpr WordOrder kWordOrderValues[] = {WordOrder::kABCD, WordOrder::kCDAB, WordOrder::kBADC,
                                          WordOrder::kDCBA};

constexpr int kMaxStringRegisters = 125;  // one Modbus read request

bool IsRegisterTable(ModbusTable t) {
  return t == ModbusTable::kHoldingRegister || t == ModbusTable::kInputRegister;
}

bool Is16Bit(ModbusType t) { return t == ModbusType::kInt16 || t == ModbusType::kUInt16; }

// "holding register", "discrete input": the table in running text.
std::string TableNoun(ModbusTable t) {
  switch (t) {
    case ModbusTable::kCoil:
      return "coil";
    case ModbusTable::kDiscreteInput:
      return "discrete input";
    case ModbusTable::kInputRegister:
      return "input register";
    case ModbusTable::kHoldingRegister:
      return "holding register";
  }
  return "register";
}

// Reads one tag mapping. Each step reports its own faults and returns false when the tag is
// unusable; the steps after it still run, so that one pass reports every fault.
class ModbusTagReader {
 public:
  ModbusTagReader(LoaderContext* ctx, const MapView& m, int max_registers)
      : ctx_(ctx), reader_(ctx->reader()), m_(m), max_registers_(max_registers) {}

  std::optional<ModbusTag> Read();

 private:
  bool ReadName();
  // table and type; sets table_ok_, type_ok_ and the names used in messages.
  void ReadShape();
  bool CheckTypeFitsTable();
  bool ReadBit();
  bool ReadLength();
  bool ReadWordOrder();
  bool ReadScaleAndOffset();
  bool ReadAddress();

  bool shape_ok() const { return table_ok_ && type_ok_; }

  LoaderContext* ctx_;
  YamlReader& reader_;
  const MapView& m_;
  const int max_registers_;
  ModbusTag tag_;
  std::optional<Field> type_;
  std::optional<Field> bit_;
  std::optional<Field> length_;
  bool table_ok_ = true;  // false when the table key is bad (reported)
  bool type_ok_ = true;   // false when the type key is bad (reported)
  std::string table_noun_;
  std::string type_name_;
};

std::optional<ModbusTag> ModbusTagReader::Read() {
  tag_.pos = m_.pos();
  bool ok = ReadName();
  ReadShape();
  ok &= CheckTypeFitsTable();
  ok &= ReadBit();
  ok &= ReadLength();
  ok &= ReadWordOrder();
  ok &= ReadScaleAndOffset();
  ok &= ReadAddress();
  if (!ok) return std::nullopt;
  return std::move(tag_);
}

bool ModbusTagReader::ReadName() {
  auto name = reader_.Require(m_, "name");
  auto s = name ? reader_.String(*name) : std::nullopt;
  if (!s) {
    ctx_->MarkTagsIncomplete();
    return false;
  }
  ctx_->RegisterTag(*name, *s);
  if (std::string fault = NameFault(*s); !fault.empty()) {
    reader_.Error(*name, NameError(*s, "tag name", fault));
    return false;
  }
  tag_.name = *s;
  return true;
}

void ModbusTagReader::ReadShape() {
  if (auto table = m_.Get("table")) {
    if (auto i = reader_.OneOf(*table, kTables)) {
      tag_.table = kTableValues[*i];
    } else {
      table_ok_ = false;
    }
  }
  bit_ = m_.Get("bit");
  type_ = m_.Get("type");
  if (type_) {
    if (auto i = reader_.OneOf(*type_, kTypes)) {
      tag_.type = kTypeValues[*i];
    } else {
      type_ok_ = false;
    }
  } else if (!IsRegisterTable(tag_.table) || bit_) {
    tag_.type = ModbusType::kBool;  // a coil, a discrete input, or one bit of a register
  }
  table_noun_ = TableNoun(tag_.table);
  type_name_ = std::string(ModbusTypeName(tag_.type));
}

bool ModbusTagReader::CheckTypeFitsTable() {
  if (shape_ok() && !IsRegisterTable(tag_.table) && tag_.type != ModbusType::kBool) {
    reader_.Error(*type_,
                  "a " + table_noun_ + " is a single bit; its type is bool, not " + type_name_);
    return false;
  }
  return true;
}

bool ModbusTagReader::ReadBit() {
  if (!bit_) {
    if (shape_ok() && IsRegisterTable(tag_.table) && tag_.type == ModbusType::kBool) {
      reader_.Error(*type_,
                    "bool on " +
                        std::string(tag_.table == ModbusTable::kInputRegister ? "an " : "a ") +
                        table_noun_ + " needs bit: 0..15 (which bit of the register)");
      return false;
    }
    return true;
  }
  auto v = reader_.Integer(*bit_, 0, 15);
  if (!v) return false;
  if (table_ok_ && !IsRegisterTable(tag_.table)) {
    reader_.ErrorAtKey(*bit_, "applies to holding and input registers; a " + table_noun_ +
                                  " is already a single bit");
    return false;
  }
  if (type_ok_ && tag_.type != ModbusType::kBool) {
    reader_.ErrorAtKey(*bit_,
                       "needs type bool (it reads one bit of the register), not " + type_name_);
    return false;
  }
  tag_.bit = static_cast<uint8_t>(*v);
  return true;
}

bool ModbusTagReader::ReadLength() {
  length_ = m_.Get("length");
  if (!length_) {
    if (shape_ok() && tag_.type == ModbusType::kString) {
      ctx_->sink().Add(m_.pos(), LoaderContext::ChildPathOf(m_, "length") +
                                     ": required for type string (registers, two characters "
                                     "each, 1..125)");
      return false;
    }
    return true;
  }
  auto v = reader_.Integer(*length_, 1, kMaxStringRegisters);
  if (!v) return false;
  if (type_ok_ && tag_.type != ModbusType::kString) {
    reader_.ErrorAtKey(*length_, "applies to type string only, not " + type_name_);
    return false;
  }
  tag_.length = static_cast<uint16_t>(*v);
  return true;
}

bool ModbusTagReader::ReadWordOrder() {
  auto wo = m_.Get("word_order");
  if (!wo) return true;
  auto i = reader_.OneOf(*wo, kWordOrders);
  if (!i) return false;
  tag_.word_order = kWordOrderValues[*i];
  if (type_ok_ && tag_.type == ModbusType::kBool) {
    reader_.ErrorAtKey(*wo, "does not apply to bool tags");
    return false;
  }
  if (type_ok_ && (Is16Bit(tag_.type) || tag_.type == ModbusType::kString) &&
      tag_.word_order == WordOrder::kCDAB) {
    // Within one register only the byte order means something (BADC, or DCBA, swaps the two
    // bytes; for strings: low byte first). CDAB would silently do nothing.
    reader_.Error(*wo, "CDAB swaps 16-bit words, which " + type_name_ +
                           (tag_.type == ModbusType::kString
                                ? " does not have (use BADC for low byte first)"
                                : " does not have (use BADC to swap its two bytes)"));
    return false;
  }
  return true;
}

bool ModbusTagReader::ReadScaleAndOffset() {
  bool ok = true;
  for (std::string_view key : {"scale", "offset"}) {
    auto f = m_.Get(key);
    if (!f) continue;
    auto v = reader_.Number(*f);
    if (!v) {
      ok = false;
      continue;
    }
    const double neutral = key == "scale" ? 1.0 : 0.0;
    if (type_ok_ && (tag_.type == ModbusType::kBool || tag_.type == ModbusType::kString) &&
        *v != neutral) {
      reader_.ErrorAtKey(*f, "applies to numeric types, not " + type_name_);
      ok = false;
    } else if (key == "scale" && *v == 0.0) {
      reader_.Error(*f, "0 would turn every reading into the offset");
      ok = false;
    } else {
      (key == "scale" ? tag_.scale : tag_.offset) = *v;
    }
  }
  return ok;
}

bool ModbusTagReader::ReadAddress() {
  auto addr = reader_.Require(m_, "address");
  if (!addr) return false;
  auto v = reader_.Integer(*addr, 0, 65535);
  if (!v) return false;
  tag_.address = static_cast<uint16_t>(*v);
  const bool count_known = shape_ok() && (tag_.type != ModbusType::kString || tag_.length > 0);
  if (!count_known || !IsRegisterTable(tag_.table)) return true;
  const int count = RegisterCount(tag_);
  if (*v + count > 65536) {
    reader_.Error(*addr, std::to_string(*v) + " + " + std::to_string(count) +
                             " registers exceeds the " + std::string(ModbusTableName(tag_.table)) +
                             " table (max address 65535)");
    return false;
  }
  if (count > max_registers_) {
    // Reported at what makes the tag long: its length, else its type.
    const Field& at = tag_.type == ModbusType::kString && length_ ? *length_
                      : type_                                     ? *type_
                                                                  : *addr;
    reader_.Error(at, type_name_ + " needs " + std::to_string(count) +
                          " registers in one request, but max_registers_per_request is " +
                          std::to_string(max_registers_));
    return false;
  }
  return true;
}

}  // namespace

std::optional<ModbusTag> ReadModbusTag(LoaderContext* ctx, const Field& f, int max_registers) {
  auto m = ctx->TagHoldingMap(f, kModbusTagKeys);
  if (!m) return std::nullopt;
  return ModbusTagReader(ctx, *m, max_registers).Read();
}

}  // namespace edge::config::internal
