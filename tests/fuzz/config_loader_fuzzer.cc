// libFuzzer target for the YAML configuration loader (config/config_loader.h): every input is a
// technician's agent.yaml and takes the whole path `edge-agent check-config` takes (yaml-cpp
// parse, key checks, units, ranges, cross references, referenced files). Relative paths resolve
// in a directory that CMake fills with links to the files the seeds name (config/examples/keys,
// tests/config/bad/data), so accepted configurations are reachable.
//
// It must never crash, leak or trip a sanitizer, and it checks what callers rely on:
//   - a configuration is returned exactly when there are no diagnostics;
//   - every diagnostic names the file, a line (within the file) and column >= 1 and a message,
//     sorted by position;
//   - no "internal error" (a yaml-cpp exception escaping the loader's own code is a loader bug);
//   - an accepted configuration can be run: every Modbus device's tags plan into read requests
//     (drivers/request_planner.h) and each tag meets the codec's REQUIRES (finite scale and
//     offset, scale not 0, bit 0..15 only on a bool of a register table, string length 1..125).
// A violation aborts.
//
// Inputs that name device or kernel files (/dev, /proc, /sys, /run) are skipped: the loader
// opens referenced files, and /dev/stdin or a FIFO would block the fuzzer rather than test it.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>

#include "config/config_loader.h"
#include "drivers/modbus_codec.h"
#include "drivers/request_planner.h"

#ifndef EDGE_FUZZ_CONFIG_BASE
#error "EDGE_FUZZ_CONFIG_BASE (the directory relative paths resolve in) must be defined"
#endif

namespace {

using edge::config::ModbusTable;
using edge::config::ModbusTag;
using edge::config::ModbusType;

constexpr std::string_view kSpecialDirs[] = {"/dev", "/proc", "/sys", "/run"};

bool NamesSpecialFiles(std::string_view text) {
  for (std::string_view dir : kSpecialDirs) {
    if (text.find(dir) != std::string_view::npos) return true;
  }
  return false;
}

// Escapes in double-quoted scalars ("\x2fdev") can spell a path the raw text does not contain:
// look at the parsed scalars. `budget` bounds the walk (aliases can share subtrees).
bool ScalarsNameSpecialFiles(const YAML::Node& node, int depth, int& budget) {
  if (depth > 64 || --budget < 0) return true;  // too deep or too large to be sure: skip
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return NamesSpecialFiles(node.Scalar());
    case YAML::NodeType::Sequence:
      for (const YAML::Node& item : node) {
        if (ScalarsNameSpecialFiles(item, depth + 1, budget)) return true;
      }
      return false;
    case YAML::NodeType::Map:
      for (const auto& kv : node) {
        if (ScalarsNameSpecialFiles(kv.first, depth + 1, budget) ||
            ScalarsNameSpecialFiles(kv.second, depth + 1, budget)) {
          return true;
        }
      }
      return false;
    default:
      return false;
  }
}

bool MustSkip(std::string_view yaml) {
  if (NamesSpecialFiles(yaml)) return true;
  if (yaml.find('\\') == std::string_view::npos) return false;
  try {
    // Only the first document is read for paths (a second one is an error). Not LoadAll: it
    // never returns on some malformed streams (see LoadDocuments in config/yaml_diagnostics.cc).
    int budget = 100000;
    return ScalarsNameSpecialFiles(YAML::Load(std::string(yaml)), 0, budget);
  } catch (const std::exception&) {
    return false;  // not valid YAML: the loader reads no file
  }
}

void Require(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) {
    std::fprintf(stderr, "config_loader_fuzzer: %s %.*s\n", what, static_cast<int>(detail.size()),
                 detail.data());
    std::abort();
  }
}

// The codec's REQUIRES for a tag the poller will decode.
bool Decodable(const ModbusTag& tag) {
  if (edge::drivers::IsBitTable(tag.table)) return tag.type == ModbusType::kBool && !tag.bit;
  if (tag.type == ModbusType::kString) return tag.length >= 1 && tag.length <= 125;
  if (tag.type == ModbusType::kBool) return tag.bit && *tag.bit <= 15;
  return !tag.bit && tag.scale != 0.0 && std::isfinite(tag.scale) && std::isfinite(tag.offset);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  if (MustSkip(yaml)) return 0;
  const std::string display = "agent.yaml";
  const edge::config::LoadResult result =
      edge::config::LoadConfigString(yaml, display, EDGE_FUZZ_CONFIG_BASE);

  const auto lines = static_cast<int>(std::count(yaml.begin(), yaml.end(), '\n')) + 1;
  Require(result.ok() == result.config.has_value(), "config set but errors reported, or neither");
  for (size_t i = 0; i < result.errors.size(); ++i) {
    const edge::config::Diagnostic& d = result.errors[i];
    Require(d.file == display, "diagnostic names another file:", d.file);
    Require(d.line >= 1 && d.column >= 1, "diagnostic without a position:", d.message);
    Require(d.line <= lines + 1, "diagnostic after the end of the file:", d.message);
    Require(!d.message.empty(), "diagnostic without a message");
    Require(d.message.rfind("internal error while reading", 0) != 0, "loader bug:", d.message);
    if (i > 0) {
      const edge::config::Diagnostic& p = result.errors[i - 1];
      Require(std::tie(p.line, p.column) <= std::tie(d.line, d.column),
              "diagnostics not sorted by position");
    }
  }
  if (!result.config) return 0;

  const edge::config::AgentConfig& config = *result.config;
  Require(config.path == display, "config.path is not the display path");
  for (const edge::config::ModbusDevice& device : config.modbus) {
    for (const ModbusTag& tag : device.tags) {
      Require(Decodable(tag), "accepted tag the codec cannot decode:", tag.name);
    }
    auto plan = edge::drivers::PlanReads(device.tags, edge::drivers::LimitsFor(device));
    Require(plan.ok(), "accepted device whose tags do not plan:", plan.status().message());
  }
  return 0;
}
