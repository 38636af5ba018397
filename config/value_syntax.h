// The syntax of the string values in the configuration file, checked without YAML: names,
// broker URIs, HTTP URLs, host:port, MQTT topic filters, JSON pointers, MQTT tag-name
// templates, and the "did you mean" suggestion for misspelt keys and values.
//
// Errors are InvalidArgument Statuses whose message describes the fault of the value only
// ("missing port, e.g. tcp://broker:1883"); the loader prefixes the key path and position.
//
// Thread-safety: pure functions and immutable values.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/status.h"

namespace edge::config {

// The longest name (a tag, a device, a source, an asset, a model, a stream, a feature). Names
// become parts of MQTT topics, file names, metric labels and SQL values; 60,000-character tag
// names made from topic levels once cost 26 MiB of memory and 44 MB of disk for 300 names.
inline constexpr size_t kMaxNameBytes = 128;
// gateway.id is in every topic the agent publishes and in the default client ids
// (<gateway.id>-<source>): with its bound and kMaxNameBytes, the longest topic the agent builds
// is far below MQTT's 65,535 bytes.
inline constexpr size_t kMaxGatewayIdBytes = 64;
// A client id, given or defaulted. MQTT 3.1.1 leaves the limit to the broker: mosquitto takes
// 65,535 bytes, AWS IoT Core and Azure IoT Hub 128.
inline constexpr size_t kMaxClientIdBytes = 128;
// A topic prefix for published topics, and a subscription filter.
inline constexpr size_t kMaxTopicPrefixBytes = 128;
inline constexpr size_t kMaxTopicFilterBytes = 1024;

// [A-Za-z0-9_.-]{1,kMaxNameBytes} : gateway id, device / source / asset / model names, tag names.
bool IsValidName(std::string_view name);

// Why `name` is not a valid name of at most `max_bytes`: "" when it is; "longer than 128 bytes
// (60000)"; "has characters other than letters, digits, '_', '.', '-'"; "is empty".
std::string NameFault(std::string_view name, size_t max_bytes = kMaxNameBytes);

// "longer than 128 bytes (60000)": the fault of a value over its bound.
std::string TooLongFault(size_t size, size_t max_bytes);

// A repository model name, which becomes a URL segment (<url>/<model>/) and a directory
// (<data_dir>/models/<model>/): a name (above) of at most kMaxModelNameLength characters that does
// not start with '.', so that ".", ".." and hidden names can neither leave the repository prefix
// or the models folder nor hide in it. The message says which rule the name breaks.
inline constexpr size_t kMaxModelNameLength = 64;
[[nodiscard]] Status CheckModelName(std::string_view name);

// tcp://host:port or ssl://host:port; host is a name, IPv4 or [IPv6]; the port is required.
// (BrokerAddress is in config/config.h: BrokerConfig keeps the parsed address.)
[[nodiscard]] StatusOr<BrokerAddress> ParseBrokerUri(std::string_view uri);

// http(s)://host[:port]/path/ ending in '/'; no query, fragment or credentials.
[[nodiscard]] Status CheckRepositoryUrl(std::string_view url);

// host:port or [IPv6]:port, port 1..65535 (http.listen).
[[nodiscard]] Status CheckListenAddress(std::string_view address);

// A host name, IPv4 or IPv6 address without port or scheme (modbus host).
[[nodiscard]] Status CheckHost(std::string_view host);

// An MQTT subscription filter: '+' fills a whole level, '#' is the whole last level.
[[nodiscard]] Status CheckTopicFilter(std::string_view filter);

// A topic prefix for published topics: levels of plain text, no wildcards, no empty levels,
// no leading or trailing '/', not starting with '$'.
[[nodiscard]] Status CheckTopicPrefix(std::string_view prefix);

// RFC 6901: empty, or '/'-separated reference tokens with '~' only as "~0" or "~1".
[[nodiscard]] Status CheckJsonPointer(std::string_view pointer);

// An MQTT source tag name with {N} placeholders for topic levels ("{2}.vib_rms"): which tag
// names it can produce, given the levels of the source's topic filter.
class TagNameTemplate {
 public:
  // The template's syntax: name characters and {N}; N must address a level of `topic`
  // (any level at or beyond a trailing '#').
  [[nodiscard]] static StatusOr<TagNameTemplate> Parse(std::string_view name,
                                                       std::string_view topic);

  bool has_placeholders() const { return has_placeholders_; }
  // Whether some topic that matches the filter yields the tag name `name`.
  bool Matches(std::string_view name) const;

 private:
  struct Part {
    std::string literal;  // when level < 0
    int level = -1;
  };
  bool MatchFrom(size_t part, std::string_view rest) const;

  std::vector<Part> parts_;
  std::vector<std::string> topic_levels_;
  bool has_placeholders_ = false;
};

// The candidate closest to `word` (case-insensitive optimal string alignment distance), or ""
// when none is close enough to be a plausible typo for its length.
std::string ClosestMatch(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace edge::config
