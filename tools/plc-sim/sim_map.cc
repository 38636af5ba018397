#include "tools/plc-sim/sim_map.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>

#include "drivers/modbus_codec.h"

namespace edge::plcsim {
namespace {

using config::ModbusTable;
using config::ModbusTag;
using config::ModbusType;

std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, ',')) {
    while (!cell.empty() && (cell.back() == '\r' || cell.back() == ' ')) cell.pop_back();
    while (!cell.empty() && cell.front() == ' ') cell.erase(cell.begin());
    out.push_back(cell);
  }
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

std::optional<double> ParseNumber(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);  // accepts nan, inf, 1e3, 0x10
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

// Fills and checks a tag from named fields (YAML keys or CSV columns).
Status BuildTag(const std::map<std::string, std::string>& fields, SimTag& out) {
  const auto get = [&](const char* key) -> const std::string* {
    const auto it = fields.find(key);
    return it == fields.end() || it->second.empty() ? nullptr : &it->second;
  };
  for (const auto& [key, value] : fields) {
    static const char* const kKnown[] = {"name",  "table",  "address", "type",   "word_order",
                                         "scale", "offset", "bit",     "length", "value"};
    bool known = false;
    for (const char* k : kKnown) known |= key == k;
    if (!known) return Status::InvalidArgument(fmt::format("unknown key '{}'", key));
  }
  ModbusTag& tag = out.tag;
  for (const char* required : {"name", "table", "address", "type"}) {
    if (get(required) == nullptr) {
      return Status::InvalidArgument(fmt::format("missing '{}'", required));
    }
  }
  tag.name = *get("name");
  const auto table = drivers::ParseTable(*get("table"));
  if (!table) return Status::InvalidArgument(fmt::format("unknown table '{}'", *get("table")));
  tag.table = *table;
  const auto type = drivers::ParseType(*get("type"));
  if (!type) return Status::InvalidArgument(fmt::format("unknown type '{}'", *get("type")));
  tag.type = *type;
  const auto address = ParseNumber(*get("address"));
  if (!address || *address < 0 || *address > 65535 || *address != static_cast<int>(*address)) {
    return Status::InvalidArgument(fmt::format("bad address '{}'", *get("address")));
  }
  tag.address = static_cast<uint16_t>(*address);
  if (const std::string* order = get("word_order")) {
    const auto parsed = drivers::ParseWordOrder(*order);
    if (!parsed) return Status::InvalidArgument(fmt::format("unknown word_order '{}'", *order));
    tag.word_order = *parsed;
  }
  for (const auto& [key, target] : {std::pair{"scale", &tag.scale}, {"offset", &tag.offset}}) {
    if (const std::string* text = get(key)) {
      const auto v = ParseNumber(*text);
      if (!v) return Status::InvalidArgument(fmt::format("bad {} '{}'", key, *text));
      *target = *v;
    }
  }
  if (tag.scale == 0) return Status::InvalidArgument("scale must not be 0");
  if (const std::string* text = get("bit")) {
    const auto v = ParseNumber(*text);
    if (!v || *v < 0 || *v > 15 || *v != static_cast<int>(*v)) {
      return Status::InvalidArgument(fmt::format("bad bit '{}' (0..15)", *text));
    }
    tag.bit = static_cast<uint8_t>(*v);
  }
  if (const std::string* text = get("length")) {
    const auto v = ParseNumber(*text);
    if (!v || *v < 1 || *v > drivers::kMaxTagRegisters || *v != static_cast<int>(*v)) {
      return Status::InvalidArgument(
          fmt::format("bad length '{}' (1..{})", *text, drivers::kMaxTagRegisters));
    }
    tag.length = static_cast<uint16_t>(*v);
  }
  const bool bits = drivers::IsBitTable(tag.table);
  if (bits && tag.type != ModbusType::kBool) {
    return Status::InvalidArgument("coil and discrete tables hold type bool only");
  }
  if (tag.type == ModbusType::kString && tag.length == 0) {
    return Status::InvalidArgument("type string needs 'length' (registers)");
  }
  if (static_cast<uint32_t>(tag.address) + config::RegisterCount(tag) > 65536) {
    return Status::InvalidArgument("runs past address 65535");
  }
  if (const std::string* text = get("value")) {
    if (tag.type == ModbusType::kString) {
      out.text = *text;
    } else {
      const auto v = ParseNumber(*text);
      if (!v) return Status::InvalidArgument(fmt::format("bad value '{}'", *text));
      out.value = *v;
    }
  }
  return Status::Ok();
}

StatusOr<std::vector<SimTag>> LoadYamlMap(const std::string& path) {
  std::vector<SimTag> tags;
  try {
    const YAML::Node root = YAML::LoadFile(path);
    const YAML::Node list = root["tags"];
    if (!list || !list.IsSequence()) {
      return Status::InvalidArgument(fmt::format("{}: expected a 'tags:' list", path));
    }
    for (const YAML::Node& node : list) {
      const int line = node.Mark().line + 1;
      if (!node.IsMap()) {
        return Status::InvalidArgument(fmt::format("{}:{}: a tag must be a mapping", path, line));
      }
      std::map<std::string, std::string> fields;
      for (const auto& kv : node) {
        if (!kv.second.IsScalar()) {
          return Status::InvalidArgument(
              fmt::format("{}:{}: '{}' must be a scalar", path, line, kv.first.as<std::string>()));
        }
        fields[kv.first.as<std::string>()] = kv.second.as<std::string>();
      }
      SimTag tag;
      if (Status s = BuildTag(fields, tag); !s.ok()) {
        return Status::InvalidArgument(fmt::format("{}:{}: {}", path, line, s.message()));
      }
      tags.push_back(std::move(tag));
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(fmt::format("{}: {}", path, e.what()));
  }
  return tags;
}

StatusOr<std::vector<SimTag>> LoadCsvMap(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(fmt::format("{}: cannot open", path));
  std::string line;
  if (!std::getline(in, line)) return Status::InvalidArgument(fmt::format("{}: empty", path));
  const std::vector<std::string> header = SplitCsv(line);
  std::vector<SimTag> tags;
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> cells = SplitCsv(line);
    if (cells.size() > header.size()) {
      return Status::InvalidArgument(fmt::format("{}:{}: more cells than columns", path, line_no));
    }
    std::map<std::string, std::string> fields;
    for (size_t i = 0; i < cells.size(); ++i) fields[header[i]] = cells[i];
    SimTag tag;
    if (Status s = BuildTag(fields, tag); !s.ok()) {
      return Status::InvalidArgument(fmt::format("{}:{}: {}", path, line_no, s.message()));
    }
    tags.push_back(std::move(tag));
  }
  return tags;
}

