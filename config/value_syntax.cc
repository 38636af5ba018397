#include "config/value_syntax.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "core/quoted.h"

namespace edge::config {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

bool IsHostNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

bool IsAllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

std::vector<std::string> SplitLevels(std::string_view topic) {
  std::vector<std::string> levels;
  size_t start = 0;
  while (true) {
    const size_t slash = topic.find('/', start);
    levels.emplace_back(topic.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return levels;
}

// "[::1]" or a host name / IPv4 address: the host without brackets.
StatusOr<std::string> ParseHostPart(std::string_view host) {
  if (host.empty()) return Status::InvalidArgument("missing host");
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) {
      return Status::InvalidArgument("unterminated IPv6 address " + Quoted(host));
    }
    const std::string_view inner = host.substr(1, host.size() - 2);
    for (char c : inner) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return Status::InvalidArgument(Quoted(host) + " is not an IPv6 address");
      }
    }
    return std::string(inner);
  }
  for (char c : host) {
    if (!IsHostNameChar(c)) {
      return Status::InvalidArgument("invalid character " + Quoted(std::string(1, c)) + " in host " +
                                     Quoted(host));
    }
  }
  return std::string(host);
}

// "host:port" / "[v6]:port" -> host and port; `example` completes the error messages.
Status SplitHostPort(std::string_view authority, std::string_view example, std::string* host,
                     uint16_t* port) {
  size_t colon = authority.rfind(':');
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status::InvalidArgument("unterminated IPv6 address, e.g. [::1]");
    }
    colon = authority.find(':', close);
  }
  if (colon == std::string_view::npos) {
    return Status::InvalidArgument("missing port, e.g. " + std::string(example));
  }
  const std::string_view port_text = authority.substr(colon + 1);
  auto h = ParseHostPart(authority.substr(0, colon));
  if (!h.ok()) return h.status();
  *host = *h;
  if (port_text.empty()) {
    return Status::InvalidArgument("missing port, e.g. " + std::string(example));
  }
  unsigned value = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (!IsAllDigits(port_text) || ec != std::errc() || end != port_text.data() + port_text.size()) {
    return Status::InvalidArgument("port " + Quoted(port_text) + " is not a number");
  }
  if (value < 1 || value > 65535) {
    return Status::InvalidArgument("port " + std::string(port_text) +
                                   " is out of range (1..65535)");
  }
  *port = static_cast<uint16_t>(value);
  return Status::Ok();
}

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Optimal string alignment distance (Levenshtein plus adjacent transpositions), ignoring case.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = Lower(a[i - 1]) == Lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && Lower(a[i - 1]) == Lower(b[j - 2]) &&
          Lower(a[i - 2]) == Lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

bool IsValidName(std::string_view name) { return NameFault(name).empty(); }

std::string TooLongFault(size_t size, size_t max_bytes) {
  return "longer than " + std::to_string(max_bytes) + " bytes (" + std::to_string(size) + ")";
}

std::string NameFault(std::string_view name, size_t max_bytes) {
  if (name.empty()) return "is empty";
  if (name.size() > max_bytes) return TooLongFault(name.size(), max_bytes);
  if (!std::all_of(name.begin(), name.end(), IsNameChar)) {
    return "has characters other than letters, digits, '_', '.', '-'";
  }
  return "";
}

Status CheckModelName(std::string_view name) {
  if (!IsValidName(name)) {
    return Status::InvalidArgument("is not a valid model name (letters, digits, '_', '.', '-')");
  }
  if (name.size() > kMaxModelNameLength) {
    return Status::InvalidArgument("is " + std::to_string(name.size()) +
                                   " characters long; a model name has at most " +
                                   std::to_string(kMaxModelNameLength));
  }
  if (name.front() == '.') {
    return Status::InvalidArgument(
        "starts with '.'; a model name is a path component of the repository URL and of the "
        "models folder, so '.', '..' and hidden names are refused");
  }
  return Status::Ok();
}

StatusOr<BrokerAddress> ParseBrokerUri(std::string_view uri) {
  BrokerAddress out;
  const size_t sep = uri.find("://");
  if (sep == std::string_view::npos) {
    return Status::InvalidArgument("missing scheme, e.g. tcp://" + std::string(uri) +
                                   (uri.find(':') == std::string_view::npos ? ":1883" : ""));
  }
  const std::string_view scheme = uri.substr(0, sep);
  if (scheme == "ssl") {
    out.tls = true;
  } else if (scheme != "tcp") {
    return Status::InvalidArgument("scheme '" + std::string(scheme) +
                                   "://' is not supported; use tcp:// or ssl:// (TLS)");
  }
  std::string_view authority = uri.substr(sep + 3);
  if (authority.find('@') != std::string_view::npos) {
    return Status::InvalidArgument(
        "credentials do not belong in the URI; use username and password_file");
  }
  if (authority.find_first_of("/?#") != std::string_view::npos) {
    return Status::InvalidArgument("a broker URI has no path; write " + std::string(scheme) +
                                   "://host:port");
  }
  const std::string example = std::string(scheme) + "://" +
                              (authority.empty() ? "broker" : std::string(authority)) +
                              (out.tls ? ":8883" : ":1883");
  if (authority.empty()) return Status::InvalidArgument("missing host, e.g. " + example);
  EDGE_RETURN_IF_ERROR(SplitHostPort(authority, example, &out.host, &out.port));
  return out;
}

