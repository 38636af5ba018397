#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "config/units.h"
#include "config/value_syntax.h"
#include "core/quoted.h"

namespace edge::config::internal {
namespace {

// A diagnostic's message at most: several quoted values and the key path fit with room.
constexpr size_t kMaxDiagnosticBytes = 1024;

bool IsPlain(const YAML::Node& node) { return node.IsScalar() && node.Tag() != "!"; }

bool IsIdentifier(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// A key pattern "x-*" matches every key starting with "x-".
bool KeyAllowed(std::string_view key, std::span<const std::string_view> keys) {
  for (std::string_view k : keys) {
    if (k == key) return true;
    if (!k.empty() && k.back() == '*' && key.substr(0, k.size() - 1) == k.substr(0, k.size() - 1)) {
      return true;
    }
  }
  return false;
}

std::string JoinKeys(std::span<const std::string_view> keys) {
  std::string out;
  for (std::string_view k : keys) {
    if (!k.empty() && k.back() == '*') continue;
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out;
}

std::string RangeText(int64_t min, int64_t max) {
  return "(" + std::to_string(min) + ".." + std::to_string(max) + ")";
}

}  // namespace

SourcePos PositionOf(const YAML::Mark& mark) {
  if (mark.line < 0 || mark.column < 0) return SourcePos{1, 1};
  return SourcePos{mark.line + 1, mark.column + 1};
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "an empty value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      break;
  }
  // The first line, escaped and cut (core/quoted.h): the value is the file's, not ours.
  std::string text = node.Scalar();
  const size_t newline = text.find('\n');
  if (newline != std::string::npos || text.size() > 40) {
    text = EscapedLine(text.substr(0, std::min<size_t>(newline, 40)), 160) + "...";
  } else {
    text = EscapedLine(text, 160);
  }
  if (!IsPlain(node)) return "the string \"" + text + "\"";
  return "'" + text + "'";
}

std::string ChildPath(const std::string& parent, std::string_view key) {
  if (!IsIdentifier(key) && key != "<<") {
    return parent + "[\"" + EscapedLine(key, kQuotedMaxBytes) + "\"]";
  }
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

void DiagnosticSink::Add(SourcePos pos, std::string message) {
  // Whatever a message quotes, it stays one line of bounded size: a value with a newline must
  // not forge a second "FILE:LINE:COL: error:" line (Quoted() does this per value; this is
  // the backstop for any message that repeats input some other way).
  diagnostics_.push_back(
      Diagnostic{file_, pos.line, pos.column, EscapedLine(message, kMaxDiagnosticBytes)});
}

std::vector<Diagnostic> DiagnosticSink::Sorted() const {
  std::vector<Diagnostic> out = diagnostics_;
  std::stable_sort(out.begin(), out.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Diagnostic& a, const Diagnostic& b) {
                          return a.line == b.line && a.column == b.column && a.message == b.message;
                        }),
            out.end());
  return out;
}

std::optional<Field> MapView::Get(std::string_view key) const {
  for (const Field& f : fields_) {
    if (f.key == key) return f;
  }
  return std::nullopt;
}

void YamlReader::Error(const Field& f, std::string_view message) {
  sink_->Add(f.value_pos, f.path + ": " + std::string(message));
}

void YamlReader::ErrorAtKey(const Field& f, std::string_view message) {
  sink_->Add(f.key_pos.line > 0 ? f.key_pos : f.value_pos, f.path + ": " + std::string(message));
}

std::optional<MapView> YamlReader::Map(const Field& f, std::span<const std::string_view> keys) {
  return ReadMap(f, keys, /*check_keys=*/true);
}

std::optional<MapView> YamlReader::AnyMap(const Field& f) {
  return ReadMap(f, {}, /*check_keys=*/false);
}

std::optional<MapView> YamlReader::ReadMap(const Field& f, std::span<const std::string_view> keys,
                                           bool check_keys) {
  MapView view;
  view.path_ = f.path;
  view.pos_ = f.value_pos;
  if (f.is_empty()) return view;
  if (!f.value.IsMap()) {
    Error(f, "expected a mapping (key: value lines), got " + Describe(f.value));
    return std::nullopt;
  }

  // Merged mappings are read after the mapping's own keys, which take precedence.
  std::vector<YAML::Node> merged;
  auto add_entry = [&](const YAML::Node& key, const YAML::Node& value, bool from_merge) {
    const SourcePos key_pos = PositionOf(key.Mark());
    if (!key.IsScalar()) {
      sink_->Add(key_pos, (f.path.empty() ? std::string("(top level)") : f.path) +
                              ": a key must be plain text, got " + Describe(key));
      return;
    }
    const std::string name = key.Scalar();
    if (name == "<<" && IsPlain(key) && !from_merge) {
      if (value.IsMap()) {
        merged.push_back(value);
      } else if (value.IsSequence() && std::all_of(value.begin(), value.end(),
                                                   [](const YAML::Node& n) { return n.IsMap(); })) {
        for (const YAML::Node& n : value) merged.push_back(n);
      } else {
        sink_->Add(key_pos, ChildPath(f.path, name) +
                                ": a merge key takes an alias of a mapping, e.g. <<: *defaults");
      }
      return;
    }
    Field child;
    child.path = ChildPath(f.path, name);
    child.key = name;
    child.value = value;
    child.key_pos = key_pos;
    child.value_pos = value.IsNull() ? key_pos : PositionOf(value.Mark());
    if (auto first = view.Get(name)) {
      if (!from_merge) {
        sink_->Add(key_pos, child.path + ": duplicate key; first defined at line " +
                                std::to_string(first->key_pos.line));
      }
      return;  // a merged key never overrides the mapping's own
    }
    if (check_keys && !KeyAllowed(name, keys)) {
      std::vector<std::string_view> candidates;
      for (std::string_view k : keys) {
        if (k.empty() || k.back() != '*') candidates.push_back(k);
      }
      const std::string suggestion = ClosestMatch(name, candidates);
      if (!suggestion.empty()) {
        sink_->Add(key_pos, child.path + ": unknown key; did you mean " + Quoted(suggestion) + "?");
        view.suggested_.push_back(suggestion);
      } else {
        sink_->Add(key_pos, child.path + ": unknown key (valid here: " + JoinKeys(keys) + ")");
      }
      return;
    }
    view.fields_.push_back(std::move(child));
  };

  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    add_entry(it->first, it->second, /*from_merge=*/false);
  }
  for (const YAML::Node& m : merged) {
    for (auto it = m.begin(); it != m.end(); ++it) {
      add_entry(it->first, it->second, /*from_merge=*/true);
    }
  }
  return view;
}

