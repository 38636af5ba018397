#include "tests/support/uplink_reference.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>

#include "core/sample.h"

namespace edge::testing {
namespace {

using nlohmann::json;

int64_t Micros(Timestamp ts) {
  return std::chrono::duration_cast<std::chrono::microseconds>(ts.time_since_epoch()).count();
}

std::string Show(const RefReading& r) {
  return fmt::format("(t {} us, {})", r.t_us, r.v ? fmt::format("{}", *r.v) : "bad");
}

std::string Show(const RefAggregate& a) {
  return fmt::format("(t {} us, min {}, max {}, mean {}, last {}, count {})", a.t_us, a.min, a.max,
                     a.mean, a.last, a.count);
}

// The first difference of two sequences, or "".
template <typename T, typename Same>
std::string FirstDifference(const std::vector<T>& want, const std::vector<T>& got, Same same) {
  for (size_t i = 0; i < std::min(want.size(), got.size()); ++i) {
    if (!same(want[i], got[i])) {
      return fmt::format("#{} of {}: expected {}, got {}", i, want.size(), Show(want[i]),
                         Show(got[i]));
    }
  }
  if (want.size() != got.size()) {
    return fmt::format("expected {}, got {}{}", want.size(), got.size(),
                       got.size() > want.size() ? ", first extra " + Show(got[want.size()])
                                                : ", first missing " + Show(want[got.size()]));
  }
  return "";
}

// Splits `text` at `sep` where it is not escaped by a backslash (line protocol); the parts keep
// their escapes.
std::vector<std::string> SplitUnescaped(const std::string& text, char sep) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      parts.back() += text[i];
      parts.back() += text[++i];
    } else if (text[i] == sep) {
      parts.emplace_back();
    } else {
      parts.back() += text[i];
    }
  }
  return parts;
}

std::string Unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) ++i;
    out += text[i];
  }
  return out;
}

bool ParseDouble(const std::string& text, double* out) {
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return !text.empty() && end == text.c_str() + text.size();
}

// One line of line protocol into `into`; "" or what is wrong with it.
std::string DecodeInfluxLine(const std::string& line, const std::string& gateway,
                             ReceivedStream& into) {
  const std::vector<std::string> parts = SplitUnescaped(line, ' ');
  if (parts.size() != 3) return "not <measurement,tags> <fields> <time>";
  std::map<std::string, std::string> tags;
  const std::vector<std::string> series = SplitUnescaped(parts[0], ',');
  if (series[0] != "edge") return "measurement is not edge";
  for (size_t i = 1; i < series.size(); ++i) {
    const size_t eq = series[i].find('=');
    if (eq == std::string::npos) return "tag without '='";
    tags[Unescape(series[i].substr(0, eq))] = Unescape(series[i].substr(eq + 1));
  }
  if (tags["gateway"] != gateway || tags["tag"].empty()) return "gateway or tag wrong";
  std::map<std::string, std::string> fields;
  for (const std::string& f : SplitUnescaped(parts[1], ',')) {
    const size_t eq = f.find('=');
    if (eq == std::string::npos) return "field without '='";
    fields[f.substr(0, eq)] = f.substr(eq + 1);
  }
  char* end = nullptr;
  const long long ns = std::strtoll(parts[2].c_str(), &end, 10);
  if (end != parts[2].c_str() + parts[2].size() || ns % 1000 != 0) return "time is not whole us";
  const int64_t t_us = ns / 1000;
  const std::string& tag = tags["tag"];
  if (fields.count("count") != 0) {
    RefAggregate a;
    a.t_us = t_us;
    const std::string& count = fields["count"];
    if (count.empty() || count.back() != 'i') return "count is not an integer field";
    a.count = std::strtoull(count.c_str(), nullptr, 10);
    if (fields.size() != 5 || !ParseDouble(fields["min"], &a.min) ||
        !ParseDouble(fields["max"], &a.max) || !ParseDouble(fields["mean"], &a.mean) ||
        !ParseDouble(fields["last"], &a.last)) {
      return "aggregate fields are not exactly min,max,mean,last,count";
    }
    into.aggregates[tag].push_back(a);
    return "";
  }
  RefReading r{t_us, std::nullopt};
  if (fields.size() == 1 && fields.count("bad") == 1 && fields["bad"] == "true") {
    into.readings[tag].push_back(r);
    return "";
  }
  double v = 0;
  if (fields.size() != 1 || !ParseDouble(fields["value"], &v)) return "not value=<float>";
  r.v = v;
  into.readings[tag].push_back(r);
  return "";
}

void DecodeJsonSeries(const json& series, ReceivedStream& into) {
  for (const json& s : series) {
    const std::string tag = s.at("tag").get<std::string>();
    const json& t = s.at("t");
    if (s.contains("v")) {
      for (size_t i = 0; i < t.size(); ++i) {
        const json& v = s["v"].at(i);
        into.readings[tag].push_back(
            {t[i].get<int64_t>(), v.is_null() ? std::nullopt : std::optional(v.get<double>())});
      }
      continue;
    }
    for (size_t i = 0; i < t.size(); ++i) {
      into.aggregates[tag].push_back(
          {t[i].get<int64_t>(), s.at("min").at(i).get<double>(), s.at("max").at(i).get<double>(),
           s.at("mean").at(i).get<double>(), s.at("last").at(i).get<double>(),
           s.at("count").at(i).get<uint64_t>()});
    }
  }
}

}  // namespace

std::vector<RefReading> ReadingsOf(const ExportedCsv& csv, const std::string& tag) {
  std::vector<RefReading> out;
  for (const ExportedSample& s : csv.samples) {
    if (s.tag != tag) continue;
    RefReading r{Micros(s.ts), std::nullopt};
    double v = 0;
    if (s.good && ParseDouble(s.value, &v)) r.v = v;
    out.push_back(r);
  }
  return out;
}

