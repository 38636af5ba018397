#include "uplink/stream_filter.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/status.h"

namespace edge::uplink {
namespace {

constexpr uint8_t kStateVersion = 1;
constexpr int64_t kMinClockFlushDelayUs = 5'000'000;  // DESIGN §10: at least 5 s past the end
// Bounds LoadState accepts, wide enough for any real time or period, narrow enough that the
// sums Feed and FlushByClock form (start + 2 periods + 5 s) cannot overflow int64.
constexpr int64_t kMaxAbsTimeUs = int64_t{1} << 61;
constexpr int64_t kMaxPeriodUs = int64_t{1} << 58;

// Start of the epoch-aligned period holding t (floor, also for t < 0).
int64_t PeriodStart(int64_t t_us, int64_t period_us) {
  const int64_t rem = t_us % period_us;
  return rem < 0 ? t_us - rem - period_us : t_us - rem;
}

// ---- deadband ----

bool ValueChanged(const ModeSpec& m, double last, double v) {
  if (!std::isfinite(v) || !std::isfinite(last)) {
    return !(v == last || (std::isnan(v) && std::isnan(last)));
  }
  const double band = m.percent ? m.band / 100.0 * std::fabs(last) : m.band;
  return std::fabs(v - last) > band;
}

bool DeadbandSends(const ModeSpec& m, const DeadbandState& d, const Reading& r) {
  if (!d.sent) return true;
  if (m.max_interval_us > 0 && r.t_us - d.last_t_us >= m.max_interval_us) return true;
  if (r.bad) return !d.last_bad;
  if (d.last_bad) return true;
  return ValueChanged(m, d.last_value, r.value);
}

void FeedDeadband(const ModeSpec& m, DeadbandState& d, const Reading& r, Series& out,
                  FilterCounters& c) {
  if (!DeadbandSends(m, d, r)) {
    ++c.suppressed;
    return;
  }
  out.readings.push_back(r);
  d.sent = true;
  d.last_bad = r.bad;
  d.last_value = r.value;
  d.last_t_us = r.t_us;
}

// ---- aggregate ----

// Ends the open period: appends it if it has a good reading. Returns true if it appended.
bool CloseOpenPeriod(AggregateState& a, Series& out) {
  const bool sends = a.count > 0;
  if (sends) {
    // Rounding can put sum / count a hair outside [min, max] (three 0.1 give 0.10000000000000002):
    // clamped. A sum that overflowed gives NaN, which the encoders write as null / leave out.
    const double mean = std::isfinite(a.sum)
                            ? std::clamp(a.sum / static_cast<double>(a.count), a.min, a.max)
                            : std::nan("");
    out.aggregates.push_back(Aggregate{a.open_start_us, a.min, a.max, mean, a.last, a.count});
  }
  a.closed = true;
  a.closed_end_us = a.open_start_us + a.period_us;
  a.open = false;
  a.count = 0;
  a.min = a.max = a.sum = a.last = 0;
  return sends;
}

void Accumulate(AggregateState& a, double v) {
  if (a.count == 0) {
    a.min = a.max = a.sum = v;
  } else {
    a.min = std::min(a.min, v);
    a.max = std::max(a.max, v);
    a.sum += v;
  }
  a.last = v;
  ++a.count;
}

void FeedAggregate(AggregateState& a, const Reading& r, Series& out, FilterCounters& c) {
  const bool late = a.open ? r.t_us < a.open_start_us : (a.closed && r.t_us < a.closed_end_us);
  if (late) {
    ++c.late_readings;
    return;
  }
  if (a.open && r.t_us >= a.open_start_us + a.period_us) CloseOpenPeriod(a, out);
  if (!a.open) {
    a.open = true;
    a.open_start_us = PeriodStart(r.t_us, a.period_us);
  }
  if (!r.bad && std::isfinite(r.value)) Accumulate(a, r.value);
}

// Makes s a state of mode m: fresh if it was built for another kind; an aggregate state of
// another period closes its open period first (appending it to out if it had a good reading).
void Reconcile(const ModeSpec& m, TagFilterState& s, Series& out) {
  if (s.kind != m.kind) {
    s = TagFilterState{};
    s.kind = m.kind;
  }
  if (m.kind != ModeSpec::Kind::kAggregate) return;
  EDGE_CHECK(m.period_us > 0 && m.period_us <= kMaxPeriodUs);
  AggregateState& a = s.aggregate;
  if (a.period_us != m.period_us) {
    if (a.open) CloseOpenPeriod(a, out);
    a.period_us = m.period_us;
  }
}

// ---- state bytes ----

class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void F64(double v) { U64(std::bit_cast<uint64_t>(v)); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads never past the end: a short read sets failed() and yields zeros.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  uint8_t U8() {
    if (pos_ >= bytes_.size()) {
      failed_ = true;
      return 0;
    }
    return static_cast<uint8_t>(bytes_[pos_++]);
  }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{U8()} << (8 * i);
    return v;
  }
  int64_t I64() { return static_cast<int64_t>(U64()); }
  double F64() { return std::bit_cast<double>(U64()); }
  bool failed() const { return failed_; }
  bool AtEnd() const { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
  bool failed_ = false;
};

bool SaneTime(int64_t t_us) { return t_us > -kMaxAbsTimeUs && t_us < kMaxAbsTimeUs; }

void SaveDeadband(const DeadbandState& d, ByteWriter& w) {
  w.U8(static_cast<uint8_t>((d.sent ? 1 : 0) | (d.last_bad ? 2 : 0)));
  if (!d.sent) return;
  w.F64(d.last_value);
  w.I64(d.last_t_us);
}

bool LoadDeadband(ByteReader& r, DeadbandState* d) {
  const uint8_t flags = r.U8();
  if ((flags & ~3u) != 0) return false;
  d->sent = (flags & 1) != 0;
  d->last_bad = (flags & 2) != 0;
  if (!d->sent) return !d->last_bad;
  d->last_value = r.F64();
  d->last_t_us = r.I64();
  return SaneTime(d->last_t_us);
}

void SaveAggregate(const AggregateState& a, ByteWriter& w) {
  w.I64(a.period_us);
  w.U8(static_cast<uint8_t>((a.open ? 1 : 0) | (a.closed ? 2 : 0)));
  if (a.closed) w.I64(a.closed_end_us);
  if (!a.open) return;
  w.I64(a.open_start_us);
  w.U64(a.count);
  if (a.count == 0) return;
  w.F64(a.min);
  w.F64(a.max);
  w.F64(a.sum);
  w.F64(a.last);
}

bool LoadAggregate(ByteReader& r, AggregateState* a) {
  a->period_us = r.I64();
  const uint8_t flags = r.U8();
  if (a->period_us <= 0 || a->period_us > kMaxPeriodUs || (flags & ~3u) != 0) return false;
  a->open = (flags & 1) != 0;
  a->closed = (flags & 2) != 0;
  if (a->closed) {
    a->closed_end_us = r.I64();
    if (!SaneTime(a->closed_end_us)) return false;
  }
  if (!a->open) return true;
  a->open_start_us = r.I64();
  a->count = r.U64();
  if (!SaneTime(a->open_start_us) || a->open_start_us % a->period_us != 0) return false;
  if (a->closed && a->open_start_us < a->closed_end_us) return false;
  if (a->count == 0) return true;
  a->min = r.F64();
  a->max = r.F64();
  a->sum = r.F64();
  a->last = r.F64();
  // Only finite values are accumulated; the sum alone may have overflowed to ±Inf.
  return std::isfinite(a->min) && std::isfinite(a->max) && std::isfinite(a->last) &&
         !std::isnan(a->sum) && a->min <= a->max && a->min <= a->last && a->last <= a->max;
}

}  // namespace

void Feed(const ModeSpec& m, TagFilterState& s, const Reading& r, Series& out,
          FilterCounters& c) {
  Reconcile(m, s, out);
  switch (m.kind) {
    case ModeSpec::Kind::kRaw:
      out.readings.push_back(r);
      return;
    case ModeSpec::Kind::kDeadband:
      FeedDeadband(m, s.deadband, r, out, c);
      return;
    case ModeSpec::Kind::kAggregate:
      FeedAggregate(s.aggregate, r, out, c);
      return;
  }
}

bool FlushByClock(const ModeSpec& m, TagFilterState& s, int64_t now_us, Series& out) {
  if (m.kind != ModeSpec::Kind::kAggregate) return false;
  Reconcile(m, s, out);  // may itself append the period of an older configuration
  const size_t before = out.aggregates.size();
  AggregateState& a = s.aggregate;
  if (a.open && now_us >= a.open_start_us + a.period_us +
                              std::max(a.period_us, kMinClockFlushDelayUs)) {
    CloseOpenPeriod(a, out);
  }
  return out.aggregates.size() > before;
}

std::string SaveState(const TagFilterState& s) {
  ByteWriter w;
  w.U8(kStateVersion);
  w.U8(static_cast<uint8_t>(s.kind));
  switch (s.kind) {
    case ModeSpec::Kind::kRaw:
      break;
    case ModeSpec::Kind::kDeadband:
      SaveDeadband(s.deadband, w);
      break;
    case ModeSpec::Kind::kAggregate:
      SaveAggregate(s.aggregate, w);
      break;
  }
  return w.Take();
}

bool LoadState(std::string_view bytes, TagFilterState* s) {
  ByteReader r(bytes);
  if (r.U8() != kStateVersion) return false;
  TagFilterState loaded;
  const uint8_t kind = r.U8();
  bool ok = false;
  switch (kind) {
    case static_cast<uint8_t>(ModeSpec::Kind::kRaw):
      ok = true;
      break;
    case static_cast<uint8_t>(ModeSpec::Kind::kDeadband):
      ok = LoadDeadband(r, &loaded.deadband);
      break;
    case static_cast<uint8_t>(ModeSpec::Kind::kAggregate):
      ok = LoadAggregate(r, &loaded.aggregate);
      break;
    default:
      return false;
  }
  if (!ok || r.failed() || !r.AtEnd()) return false;
  loaded.kind = static_cast<ModeSpec::Kind>(kind);
  *s = loaded;
  return true;
}

}  // namespace edge::uplink
