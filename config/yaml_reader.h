// Typed, position-aware reading of a parsed YAML tree, the layer under the configuration
// loader. It knows YAML and diagnostics, not the schema: the loader says which keys a mapping
// may hold and what type and range each value has; the reader checks it and records a
// Diagnostic at the offending node when it does not hold.
//
// Every accessor that finds a fault records it and returns std::nullopt, so that the caller
// skips that value and keeps going: one run reports every fault of a file, and a bad value
// does not also produce errors about the things built from it.
//
// Conventions the diagnostics follow (config/REFERENCE.md documents them for users):
//   - a message starts with the dotted key path: "modbus[0].tags[2].address: ...";
//   - a bad value is reported at the value, an unknown or duplicate key at the key, a missing
//     required key at the mapping that should hold it; an empty value (`key:`) at its key.
//
// YAML merge keys (`<<: *anchor`) are supported: the anchored mapping's keys apply where the
// mapping does not set them itself.
//
// This header exposes yaml-cpp types; it is included only by the config library's .cc files,
// which also catch every yaml-cpp exception.
//
// Thread-safety: a YamlReader and its DiagnosticSink are used by one thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/config_loader.h"

namespace edge::config::internal {

SourcePos PositionOf(const YAML::Mark& mark);

// A value at a key path, with the positions diagnostics need.
struct Field {
  std::string path;  // "modbus[0].tags[2].address"
  std::string key;   // the key text; "" for list items and the document root
  YAML::Node value;
  SourcePos key_pos;    // {0, 0} for list items and the document root
  SourcePos value_pos;  // for an empty value (`key:`), the key's position

  bool is_empty() const { return value.IsNull(); }
};

// Collects the diagnostics of one file.
class DiagnosticSink {
 public:
  explicit DiagnosticSink(std::string file) : file_(std::move(file)) {}

  void Add(SourcePos pos, std::string message);
  size_t size() const { return diagnostics_.size(); }
  // Sorted by position (stable), exact duplicates removed.
  std::vector<Diagnostic> Sorted() const;

 private:
  std::string file_;
  std::vector<Diagnostic> diagnostics_;
};

// The entries of one YAML mapping, after the duplicate and unknown keys have been reported.
class MapView {
 public:
  const std::string& path() const { return path_; }
  SourcePos pos() const { return pos_; }
  std::optional<Field> Get(std::string_view key) const;
  bool Has(std::string_view key) const { return Get(key).has_value(); }
  // Document order; keys pulled in by a merge key (<<) come after the mapping's own.
  const std::vector<Field>& fields() const { return fields_; }

 private:
  friend class YamlReader;
  std::string path_;
  SourcePos pos_;
  std::vector<Field> fields_;
  // Keys offered as "did you mean" for an unknown key: their absence is already reported.
  std::vector<std::string> suggested_;
};

// "parent.key", or parent["odd key"] for keys that are not plain identifiers.
std::string ChildPath(const std::string& parent, std::string_view key);

class YamlReader {
 public:
  explicit YamlReader(DiagnosticSink* sink) : sink_(sink) {}

  // "PATH: MESSAGE" at the value (ErrorAtKey: at the key, when there is one).
  void Error(const Field& f, std::string_view message);
  void ErrorAtKey(const Field& f, std::string_view message);

  // A mapping whose keys must be among `keys` (unknown keys are reported with a "did you
  // mean" suggestion). An empty value reads as an empty mapping.
  std::optional<MapView> Map(const Field& f, std::span<const std::string_view> keys);
  // A mapping with free-form keys (still checked for duplicates).
  std::optional<MapView> AnyMap(const Field& f);
  // The items of a list ("path[i]"). An empty value reads as an empty list.
  std::optional<std::vector<Field>> List(const Field& f);

  // The entry `key` of `map`; when absent records "PATH.key: required key is missing" at
  // the mapping (unless a misspelling of `key` was reported already).
  std::optional<Field> Require(const MapView& map, std::string_view key);

  // Any scalar, as written.
  std::optional<std::string> String(const Field& f);
  // A plain (unquoted) decimal or 0x-hex integer within [min, max].
  std::optional<int64_t> Integer(const Field& f, int64_t min, int64_t max);
  // A plain finite number.
  std::optional<double> Number(const Field& f);
  // true / false (also yes / no / on / off), unquoted.
  std::optional<bool> Bool(const Field& f);
  // config/units.h syntax, within [min, max].
  std::optional<Duration> DurationIn(const Field& f, Duration min, Duration max);
  // config/units.h syntax, at least `min`.
  std::optional<uint64_t> SizeAtLeast(const Field& f, uint64_t min);
  // The index of the value in `values` (exact spelling).
  std::optional<size_t> OneOf(const Field& f, std::span<const std::string_view> values);

 private:
  std::optional<MapView> ReadMap(const Field& f, std::span<const std::string_view> keys,
                                 bool check_keys);

  DiagnosticSink* sink_;
};

// Describes a node for "expected X, got Y" messages: "'abc'", "a list", "an empty value".
std::string Describe(const YAML::Node& node);

}  // namespace edge::config::internal