std::vector<RefReading> DeadbandReference(const std::vector<RefReading>& stored,
                                          const DeadbandSpec& spec) {
  std::vector<RefReading> sent;
  for (const RefReading& r : stored) {
    bool send = sent.empty();
    if (!send) {
      const RefReading& last = sent.back();
      if (spec.max_interval_us > 0 && r.t_us - last.t_us >= spec.max_interval_us) {
        send = true;  // reading time, not wall time
      } else if (r.v.has_value() != last.v.has_value()) {
        send = true;  // a change of quality
      } else if (r.v) {
        const double band = spec.percent ? spec.band / 100.0 * std::fabs(*last.v) : spec.band;
        send = std::fabs(*r.v - *last.v) > band;
      }
    }
    if (send) sent.push_back(r);
  }
  return sent;
}

std::vector<RefAggregate> AggregateReference(const std::vector<RefReading>& stored,
                                             int64_t period_us, int64_t now_us, int* late) {
  struct Period {
    int64_t start = 0;
    std::vector<double> good;
  };
  std::vector<RefAggregate> sent;
  std::optional<Period> open;
  int64_t closed_end = INT64_MIN;  // readings before it come for a closed period
  auto close = [&] {
    if (!open->good.empty()) {
      RefAggregate a;
      a.t_us = open->start;
      a.min = *std::min_element(open->good.begin(), open->good.end());
      a.max = *std::max_element(open->good.begin(), open->good.end());
      double sum = 0;
      for (double v : open->good) sum += v;
      a.count = open->good.size();
      a.mean = sum / static_cast<double>(a.count);
      a.last = open->good.back();
      sent.push_back(a);
    }
    closed_end = open->start + period_us;
    open.reset();
  };
  *late = 0;
  for (const RefReading& r : stored) {
    const int64_t start = r.t_us - ((r.t_us % period_us) + period_us) % period_us;
    if (r.t_us < closed_end || (open && start < open->start)) {
      ++*late;
      continue;
    }
    if (open && start > open->start) close();  // a reading at or after its end
    if (!open) open = Period{start, {}};
    if (r.v && std::isfinite(*r.v)) open->good.push_back(*r.v);
  }
  if (open && now_us >= open->start + period_us + std::max<int64_t>(period_us, 5'000'000)) close();
  return sent;
}

size_t ReceivedStream::ReadingCount() const {
  size_t n = 0;
  for (const auto& [tag, v] : readings) n += v.size();
  return n;
}

size_t ReceivedStream::AggregateCount() const {
  size_t n = 0;
  for (const auto& [tag, v] : aggregates) n += v.size();
  return n;
}

ReceivedStream DecodeJsonStream(const std::vector<MqttCollector::Message>& messages,
                                const std::string& topic, const std::string& gateway,
                                const std::string& stream) {
  ReceivedStream out;
  std::map<uint64_t, std::string> by_seq;  // first payload of each seq
  uint64_t highest = 0;
  for (const MqttCollector::Message& m : messages) {
    if (m.topic != topic) continue;
    const json j = json::parse(m.payload, nullptr, false);
    if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned()) {
      out.faults.push_back("not a message with a seq: " + m.payload.substr(0, 200));
      continue;
    }
    const uint64_t seq = j["seq"].get<uint64_t>();
    if (auto [it, fresh] = by_seq.emplace(seq, m.payload); !fresh) {
      ++out.repeats;
      if (it->second != m.payload) {
        out.faults.push_back(fmt::format("seq {} sent again with another payload:\n{}\n{}", seq,
                                         it->second.substr(0, 300), m.payload.substr(0, 300)));
      }
      continue;
    }
    if (seq < highest) out.faults.push_back(fmt::format("seq {} after seq {}", seq, highest));
    highest = std::max(highest, seq);
    if (j.value("gateway", "") != gateway || j.value("stream", "") != stream) {
      out.faults.push_back("gateway or stream wrong: " + m.payload.substr(0, 200));
    }
  }
  for (const auto& [seq, payload] : by_seq) {  // seq order
    ++out.messages;
    try {
      DecodeJsonSeries(json::parse(payload).at("series"), out);
    } catch (const json::exception& e) {
      out.faults.push_back(fmt::format("seq {}: {}", seq, e.what()));
    }
  }
  return out;
}

ReceivedStream DecodeInfluxStream(const std::vector<MqttCollector::Message>& messages,
                                  const std::string& topic, const std::string& gateway) {
  ReceivedStream out;
  for (const MqttCollector::Message& m : messages) {
    if (m.topic != topic) continue;
    ++out.messages;
    for (const std::string& line : SplitUnescaped(m.payload, '\n')) {  // no escaped newlines
      if (line.empty()) continue;
      if (const std::string fault = DecodeInfluxLine(line, gateway, out); !fault.empty()) {
        out.faults.push_back(fault + ": " + line);
      }
    }
  }
  return out;
}

std::string CompareReadings(const std::vector<RefReading>& want,
                            const std::vector<RefReading>& got) {
  return FirstDifference(want, got,
                         [](const RefReading& a, const RefReading& b) { return a == b; });
}

std::string CompareAggregates(const std::vector<RefAggregate>& want,
                              const std::vector<RefAggregate>& got) {
  return FirstDifference(want, got, [](const RefAggregate& a, const RefAggregate& b) {
    return a.t_us == b.t_us && a.min == b.min && a.max == b.max && a.last == b.last &&
           a.count == b.count &&
           std::fabs(a.mean - b.mean) <= 1e-12 * std::max(1.0, std::fabs(a.mean));
  });
}

}  // namespace edge::testing
