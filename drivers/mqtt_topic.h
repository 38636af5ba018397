// MQTT topic filters and tag name templates, as an MQTT source applies them to each message:
// does a topic match the source's filter, and which tag name does a template such as
// "{2}.vib_rms" give for topic "plant1/line3/pump7/vib" ("pump7.vib_rms").
//
// The configuration loader has already checked the syntax of both (config/value_syntax.h); here
// they are compiled once into a form that needs no allocation per message beyond the name
// being built (the caller passes a std::string to reuse).
//
// Thread-safety: immutable after construction; const methods are safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace edge::drivers {

// Splits "a/b/c" into {"a","b","c"}; "" is one empty level, "a/" is {"a", ""}, as in MQTT.
// `levels` is cleared first; the views point into `topic`.
void SplitTopicLevels(std::string_view topic, std::vector<std::string_view>& levels);

class MqttTopicFilter {
 public:
  // REQUIRES: a valid filter ('+' a whole level, '#' only as the whole last level).
  explicit MqttTopicFilter(std::string_view filter);

  // MQTT 3.1.1 §4.7: '+' matches one level, '#' the parent level and any number of levels
  // below it; a filter starting with a wildcard does not match topics starting with '$'.
  bool Matches(std::string_view topic) const;

  const std::string& filter() const { return filter_; }

 private:
  std::string filter_;
  std::vector<std::string> levels_;
};

class MqttTagTemplate {
 public:
  // Parses `name`: name characters and {N} placeholders. InvalidArgument on a malformed
  // placeholder (the loader rejects those already; this keeps the unit self-contained).
  [[nodiscard]] static StatusOr<MqttTagTemplate> Parse(std::string_view name);

  bool has_placeholders() const { return has_placeholders_; }
  const std::string& text() const { return text_; }

  // Writes the tag name for a message whose topic has `levels` to `out` (cleared first).
  // False when a placeholder names a level the topic does not have, or when the result is not
  // a valid tag name ([A-Za-z0-9_.-]+ of at most config::kMaxNameBytes: a topic level may hold
  // any character, e.g. a space or a newline, and be up to 65,535 bytes long). The caller
  // drops and counts such a message: no tag is created for it.
  bool Expand(const std::vector<std::string_view>& levels, std::string& out) const;

 private:
  struct Part {
    std::string literal;  // when level < 0
    int level = -1;
  };
  std::string text_;
  std::vector<Part> parts_;
  bool has_placeholders_ = false;
};

}  // namespace edge::drivers
