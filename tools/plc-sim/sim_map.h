// The register map and replay script of plc-sim (tools/plc-sim/plc_sim.cc): which tags the
// simulated PLC holds, their initial values, and values that change over time.
//
// Map file, YAML (same vocabulary as a modbus tag of the agent's configuration, DESIGN §6):
//
//   tags:
//     - name: pump1.pressure
//       table: holding          # holding | input | coil | discrete
//       address: 0
//       type: float32           # bool int16 uint16 int32 uint32 int64 uint64 float32 float64 string
//       word_order: CDAB        # default ABCD
//       scale: 0.1              # default 1; the stored raw value is (value - offset) / scale
//       offset: 0               # default 0
//       bit: 3                  # bool on a register table
//       length: 8               # registers, for type string
//       value: 12.5             # initial engineering value (text for a string); default 0 / ""
//
// or CSV (a file whose name ends in .csv): a header naming columns among
//   name,table,address,type,word_order,scale,offset,bit,length,value
// (name, table, address, type required), one tag per row; fields cannot contain commas.
//
// Replay file, CSV: a header of tag names from the map (a first column named ts, timestamp,
// datetime or time is ignored), then one row of engineering values per step. An empty cell
// keeps the tag's previous value.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <modbus/modbus.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "core/status.h"

namespace edge::plcsim {

struct SimTag {
  config::ModbusTag tag;
  double value = 0;  // engineering value
  std::string text;  // for type string
};

// Reads a map file (YAML, or CSV by extension). Errors name the file, and the line where known.
[[nodiscard]] StatusOr<std::vector<SimTag>> LoadMap(const std::string& path);

struct ReplayCell {
  size_t tag;  // index into the map
  double value = 0;
  std::string text;
};

// One step: the cells that change.
using ReplayRow = std::vector<ReplayCell>;

[[nodiscard]] StatusOr<std::vector<ReplayRow>> LoadReplay(const std::string& path,
                                                          const std::vector<SimTag>& map);

// Encodes one tag's value into the mapping (drivers/modbus_codec.h's Encode).
// REQUIRES: the mapping covers addresses 0..65535 of every table.
[[nodiscard]] Status Store(modbus_mapping_t& mapping, const config::ModbusTag& tag, double value,
                           const std::string& text);

}  // namespace edge::plcsim
