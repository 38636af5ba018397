#include "uplink/json_encoding.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "uplink/number_text.h"

namespace edge::uplink {
namespace {

// A number, or null where JSON has no spelling for it.
void AppendJsonNumber(std::string& out, double v) {
  if (std::isfinite(v)) {
    AppendShortestDouble(out, v);
  } else {
    out += "null";
  }
}

// ,"key":[f(item0),f(item1),...]
template <typename T, typename AppendItem>
void AppendArray(std::string& out, std::string_view key, std::span<const T> items,
                 AppendItem append_item) {
  out += ",\"";
  out += key;  // keys are our own literals: nothing to escape
  out += "\":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    append_item(items[i]);
  }
  out += ']';
}

void AppendReadings(std::string& out, std::string_view tag, std::span<const Reading> readings) {
  out += "{\"tag\":";
  AppendJsonString(out, tag);
  AppendArray(out, "t", readings, [&](const Reading& r) { AppendInteger(out, r.t_us); });
  AppendArray(out, "v", readings, [&](const Reading& r) {
    if (r.bad) {
      out += "null";
    } else {
      AppendJsonNumber(out, r.value);
    }
  });
  out += '}';
}

void AppendAggregates(std::string& out, std::string_view tag, std::span<const Aggregate> aggs) {
  out += "{\"tag\":";
  AppendJsonString(out, tag);
  AppendArray(out, "t", aggs, [&](const Aggregate& a) { AppendInteger(out, a.period_start_us); });
  AppendArray(out, "min", aggs, [&](const Aggregate& a) { AppendJsonNumber(out, a.min); });
  AppendArray(out, "max", aggs, [&](const Aggregate& a) { AppendJsonNumber(out, a.max); });
  // The mean of finite values is finite unless their sum overflowed: then null, never "inf".
  AppendArray(out, "mean", aggs, [&](const Aggregate& a) { AppendJsonNumber(out, a.mean); });
  AppendArray(out, "last", aggs, [&](const Aggregate& a) { AppendJsonNumber(out, a.last); });
  AppendArray(out, "count", aggs, [&](const Aggregate& a) { AppendInteger(out, a.count); });
  out += '}';
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  // ensure_ascii off: UTF-8 names stay readable; replace: a name with invalid UTF-8 (an MQTT
  // topic can carry one) is sent with U+FFFD instead of throwing.
  out += nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void EncodeJson(const MessageHeader& h, std::span<const Series> series, std::string& out) {
  out.clear();
  size_t values = 0;
  for (const Series& s : series) values += s.readings.size() + 6 * s.aggregates.size();
  out.reserve(128 + 32 * values);  // about a time and a value of typical length per reading

  out += "{\"gateway\":";
  AppendJsonString(out, h.gateway);
  out += ",\"stream\":";
  AppendJsonString(out, h.stream);
  out += ",\"seq\":";
  AppendInteger(out, h.seq);
  if (h.alarm_seq.has_value() || !h.asset.empty()) {
    out += ",\"asset\":";
    AppendJsonString(out, h.asset);
  }
  if (h.alarm_seq.has_value()) {
    out += ",\"alarm_seq\":";
    AppendInteger(out, *h.alarm_seq);
  }
  out += ",\"series\":[";
  bool first = true;
  for (const Series& s : series) {
    if (!s.readings.empty()) {
      if (!first) out += ',';
      first = false;
      AppendReadings(out, s.tag, s.readings);
    }
    if (!s.aggregates.empty()) {
      if (!first) out += ',';
      first = false;
      AppendAggregates(out, s.tag, s.aggregates);
    }
  }
  out += "]}";
}

std::string EncodeGap(std::string_view gateway, std::string_view stream, int64_t from_us,
                      int64_t to_us, int64_t readings) {
  std::string out = "{\"gateway\":";
  AppendJsonString(out, gateway);
  out += ",\"stream\":";
  AppendJsonString(out, stream);
  out += ",\"from\":";
  AppendInteger(out, from_us);
  out += ",\"to\":";
  AppendInteger(out, to_us);
  out += ",\"readings\":";
  AppendInteger(out, readings);
  out += '}';
  return out;
}

}  // namespace edge::uplink