Status CheckRepositoryUrl(std::string_view url) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return Status::InvalidArgument("missing scheme, e.g. https://models.example.com/repo/");
  }
  const std::string_view scheme = url.substr(0, sep);
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument("scheme '" + std::string(scheme) +
                                   "://' is not supported; use https:// or http://");
  }
  const std::string_view rest = url.substr(sep + 3);
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (authority.empty()) return Status::InvalidArgument("missing host");
  if (authority.find('@') != std::string_view::npos) {
    return Status::InvalidArgument("credentials in the URL are not supported");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Status::InvalidArgument("a repository URL has no query or fragment");
  }
  std::string_view host = authority;
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.back() != ']') {
    host = authority.substr(0, colon);
    const std::string_view port = authority.substr(colon + 1);
    unsigned value = 0;
    std::from_chars(port.data(), port.data() + port.size(), value);
    if (!IsAllDigits(port) || value < 1 || value > 65535) {
      return Status::InvalidArgument("port " + Quoted(port) + " is not 1..65535");
    }
  }
  auto h = ParseHostPart(host);
  if (!h.ok()) return h.status();
  if (url.back() != '/') {
    return Status::InvalidArgument("must end with '/' (the repository root), e.g. " +
                                   std::string(url) + "/");
  }
  return Status::Ok();
}

Status CheckListenAddress(std::string_view address) {
  if (IsAllDigits(address)) {
    return Status::InvalidArgument("missing host, e.g. 127.0.0.1:" + std::string(address) +
                                   " (or 0.0.0.0:" + std::string(address) + " for all interfaces)");
  }
  if (!address.empty() && (address.front() == ':' || address.substr(0, 2) == "*:")) {
    const std::string port(address.substr(address.find(':') + 1));
    return Status::InvalidArgument("missing host; write 0.0.0.0:" + port +
                                   " for all interfaces or 127.0.0.1:" + port + " for this PC");
  }
  std::string host;
  uint16_t port = 0;
  const bool has_port = address.find(':') != std::string_view::npos &&
                        (address.front() != '[' || address.find("]:") != std::string_view::npos);
  return SplitHostPort(address, has_port ? "127.0.0.1:9108" : std::string(address) + ":9108", &host,
                       &port);
}

Status CheckHost(std::string_view host) {
  if (host.empty()) return Status::InvalidArgument("empty host");
  if (host.find("://") != std::string_view::npos) {
    return Status::InvalidArgument("write the host name or address only, e.g. 10.0.0.20");
  }
  const size_t colon = host.find(':');
  if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
    return Status::InvalidArgument("write the port in 'port', not in the host");
  }
  if (colon != std::string_view::npos) {  // IPv6 literal
    for (char c : host) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return Status::InvalidArgument(Quoted(host) + " is not an IPv6 address");
      }
    }
    return Status::Ok();
  }
  auto h = ParseHostPart(host);
  return h.ok() ? Status::Ok() : h.status();
}

Status CheckTopicFilter(std::string_view filter) {
  if (filter.empty()) return Status::InvalidArgument("empty topic");
  if (filter.size() > kMaxTopicFilterBytes) {
    return Status::InvalidArgument(TooLongFault(filter.size(), kMaxTopicFilterBytes));
  }
  const std::vector<std::string> levels = SplitLevels(filter);
  for (size_t i = 0; i < levels.size(); ++i) {
    const std::string& level = levels[i];
    if (level.find('#') != std::string::npos) {
      if (level != "#") return Status::InvalidArgument("'#' must be a whole topic level");
      if (i + 1 != levels.size()) return Status::InvalidArgument("'#' must be the last level");
    }
    if (level.find('+') != std::string::npos && level != "+") {
      return Status::InvalidArgument("'+' must be a whole topic level");
    }
  }
  if (filter.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("NUL character in topic");
  }
  return Status::Ok();
}