std::optional<std::vector<Field>> YamlReader::List(const Field& f) {
  std::vector<Field> items;
  if (f.is_empty()) return items;
  if (!f.value.IsSequence()) {
    Error(f, "expected a list ('- ' items), got " + Describe(f.value));
    return std::nullopt;
  }
  size_t i = 0;
  for (const YAML::Node& node : f.value) {
    Field item;
    item.path = f.path + "[" + std::to_string(i++) + "]";
    item.value = node;
    item.value_pos = PositionOf(node.Mark());
    items.push_back(std::move(item));
  }
  return items;
}

std::optional<Field> YamlReader::Require(const MapView& map, std::string_view key) {
  if (auto f = map.Get(key)) return f;
  if (std::find(map.suggested_.begin(), map.suggested_.end(), key) != map.suggested_.end()) {
    return std::nullopt;
  }
  if (map.path().empty()) {
    sink_->Add(map.pos(), std::string(key) + ": required section is missing");
  } else {
    sink_->Add(map.pos(), ChildPath(map.path(), key) + ": required key is missing");
  }
  return std::nullopt;
}

std::optional<std::string> YamlReader::String(const Field& f) {
  if (!f.value.IsScalar()) {
    Error(f, "expected a string, got " + Describe(f.value));
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<int64_t> YamlReader::Integer(const Field& f, int64_t min, int64_t max) {
  if (f.value.IsScalar() && !IsPlain(f.value)) {
    Error(f, "expected an integer, got " + Describe(f.value) + " (remove the quotes)");
    return std::nullopt;
  }
  if (!f.value.IsScalar()) {
    Error(f, "expected an integer, got " + Describe(f.value));
    return std::nullopt;
  }
  const std::string& text = f.value.Scalar();
  std::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  uint64_t magnitude = 0;
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (digits.empty() || end != digits.data() + digits.size() ||
      (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    Error(f, "expected an integer, got " + Describe(f.value));
    return std::nullopt;
  }
  const bool too_big = ec == std::errc::result_out_of_range ||
                       magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  const int64_t value =
      too_big ? 0 : (negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude));
  if (too_big || value < min || value > max) {
    Error(f, EscapedLine(text, kQuotedMaxBytes) + " is out of range " + RangeText(min, max));
    return std::nullopt;
  }
  return value;
}

std::optional<double> YamlReader::Number(const Field& f) {
  if (!IsPlain(f.value)) {
    Error(f, "expected a number, got " + Describe(f.value) +
                 (f.value.IsScalar() ? " (remove the quotes)" : ""));
    return std::nullopt;
  }
  const std::string& text = f.value.Scalar();
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == ".inf" || lower == "+.inf" || lower == "-.inf" || lower == ".nan") {
    Error(f, EscapedLine(text, kQuotedMaxBytes) + " is not a finite number");
    return std::nullopt;
  }
  std::string_view s = text;
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || end != s.data() + s.size() || lower.find("inf") != std::string::npos ||
      lower.find("nan") != std::string::npos) {
    Error(f, "expected a number, got " + Describe(f.value));
    return std::nullopt;
  }
  if (ec != std::errc() || !std::isfinite(value)) {
    Error(f, EscapedLine(text, kQuotedMaxBytes) + " is not a finite number");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> YamlReader::Bool(const Field& f) {
  if (IsPlain(f.value)) {
    static constexpr std::string_view kTrue[] = {"true", "True", "TRUE", "yes", "Yes",
                                                 "YES",  "on",   "On",   "ON"};
    static constexpr std::string_view kFalse[] = {"false", "False", "FALSE", "no", "No",
                                                  "NO",    "off",   "Off",   "OFF"};
    const std::string& s = f.value.Scalar();
    if (std::find(std::begin(kTrue), std::end(kTrue), s) != std::end(kTrue)) return true;
    if (std::find(std::begin(kFalse), std::end(kFalse), s) != std::end(kFalse)) return false;
  }
  Error(f, "expected true or false, got " + Describe(f.value));
  return std::nullopt;
}

std::optional<Duration> YamlReader::DurationIn(const Field& f, Duration min, Duration max) {
  if (!f.value.IsScalar()) {
    Error(f, "expected a duration such as 5s, got " + Describe(f.value));
    return std::nullopt;
  }
  auto d = ParseDuration(f.value.Scalar());
  if (!d.ok()) {
    Error(f, d.status().message());
    return std::nullopt;
  }
  if (*d < min || *d > max) {
    Error(f, EscapedLine(f.value.Scalar(), kQuotedMaxBytes) + " is out of range (" + FormatDuration(min) + ".." +
                 FormatDuration(max) + ")");
    return std::nullopt;
  }
  return *d;
}

std::optional<uint64_t> YamlReader::SizeAtLeast(const Field& f, uint64_t min) {
  if (!f.value.IsScalar()) {
    Error(f, "expected a size such as 512MiB, got " + Describe(f.value));
    return std::nullopt;
  }
  auto size = ParseSize(f.value.Scalar());
  if (!size.ok()) {
    Error(f, size.status().message());
    return std::nullopt;
  }
  if (*size < min) {
    Error(f, EscapedLine(f.value.Scalar(), kQuotedMaxBytes) + " is below the minimum " + FormatSize(min));
    return std::nullopt;
  }
  return *size;
}

std::optional<size_t> YamlReader::OneOf(const Field& f, std::span<const std::string_view> values) {
  std::string list;
  for (size_t i = 0; i < values.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == values.size() ? " or " : ", ") + std::string(values[i]);
  }
  if (!f.value.IsScalar()) {
    Error(f, "expected one of " + list + ", got " + Describe(f.value));
    return std::nullopt;
  }
  const std::string& s = f.value.Scalar();
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] == s) return i;
  }
  const std::string suggestion = ClosestMatch(s, values);
  Error(f, Quoted(s) + " is not one of " + list +
               (suggestion.empty() ? "" : "; did you mean " + Quoted(suggestion) + "?"));
  return std::nullopt;
}

}  // namespace edge::config::internal
