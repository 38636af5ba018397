// What the section readers of one configuration load share (config/section_readers.h): the
// diagnostics and the YAML reader, the directory relative paths start at, the tag names defined
// so far (unique across Modbus devices and MQTT sources; a deployment input must name one), the
// MQTT connections (two clients with one id on one broker is an error), and the value checks
// every section uses. Names unique within one section (devices, sources, assets) are kept by
// that section's reader.
//
// This header exposes yaml-cpp types (config/yaml_reader.h); it is included only by the config
// library's .cc files.
//
// Thread-safety: one LoaderContext per load, used by one thread.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/file_checks.h"
#include "config/value_syntax.h"
#include "config/yaml_reader.h"
#include "core/status.h"

namespace edge::config::internal {

// Name -> where it was first defined, for the duplicate-name checks.
using NameTable = std::map<std::string, SourcePos>;

// A value check of config/value_syntax.h ("missing port, e.g. tcp://broker:1883").
using ValueCheck = Status (*)(std::string_view);

class LoaderContext {
 public:
  // `base_dir`: where relative paths start ("" means the current directory).
  LoaderContext(DiagnosticSink* sink, const std::string& base_dir);

  LoaderContext(const LoaderContext&) = delete;
  LoaderContext& operator=(const LoaderContext&) = delete;

  DiagnosticSink& sink() { return *sink_; }
  YamlReader& reader() { return reader_; }

  // Whether the file has an upstream section (even a broken one): what is missing without it
  // is reported, what depends on a broken one is not (that is reported already).
  bool upstream_present() const { return upstream_present_; }
  void set_upstream_present(bool present) { upstream_present_ = present; }

  // ---- common value checks: each reports its fault at `f` and returns nullopt / false ----

  // A string that IsValidName accepts (at most `max_bytes`); `what` names it in the message
  // ("device name").
  std::optional<std::string> Name(const Field& f, std::string_view what,
                                  size_t max_bytes = kMaxNameBytes);
  std::optional<std::string> NonEmptyString(const Field& f);
  // A string that `check` accepts; a rejected one is reported with the value quoted.
  std::optional<std::string> CheckedString(const Field& f, ValueCheck check);
  // The required key `key` of `m` as a string that `check` accepts.
  std::optional<std::string> RequireChecked(const MapView& m, std::string_view key,
                                            ValueCheck check);
  // Reads the required name at `key` of `m` into `out`; false if it is missing, not a valid
  // name, or already in `seen` (a duplicate `kind` name).
  bool ReadUniqueName(const MapView& m, std::string_view key, std::string_view what,
                      NameTable* seen, std::string_view kind, std::string* out);
  // Reads the required, non-empty list `tags` of `m` with `read_tag` (which reports its own
  // errors and returns nullopt for a bad tag); false if anything was wrong.
  template <typename Tag, typename ReadTag>
  bool ReadTags(const MapView& m, std::string_view empty_message, std::vector<Tag>* out,
                ReadTag read_tag);

  static std::string ChildPathOf(const MapView& m, std::string_view key) {
    return ChildPath(m.path(), key);
  }

  // ---- referenced files (config/file_checks.h): the resolved absolute path ----

  std::string Resolve(const std::string& path) const { return ResolvePath(base_dir_, path); }
  std::optional<std::string> ReadableFile(const Field& f);
  std::optional<std::string> SecretFile(const Field& f);
  std::optional<std::string> PackageDir(const Field& f);
  // A readable PEM public key file.
  std::optional<std::string> PublicKeyFile(const Field& f);

  // ---- tag names ----

  // Records the tag `name` defined at `f`; a second definition is reported. Templates
  // ("{1}.rms") are recorded as written.
  void RegisterTag(const Field& f, const std::string& name);
  // A template that can produce tag names (an MQTT source tag with placeholders).
  void AddTagTemplate(TagNameTemplate t) { templates_.push_back(std::move(t)); }
  // Some tag could not be read: an unknown tag reference may be that tag, so it is not reported.
  void MarkTagsIncomplete() { tags_complete_ = false; }
  // reader().Map / List for a node that holds tags (a device, a source, a tag, their lists): on
  // failure the tags are marked incomplete too.
  std::optional<MapView> TagHoldingMap(const Field& f, std::span<const std::string_view> keys);
  std::optional<std::vector<Field>> TagHoldingList(const Field& f);
  // The tag a deployment input names: a Modbus or MQTT tag, or a name an MQTT tag template
  // can produce.
  std::optional<std::string> TagReference(const Field& f);

  // ---- MQTT connections ----

  // Records the connection of the section `m` for CheckClientIds.
  void AddConnection(const MapView& m, const BrokerConfig& b);
  // Two clients with one id on one broker: the broker disconnects the older one, forever.
  void CheckClientIds();

 private:
  // The file at `f`, resolved, if `check` (config/file_checks.h) accepts it.
  std::optional<std::string> CheckedFile(const Field& f,
                                         Status (*check)(const std::string&, const std::string&));

  struct TagDef {
    SourcePos pos;
    std::string path;
  };
  // One MQTT connection, for the client-id collision check.
  struct Connection {
    std::string path;  // "upstream", "mqtt_sources[1]"
    std::string uri;
    std::string client_id;
    SourcePos pos;        // the client_id value, or the mapping when it is defaulted
    std::string id_path;  // "mqtt_sources[1].client_id"
  };

  DiagnosticSink* sink_;
  YamlReader reader_;
  std::filesystem::path base_dir_;
  bool upstream_present_ = false;
  std::map<std::string, TagDef> tag_defs_;
  std::vector<TagNameTemplate> templates_;
  bool tags_complete_ = true;
  std::vector<Connection> connections_;
};

template <typename Tag, typename ReadTag>
bool LoaderContext::ReadTags(const MapView& m, std::string_view empty_message,
                             std::vector<Tag>* out, ReadTag read_tag) {
  auto tags = reader_.Require(m, "tags");
  if (!tags) return false;
  auto items = TagHoldingList(*tags);
  if (!items) return false;
  if (items->empty()) reader_.Error(*tags, empty_message);
  bool ok = true;
  for (const Field& item : *items) {
    if (std::optional<Tag> tag = read_tag(item)) {
      out->push_back(std::move(*tag));
    } else {
      ok = false;
    }
  }
  return ok;
}

// "line 12", for "first defined at line 12".
std::string LineRef(SourcePos pos);

// "'a b' is not a valid tag name (letters, digits, '_', '.', '-')" for the NameFault `fault`.
std::string NameError(std::string_view name, std::string_view what, const std::string& fault);

}  // namespace edge::config::internal