Status CheckFits(const ModbusTag& tag, double value, const std::string& text) {
  if (drivers::IsBitTable(tag.table)) return Status::Ok();
  uint16_t scratch[drivers::kMaxTagRegisters] = {};
  const std::span<uint16_t> regs(scratch, config::RegisterCount(tag));
  if (tag.type == ModbusType::kString) return drivers::EncodeString(text, tag.word_order, regs);
  return drivers::EncodeRegisters(tag, value, regs);
}

}  // namespace

StatusOr<std::vector<SimTag>> LoadMap(const std::string& path) {
  const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  StatusOr<std::vector<SimTag>> tags = csv ? LoadCsvMap(path) : LoadYamlMap(path);
  if (!tags.ok()) return tags;
  std::map<std::string, int> seen;
  for (const SimTag& t : *tags) {
    if (seen[t.tag.name]++ > 0) {
      return Status::InvalidArgument(
          fmt::format("{}: tag '{}' is defined twice", path, t.tag.name));
    }
    if (Status s = CheckFits(t.tag, t.value, t.text); !s.ok()) {
      return Status::InvalidArgument(fmt::format("{}: {}", path, s.message()));
    }
  }
  return tags;
}

StatusOr<std::vector<ReplayRow>> LoadReplay(const std::string& path,
                                            const std::vector<SimTag>& map) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(fmt::format("{}: cannot open", path));
  std::string line;
  if (!std::getline(in, line)) return Status::InvalidArgument(fmt::format("{}: empty", path));
  const std::vector<std::string> header = SplitCsv(line);
  std::vector<std::optional<size_t>> columns;  // column -> map index; nullopt: ignored
  for (size_t c = 0; c < header.size(); ++c) {
    const std::string& name = header[c];
    if (c == 0 && (name == "ts" || name == "timestamp" || name == "datetime" || name == "time")) {
      columns.emplace_back();
      continue;
    }
    std::optional<size_t> index;
    for (size_t i = 0; i < map.size(); ++i) {
      if (map[i].tag.name == name) index = i;
    }
    if (!index) {
      return Status::InvalidArgument(
          fmt::format("{}:1: column '{}' is not a tag of the map", path, name));
    }
    columns.push_back(index);
  }
  std::vector<ReplayRow> rows;
  for (int line_no = 2; std::getline(in, line); ++line_no) {
    if (line.empty() || line == "\r") continue;
    const std::vector<std::string> cells = SplitCsv(line);
    if (cells.size() > columns.size()) {
      return Status::InvalidArgument(fmt::format("{}:{}: more cells than columns", path, line_no));
    }
    ReplayRow row;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (!columns[c] || cells[c].empty()) continue;
      ReplayCell cell{*columns[c], 0, {}};
      if (map[cell.tag].tag.type == ModbusType::kString) {
        cell.text = cells[c];
      } else {
        const auto v = ParseNumber(cells[c]);
        if (!v) {
          return Status::InvalidArgument(fmt::format("{}:{}: column '{}': bad number '{}'", path,
                                                     line_no, header[c], cells[c]));
        }
        cell.value = *v;
      }
      // Check that the value fits the tag now rather than halfway through a replay.
      if (Status s = CheckFits(map[cell.tag].tag, cell.value, cell.text); !s.ok()) {
        return Status::InvalidArgument(fmt::format("{}:{}: {}", path, line_no, s.message()));
      }
      row.push_back(std::move(cell));
    }
    rows.push_back(std::move(row));
  }
  if (rows.empty()) return Status::InvalidArgument(fmt::format("{}: no data rows", path));
  return rows;
}

Status Store(modbus_mapping_t& mapping, const ModbusTag& tag, double value,
             const std::string& text) {
  switch (tag.table) {
    case ModbusTable::kCoil:
      mapping.tab_bits[tag.address] = drivers::EncodeBit(tag, value) ? 1 : 0;
      return Status::Ok();
    case ModbusTable::kDiscreteInput:
      mapping.tab_input_bits[tag.address] = drivers::EncodeBit(tag, value) ? 1 : 0;
      return Status::Ok();
    case ModbusTable::kHoldingRegister:
    case ModbusTable::kInputRegister:
      break;
  }
  uint16_t* table = tag.table == ModbusTable::kHoldingRegister ? mapping.tab_registers
                                                               : mapping.tab_input_registers;
  const std::span<uint16_t> regs(table + tag.address, config::RegisterCount(tag));
  if (tag.type == ModbusType::kString) {
    return drivers::EncodeString(text, tag.word_order, regs);
  }
  return drivers::EncodeRegisters(tag, value, regs);
}

}  // namespace edge::plcsim
