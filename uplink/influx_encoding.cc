#include "uplink/influx_encoding.h"

#include <cmath>
#include <cstdint>

#include "uplink/number_text.h"

namespace edge::uplink {
namespace {

// " <epoch ns>\n". The three zeros are appended as text: exact, and no int64 multiply to check.
void AppendTimeAndEnd(std::string& out, int64_t t_us) {
  out += ' ';
  AppendInteger(out, t_us);
  if (t_us != 0) out += "000";
  out += '\n';
}

void AppendReadingFields(std::string& out, const Reading& r) {
  if (r.bad) {
    out += "bad=true";
  } else if (std::isfinite(r.value)) {
    out += "value=";
    AppendShortestDouble(out, r.value);
  } else if (std::isnan(r.value)) {
    out += "raw=\"NaN\"";
  } else {
    out += r.value > 0 ? "raw=\"+Inf\"" : "raw=\"-Inf\"";
  }
}

// key=<float>, followed by a comma; nothing for a value line protocol cannot spell.
void AppendFloatField(std::string& out, std::string_view key, double v) {
  if (!std::isfinite(v)) return;
  out += key;
  out += '=';
  AppendShortestDouble(out, v);
  out += ',';
}

void AppendAggregateFields(std::string& out, const Aggregate& a) {
  AppendFloatField(out, "min", a.min);
  AppendFloatField(out, "max", a.max);
  AppendFloatField(out, "mean", a.mean);
  AppendFloatField(out, "last", a.last);
  out += "count=";
  AppendInteger(out, a.count);
  out += 'i';
}

}  // namespace

void AppendInfluxTagValue(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case ',':
      case '=':
      case ' ':
      case '\\':
        out += '\\';
        out += c;
        break;
      case '\n':
      case '\r':
        out += "\\ ";
        break;
      default:
        out += c;
    }
  }
}

void EncodeInflux(const MessageHeader& h, std::span<const Series> series, std::string& out) {
  out.clear();
  std::string prefix;  // "edge,gateway=<id>,tag=<tag> ", the same for every line of a series
  for (const Series& s : series) {
    if (s.readings.empty() && s.aggregates.empty()) continue;
    prefix = "edge,gateway=";
    AppendInfluxTagValue(prefix, h.gateway);
    prefix += ",tag=";
    AppendInfluxTagValue(prefix, s.tag);
    prefix += ' ';
    out.reserve(out.size() + (prefix.size() + 40) * (s.readings.size() + s.aggregates.size()));
    for (const Reading& r : s.readings) {
      out += prefix;
      AppendReadingFields(out, r);
      AppendTimeAndEnd(out, r.t_us);
    }
    for (const Aggregate& a : s.aggregates) {
      out += prefix;
      AppendAggregateFields(out, a);
      AppendTimeAndEnd(out, a.period_start_us);
    }
  }
}

}  // namespace edge::uplink
