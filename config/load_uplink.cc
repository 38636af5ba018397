// The uplink section (DESIGN §10): the telemetry streams that send stored readings upstream, and
// the alarm context. A stream's mode decides which other keys it may have (deadband and
// max_interval belong to deadband mode, period to aggregate mode); a key of another mode is an
// error rather than ignored, since a technician who writes it expects it to act.
#include <algorithm>

#include "config/section_readers.h"
#include "config/units.h"
#include "config/value_syntax.h"
#include "core/quoted.h"

namespace edge::config::internal {
namespace {

using namespace std::chrono_literals;
using Mode = TelemetryStream::Mode;
using Encoding = TelemetryStream::Encoding;

constexpr std::string_view kUplinkKeys[] = {"telemetry", "alarm_context"};
constexpr std::string_view kStreamKeys[] = {"name",         "tags",   "mode",     "deadband",
                                            "max_interval", "period", "encoding", "max_batch",
                                            "max_rate",     "start"};
constexpr std::string_view kDeadbandKeys[] = {"absolute", "percent"};
constexpr std::string_view kAlarmContextKeys[] = {"before", "after"};

// The spellings, in the order of the enums (config.h names each value once).
constexpr std::string_view kModes[] = {TelemetryModeName(Mode::kRaw),
                                       TelemetryModeName(Mode::kDeadband),
                                       TelemetryModeName(Mode::kAggregate)};
constexpr std::string_view kEncodings[] = {TelemetryEncodingName(Encoding::kJson),
                                           TelemetryEncodingName(Encoding::kInflux)};
constexpr std::string_view kStarts[] = {"now", "oldest"};

// The keys that only one mode takes.
struct ModeKey {
  std::string_view key;
  Mode mode;
};
constexpr ModeKey kModeKeys[] = {
    {"deadband", Mode::kDeadband}, {"max_interval", Mode::kDeadband}, {"period", Mode::kAggregate}};

// Tag names are names (config/value_syntax.h IsValidName); a glob with any other character
// can match none of them.
bool IsGlobCharacter(char c) {
  return c == '*' || c == '?' || IsValidName(std::string_view(&c, 1));
}

// Reads the streams of one telemetry list.
class TelemetryReader {
 public:
  explicit TelemetryReader(LoaderContext* ctx) : ctx_(ctx), reader_(ctx->reader()) {}

  std::optional<TelemetryStream> Read(const Field& f);

 private:
  bool ReadName(const MapView& m, TelemetryStream* s);
  bool ReadTagGlobs(const MapView& m, TelemetryStream* s);
  // mode, and the keys that belong to one mode: refused in another, required in their own.
  bool ReadMode(const MapView& m, TelemetryStream* s);
  bool ReadDeadband(const Field& f, TelemetryStream* s);
  bool ReadEncoding(const Field& f, TelemetryStream* s);
  bool ReadRate(const Field& f, TelemetryStream* s);

