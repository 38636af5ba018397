#include "drivers/mqtt_topic.h"

#include <charconv>

#include "config/value_syntax.h"
#include "core/quoted.h"

namespace edge::drivers {

void SplitTopicLevels(std::string_view topic, std::vector<std::string_view>& levels) {
  levels.clear();
  size_t start = 0;
  for (;;) {
    const size_t slash = topic.find('/', start);
    if (slash == std::string_view::npos) {
      levels.push_back(topic.substr(start));
      return;
    }
    levels.push_back(topic.substr(start, slash - start));
    start = slash + 1;
  }
}

MqttTopicFilter::MqttTopicFilter(std::string_view filter) : filter_(filter) {
  std::vector<std::string_view> views;
  SplitTopicLevels(filter, views);
  for (std::string_view v : views) levels_.emplace_back(v);
}

bool MqttTopicFilter::Matches(std::string_view topic) const {
  if (!topic.empty() && topic.front() == '$' && !levels_.empty() &&
      (levels_.front() == "+" || levels_.front() == "#")) {
    return false;
  }
  size_t start = 0;
  for (size_t i = 0; i < levels_.size(); ++i) {
    const std::string& want = levels_[i];
    if (want == "#") return true;  // also matches the parent level: "a/#" matches "a"
    if (start > topic.size()) {
      // The topic has no more levels.
      return false;
    }
    size_t slash = topic.find('/', start);
    if (slash == std::string_view::npos) slash = topic.size();
    const std::string_view level = topic.substr(start, slash - start);
    if (want != "+" && want != level) return false;
    start = slash + 1;
  }
  // Every filter level consumed: the topic must have no levels left.
  if (start <= topic.size()) {
    // "a/b" against topic "a/b/c": start points past "b/"; the topic has more levels.
    return false;
  }
  return true;
}

StatusOr<MqttTagTemplate> MqttTagTemplate::Parse(std::string_view name) {
  MqttTagTemplate t;
  t.text_ = std::string(name);
  if (name.empty()) return Status::InvalidArgument("empty tag name");
  size_t i = 0;
  while (i < name.size()) {
    if (name[i] == '{') {
      const size_t close = name.find('}', i);
      if (close == std::string_view::npos || close == i + 1 || close - i - 1 > 4) {
        return Status::InvalidArgument(Quoted(name) +
                                       ": a placeholder is {N}, N a topic level (0-based)");
      }
      int level = -1;
      const char* first = name.data() + i + 1;
      const char* last = name.data() + close;
      const auto [ptr, ec] = std::from_chars(first, last, level);
      if (ec != std::errc() || ptr != last || level < 0) {
        return Status::InvalidArgument(Quoted(name) +
                                       ": a placeholder is {N}, N a topic level (0-based)");
      }
      t.parts_.push_back(Part{"", level});
      t.has_placeholders_ = true;
      i = close + 1;
      continue;
    }
    if (t.parts_.empty() || t.parts_.back().level >= 0) t.parts_.push_back(Part{});
    t.parts_.back().literal += name[i];
    ++i;
  }
  return t;
}

bool MqttTagTemplate::Expand(const std::vector<std::string_view>& levels, std::string& out) const {
  out.clear();
  for (const Part& p : parts_) {
    if (p.level < 0) {
      out += p.literal;
      continue;
    }
    if (static_cast<size_t>(p.level) >= levels.size()) return false;
    const std::string_view level = levels[static_cast<size_t>(p.level)];
    // A topic level may be 65,535 bytes: refuse a name over the bound before copying it.
    if (out.size() + level.size() > config::kMaxNameBytes) return false;
    out += level;
  }
  return config::IsValidName(out);
}

}  // namespace edge::drivers
