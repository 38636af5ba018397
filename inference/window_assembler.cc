#include "inference/window_assembler.h"

#include <algorithm>
#include <limits>

#include "core/status.h"

namespace edge::inference {
namespace {

// A clock jump or a very long outage would otherwise close millions of steps one by one; past
// this many due steps the ring restarts at `now` and the windows in between are counted at once.
constexpr int64_t kMaxCatchUpSteps = int64_t{1} << 20;

}  // namespace

std::string_view DataQualityName(DataQuality q) {
  switch (q) {
    case DataQuality::kWarmingUp:
      return "warming_up";
    case DataQuality::kOk:
      return "ok";
    case DataQuality::kMissing:
      return "missing";
    case DataQuality::kStale:
      return "stale";
    case DataQuality::kBad:
      return "bad";
  }
  return "bad";
}

WindowAssembler::WindowAssembler(const WindowSpec& spec)
    : spec_(spec),
      inputs_(static_cast<size_t>(spec.features)),
      ring_(static_cast<size_t>(spec.window) * static_cast<size_t>(spec.features),
            std::numeric_limits<float>::quiet_NaN()) {
  EDGE_CHECK(spec.features >= 1 && spec.window >= 1 && spec.stride >= 1);
  EDGE_CHECK(spec.step.count() > 0 && spec.max_age.count() >= 0 && spec.lateness.count() >= 0);
}

Timestamp WindowAssembler::StepEndAtOrAfter(Timestamp t) const {
  const int64_t step = spec_.step.count();
  const int64_t us = t.time_since_epoch().count();
  int64_t k = us / step;
  if (k * step < us) ++k;  // ceil for positive times; negative times are not on a line PC
  return Timestamp{std::chrono::microseconds(k * step)};
}

void WindowAssembler::Consume(Input& input, const Reading& r) {
  if (!input.seen || r.ts >= input.last.ts) {
    input.last = r;
    input.seen = true;
  }
}

void WindowAssembler::Add(int feature, const Sample& sample) {
  EDGE_CHECK(feature >= 0 && feature < spec_.features);
  Input& in = inputs_[static_cast<size_t>(feature)];
  const Reading r{sample.ts, static_cast<float>(sample.value), sample.quality};
  if (next_end_ == Timestamp{}) next_end_ = StepEndAtOrAfter(sample.ts);
  if (sample.ts > in.newest) {
    if (in.newest != Timestamp{}) {
      const std::chrono::microseconds gap = sample.ts - in.newest;
      in.period = in.period.count() == 0 ? gap : (7 * in.period + gap) / 8;
    }
    in.newest = sample.ts;
  }

  if (sample.ts <= next_end_ - spec_.step) {  // its step is already closed
    ++counters_.samples_late;
    Consume(in, r);
    return;
  }
  if (in.pending_size == kPendingCapacity) {
    Consume(in, in.pending[in.pending_head]);
    in.pending_head = (in.pending_head + 1) % kPendingCapacity;
    --in.pending_size;
    ++counters_.pending_overflows;
  }
  in.pending[(in.pending_head + in.pending_size) % kPendingCapacity] = r;
  ++in.pending_size;
}

bool WindowAssembler::StepDue(Timestamp end, Timestamp now) const {
  if (now >= end + spec_.lateness) return true;
  for (const Input& in : inputs_) {
    if (in.newest > end) continue;  // reported past the step's end
    const bool last_of_step = in.period.count() > 0 && in.newest > end - spec_.step &&
                              in.newest + in.period - in.period / 20 > end;
    if (!last_of_step) return false;
  }
  return true;
}

bool WindowAssembler::CloseStep() {
  const Timestamp end = next_end_;
  const uint64_t n = ++counters_.steps_closed;
  const size_t features = inputs_.size();
  float* row = &ring_[((n - 1) % static_cast<uint64_t>(spec_.window)) * features];
  WindowStatus fault{DataQuality::kOk, -1};
  for (size_t f = 0; f < features; ++f) {
    Input& in = inputs_[f];
    while (in.pending_size > 0 && in.pending[in.pending_head].ts <= end) {
      Consume(in, in.pending[in.pending_head]);
      in.pending_head = (in.pending_head + 1) % kPendingCapacity;
      --in.pending_size;
    }
    DataQuality q = DataQuality::kOk;
    if (!in.seen) {
      q = DataQuality::kMissing;
    } else if (in.last.quality != Quality::kGood) {
      q = DataQuality::kBad;
    } else if (end - in.last.ts > spec_.max_age) {
      q = DataQuality::kStale;
    }
    row[f] = in.seen ? in.last.value : std::numeric_limits<float>::quiet_NaN();
    if (q != DataQuality::kOk && fault.quality == DataQuality::kOk) {
      fault = {q, static_cast<int>(f)};
    }
  }
  if (fault.quality != DataQuality::kOk) {
    last_unhealthy_step_ = n;
    last_fault_ = fault;
  }
  next_end_ += spec_.step;

  const uint64_t window = static_cast<uint64_t>(spec_.window);
  if (n < window) {
    status_ = {DataQuality::kWarmingUp, -1};
    return false;
  }
  if ((n - window) % static_cast<uint64_t>(spec_.stride) != 0) return false;
  const bool scorable = last_unhealthy_step_ + window <= n;
  status_ = scorable ? WindowStatus{DataQuality::kOk, -1} : last_fault_;
  return true;
}

void WindowAssembler::CloseDueSteps(Timestamp now, Sink* sink) {
  if (next_end_ == Timestamp{}) next_end_ = StepEndAtOrAfter(now);

  const int64_t behind = (now - next_end_) / spec_.step;
  if (behind > kMaxCatchUpSteps) {
    const uint64_t skipped = static_cast<uint64_t>(behind - spec_.window);
    const uint64_t windows = skipped / static_cast<uint64_t>(spec_.stride);
    counters_.steps_closed += skipped;
    counters_.windows_unscorable += windows;
    next_end_ += static_cast<int64_t>(skipped) * spec_.step;
    last_unhealthy_step_ = counters_.steps_closed;
    last_fault_ = {DataQuality::kStale, 0};
    status_ = last_fault_;
    if (sink != nullptr && windows > 0) sink->OnUnscorable(*this, next_end_, status_, windows);
  }

  // Consecutive unscorable windows with the same cause are delivered as one call.
  uint64_t unscorable = 0;
  Timestamp unscorable_end{};
  WindowStatus unscorable_why;
  auto flush = [&] {
    if (unscorable > 0 && sink != nullptr) {
      sink->OnUnscorable(*this, unscorable_end, unscorable_why, unscorable);
    }
    unscorable = 0;
  };

  while (StepDue(next_end_, now)) {
    const Timestamp end = next_end_;
    if (!CloseStep()) continue;
    if (status_.quality == DataQuality::kOk) {
      flush();
      ++counters_.windows_ready;
      if (sink != nullptr) sink->OnWindow(*this, end);
      continue;
    }
    ++counters_.windows_unscorable;
    if (unscorable > 0 &&
        (status_.quality != unscorable_why.quality || status_.feature != unscorable_why.feature)) {
      flush();
    }
    ++unscorable;
    unscorable_end = end;
    unscorable_why = status_;
  }
  flush();
}

void WindowAssembler::Advance(Timestamp now, Sink& sink) { CloseDueSteps(now, &sink); }

void WindowAssembler::Prime(Timestamp now) { CloseDueSteps(now, nullptr); }

void WindowAssembler::CopyWindow(std::span<float> out) const {
  const size_t features = inputs_.size();
  const size_t window = static_cast<size_t>(spec_.window);
  EDGE_CHECK(out.size() == window * features);
  // The oldest row follows the newest in the ring.
  const size_t oldest = static_cast<size_t>(counters_.steps_closed % window);
  const size_t head = (window - oldest) * features;
  std::copy(ring_.begin() + static_cast<ptrdiff_t>(oldest * features), ring_.end(), out.begin());
  std::copy(ring_.begin(), ring_.begin() + static_cast<ptrdiff_t>(oldest * features),
            out.begin() + static_cast<ptrdiff_t>(head));
}

}  // namespace edge::inference