  LoaderContext* ctx_;
  YamlReader& reader_;
  NameTable names_;
};

std::optional<TelemetryStream> TelemetryReader::Read(const Field& f) {
  auto m = reader_.Map(f, kStreamKeys);
  if (!m) return std::nullopt;
  TelemetryStream s;
  s.pos = m->pos();
  bool ok = ReadName(*m, &s);
  ok &= ReadTagGlobs(*m, &s);
  ok &= ReadMode(*m, &s);
  if (auto e = m->Get("encoding")) ok &= ReadEncoding(*e, &s);
  if (auto b = m->Get("max_batch")) {
    auto v = reader_.Integer(*b, 1, 100000);
    ok &= v.has_value();
    if (v) s.max_batch = static_cast<int>(*v);
  }
  if (auto r = m->Get("max_rate")) ok &= ReadRate(*r, &s);
  if (auto st = m->Get("start")) {
    auto i = reader_.OneOf(*st, kStarts);
    ok &= i.has_value();
    if (i) s.start_oldest = *i == 1;
  }
  if (!ok) return std::nullopt;
  return s;
}

bool TelemetryReader::ReadName(const MapView& m, TelemetryStream* s) {
  if (!ctx_->ReadUniqueName(m, "name", "stream name", &names_, "stream", &s->name)) return false;
  if (s->name != kAlarmContextStream) return true;
  reader_.Error(*m.Get("name"), Quoted(s->name) +
                                    " is the stream of the alarm context messages "
                                    "(uplink.alarm_context); choose another name");
  return false;
}

bool TelemetryReader::ReadTagGlobs(const MapView& m, TelemetryStream* s) {
  auto tags = reader_.Require(m, "tags");
  if (!tags) return false;
  if (tags->value.IsScalar()) {
    reader_.Error(*tags, "expected a list of tag globs, e.g. [\"" + tags->value.Scalar() + "\"]");
    return false;
  }
  auto items = reader_.List(*tags);
  if (!items) return false;
  bool ok = true;
  if (items->empty()) {
    reader_.Error(*tags, "a stream needs at least one tag glob, e.g. [\"pump1.*\"]");
    ok = false;
  }
  for (const Field& item : *items) {
    auto glob = reader_.String(item);
    if (!glob) {
      ok = false;
    } else if (glob->empty()) {
      reader_.Error(item, "empty tag glob");
      ok = false;
    } else if (!std::all_of(glob->begin(), glob->end(), IsGlobCharacter)) {
      reader_.Error(item, Quoted(*glob) +
                              " can match no tag: tag names have letters, digits, '_', '.', "
                              "'-', and globs add * and ?");
      ok = false;
    } else {
      s->tags.push_back(*glob);
    }
  }
  return ok;
}

bool TelemetryReader::ReadMode(const MapView& m, TelemetryStream* s) {
  if (auto f = m.Get("mode")) {
    auto i = reader_.OneOf(*f, kModes);
    if (!i) return false;  // which keys belong is unknown: check none of them
    s->mode = static_cast<Mode>(*i);
  }
  bool ok = true;
  for (const ModeKey& mk : kModeKeys) {
    auto f = m.Get(mk.key);
    if (!f || mk.mode == s->mode) continue;
    reader_.ErrorAtKey(*f, "applies to mode: " + std::string(TelemetryModeName(mk.mode)) +
                               " only; this stream's mode is " +
                               std::string(TelemetryModeName(s->mode)) +
                               (m.Has("mode") ? "" : " (the default)"));
    ok = false;
  }
  if (s->mode == Mode::kDeadband) {
    if (auto f = reader_.Require(m, "deadband")) {
      ok &= ReadDeadband(*f, s);
    } else {
      ok = false;
    }
    if (auto f = m.Get("max_interval")) {
      auto d = reader_.DurationIn(*f, 0ms, 7 * 24h);
      ok &= d.has_value();
      if (d) s->max_interval = *d;
    }
  } else if (s->mode == Mode::kAggregate) {
    auto f = reader_.Require(m, "period");
    auto d = f ? reader_.DurationIn(*f, 1s, 24h) : std::nullopt;
    ok &= d.has_value();
    if (d) s->period = *d;
  }
  return ok;
}

bool TelemetryReader::ReadDeadband(const Field& f, TelemetryStream* s) {
  if (f.value.IsScalar() && !f.is_empty()) {
    reader_.Error(f, "expected {absolute: " + f.value.Scalar() +
                         "} (in the tag's unit) or {percent: " + f.value.Scalar() +
                         "} (of the last sent value)");
    return false;
  }
  auto m = reader_.Map(f, kDeadbandKeys);
  if (!m) return false;
  auto absolute = m->Get("absolute");
  auto percent = m->Get("percent");
  if (absolute && percent) {
    ctx_->sink().Add(m->pos(), m->path() + ": absolute and percent exclude each other; give one");
    return false;
  }
  if (!absolute && !percent) {
    ctx_->sink().Add(m->pos(), m->path() +
                                   ": needs absolute (a band in the tag's unit) or percent (of "
                                   "the last sent value), e.g. {absolute: 0.01}");
    return false;
  }
  const Field& band = absolute ? *absolute : *percent;
  auto v = reader_.Number(band);
  if (!v) return false;
  if (*v < 0) {
    reader_.Error(band, band.value.Scalar() + " is negative; a band is >= 0");
    return false;
  }
  s->deadband = *v;
  s->deadband_percent = percent.has_value();
  return true;
}

bool TelemetryReader::ReadEncoding(const Field& f, TelemetryStream* s) {
  if (f.value.IsScalar() && f.value.Scalar() == TelemetryEncodingName(Encoding::kSparkplugB)) {
    reader_.Error(f,
                  "sparkplug_b arrives with Sparkplug B support (issue #19); use json or influx");
    return false;
  }
  auto i = reader_.OneOf(f, kEncodings);
  if (!i) return false;
  s->encoding = static_cast<Encoding>(*i);
  return true;
}

bool TelemetryReader::ReadRate(const Field& f, TelemetryStream* s) {
  if (!f.value.IsScalar() || f.is_empty()) {
    reader_.Error(f,
                  "expected a rate such as 256KiB/s, or 0 for no limit, got " + Describe(f.value));
    return false;
  }
  auto rate = ParseRate(f.value.Scalar());
  if (!rate.ok()) {
    reader_.Error(f, rate.status().message());
    return false;
  }
  s->max_rate_bytes = *rate;
  return true;
}

void ReadAlarmContext(LoaderContext* ctx, const Field& f, AlarmContextConfig* out) {
  YamlReader& reader = ctx->reader();
  auto m = reader.Map(f, kAlarmContextKeys);
  if (!m) return;
  out->enabled = true;
  if (auto b = m->Get("before")) {
    if (auto d = reader.DurationIn(*b, 0ms, 1h)) out->before = *d;
  }
  if (auto a = m->Get("after")) {
    if (auto d = reader.DurationIn(*a, 0ms, 1h)) out->after = *d;
  }
}

}  // namespace

void ReadUplink(LoaderContext* ctx, const Field& f, UplinkConfig* out) {
  YamlReader& reader = ctx->reader();
  auto m = reader.Map(f, kUplinkKeys);
  if (!m) return;
  if (!ctx->upstream_present()) {
    reader.ErrorAtKey(f, "telemetry goes to the upstream broker; add an upstream section");
  }
  if (auto t = m->Get("telemetry")) {
    if (auto items = reader.List(*t)) {
      TelemetryReader streams(ctx);
      for (const Field& item : *items) {
        if (auto s = streams.Read(item)) out->telemetry.push_back(std::move(*s));
      }
    }
  }
  if (auto a = m->Get("alarm_context")) ReadAlarmContext(ctx, *a, &out->alarm_context);
}

}  // namespace edge::config::internal