Status CheckTopicPrefix(std::string_view prefix) {
  if (prefix.empty()) return Status::InvalidArgument("empty topic prefix");
  if (prefix.size() > kMaxTopicPrefixBytes) {
    return Status::InvalidArgument(TooLongFault(prefix.size(), kMaxTopicPrefixBytes));
  }
  if (prefix.find_first_of("+#") != std::string_view::npos) {
    return Status::InvalidArgument("wildcards '+' and '#' are not allowed in a published topic");
  }
  if (prefix.front() == '/' || prefix.back() == '/') {
    return Status::InvalidArgument("no leading or trailing '/'");
  }
  if (prefix.find("//") != std::string_view::npos) {
    return Status::InvalidArgument("empty topic level ('//')");
  }
  if (prefix.front() == '$') {
    return Status::InvalidArgument("topics starting with '$' are reserved for the broker");
  }
  return Status::Ok();
}

Status CheckJsonPointer(std::string_view pointer) {
  if (pointer.empty()) return Status::Ok();
  if (pointer.front() != '/') {
    return Status::InvalidArgument("a JSON pointer starts with '/', e.g. /" + std::string(pointer));
  }
  for (size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] == '~' &&
        (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1'))) {
      return Status::InvalidArgument("'~' must be written ~0 (and '/' inside a key ~1)");
    }
  }
  return Status::Ok();
}

StatusOr<TagNameTemplate> TagNameTemplate::Parse(std::string_view name, std::string_view topic) {
  TagNameTemplate t;
  t.topic_levels_ = SplitLevels(topic);
  const bool multi = !t.topic_levels_.empty() && t.topic_levels_.back() == "#";
  const int fixed_levels = static_cast<int>(t.topic_levels_.size()) - (multi ? 1 : 0);
  if (name.empty()) return Status::InvalidArgument("empty tag name");
  if (name.size() > kMaxNameBytes) {
    return Status::InvalidArgument(Quoted(name) + " is not a valid tag name: " +
                                   TooLongFault(name.size(), kMaxNameBytes));
  }
  size_t i = 0;
  while (i < name.size()) {
    if (name[i] == '{') {
      const size_t close = name.find('}', i);
      const std::string_view digits =
          close == std::string_view::npos ? name.substr(i + 1) : name.substr(i + 1, close - i - 1);
      if (close == std::string_view::npos || !IsAllDigits(digits) || digits.size() > 4) {
        return Status::InvalidArgument(Quoted(name) +
                                       ": a placeholder is {N}, N a topic level (0-based)");
      }
      int level = 0;
      std::from_chars(digits.data(), digits.data() + digits.size(), level);
      if (level >= fixed_levels && !multi) {
        return Status::InvalidArgument("{" + std::string(digits) + "} refers to topic level " +
                                       std::string(digits) + " but topic " + Quoted(topic) +
                                       " has levels 0.." + std::to_string(fixed_levels - 1));
      }
      t.parts_.push_back(Part{"", level});
      t.has_placeholders_ = true;
      i = close + 1;
      continue;
    }
    if (!IsNameChar(name[i])) {
      return Status::InvalidArgument(Quoted(name) +
                                     " is not a valid tag name: use A-Z a-z 0-9 _ . - and "
                                     "{N} placeholders");
    }
    if (t.parts_.empty() || t.parts_.back().level >= 0) t.parts_.push_back(Part{});
    t.parts_.back().literal += name[i];
    ++i;
  }
  return t;
}

bool TagNameTemplate::Matches(std::string_view name) const { return MatchFrom(0, name); }

bool TagNameTemplate::MatchFrom(size_t part, std::string_view rest) const {
  if (part == parts_.size()) return rest.empty();
  const Part& p = parts_[part];
  if (p.level < 0) {
    return rest.substr(0, p.literal.size()) == p.literal &&
           MatchFrom(part + 1, rest.substr(p.literal.size()));
  }
  const size_t level = static_cast<size_t>(p.level);
  const bool wildcard = level >= topic_levels_.size() - (topic_levels_.back() == "#" ? 1 : 0) ||
                        topic_levels_[level] == "+";
  if (!wildcard) {
    const std::string& literal = topic_levels_[level];
    return rest.substr(0, literal.size()) == literal &&
           MatchFrom(part + 1, rest.substr(literal.size()));
  }
  // A wildcard level yields one or more characters (a tag name has no '/').
  for (size_t n = 1; n <= rest.size(); ++n) {
    if (rest[n - 1] == '/') break;
    if (MatchFrom(part + 1, rest.substr(n))) return true;
  }
  return false;
}

std::string ClosestMatch(std::string_view word, std::span<const std::string_view> candidates) {
  // Short words allow fewer edits; otherwise every short key "suggests" every other.
  const size_t allowed = word.size() <= 2 ? 0 : word.size() <= 4 ? 1 : word.size() <= 9 ? 2 : 3;
  size_t best = allowed + 1;
  std::string_view match;
  for (std::string_view c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best) {
      best = d;
      match = c;
    }
  }
  return std::string(match);
}

}  // namespace edge::config
