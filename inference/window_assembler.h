// Assembles one deployment's model input: each input tag resampled onto the model's fixed step
// grid, a ring of the last `window` steps, and a window every `stride` steps (DESIGN §3).
//
// The grid is aligned to the epoch: step k covers (k*step - step, k*step], and a step is named by
// its end. The value of an input at a step is the last sample at or before the step's end, if that
// sample is good and no older than `max_age`. Otherwise the input is missing, bad or stale at that
// step, and every window containing that step is unscorable: it is reported (with the first input
// at fault) and counted, never filled in. Values are kept raw; normalisation belongs to the model.
//
// A step is closed as soon as no input is expected to deliver another sample within it: an input
// is done with the step when it has delivered a sample past the step's end, or when its latest
// sample lies in the step and, at the input's observed sampling period (a moving average of the
// gaps between its samples), the next one is due after the step's end (with 5 % of the period as
// margin for jitter). A PLC polled every 100 ms on a 100 ms grid thus has its step scored right
// when the poll's answer arrives, not one poll later (Modbus polls are placed mid-step for this,
// drivers/modbus_source.h). Otherwise the step closes when the clock passes its
// end by `lateness` (an input that reports slowly, irregularly, or not at all). A sample that
// arrives for a step already closed is counted as late; it still updates the input's latest value.
//
// Memory is fixed at construction: the ring, and a small queue per input of samples not yet
// consumed by a step close (if one overflows, its oldest sample is consumed early, and counted).
// Nothing is allocated per sample or per window.
//
// Thread-safety: none; one owner (the scoring stage).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/sample.h"

namespace edge::inference {

struct WindowSpec {
  int features = 1;                                         // REQUIRES: >= 1
  int window = 1;                                           // steps; REQUIRES: >= 1
  int stride = 1;                                           // steps between windows; REQUIRES: >= 1
  std::chrono::microseconds step{std::chrono::seconds(1)};  // REQUIRES: > 0
  std::chrono::microseconds max_age{std::chrono::seconds(3)};
  std::chrono::microseconds lateness{std::chrono::milliseconds(50)};

  bool operator==(const WindowSpec&) const = default;
};

// Why a window cannot be scored (or kOk / kWarmingUp): the data-quality state of a deployment.
enum class DataQuality {
  kWarmingUp,  // fewer than `window` steps seen since start
  kOk,
  kMissing,  // an input has never delivered a sample
  kStale,    // an input's last sample is older than max_age
  kBad,      // an input's last sample has bad quality (device down, decode failure)
};

std::string_view DataQualityName(DataQuality q);  // "warming_up", "ok", "missing", ...

struct WindowStatus {
  DataQuality quality = DataQuality::kWarmingUp;
  int feature = -1;  // the first input at fault, for kMissing / kStale / kBad
};

struct WindowCounters {
  uint64_t steps_closed = 0;
  uint64_t windows_ready = 0;
  uint64_t windows_unscorable = 0;
  uint64_t samples_late = 0;
  uint64_t pending_overflows = 0;
};

class WindowAssembler {
 public:
  // Receives the windows of one Advance() call. A window's values are readable with
  // CopyWindow() during OnWindow only.
  class Sink {
   public:
    virtual ~Sink() = default;
    virtual void OnWindow(const WindowAssembler& assembler, Timestamp window_end) = 0;
    // `windows` consecutive windows ending at or before `window_end` could not be scored.
    virtual void OnUnscorable(const WindowAssembler& assembler, Timestamp window_end,
                              const WindowStatus& why, uint64_t windows) = 0;
  };

  explicit WindowAssembler(const WindowSpec& spec);

  // REQUIRES: 0 <= feature < spec.features.
  void Add(int feature, const Sample& sample);

  // Closes the steps that are due at `now` and delivers their windows to `sink`.
  void Advance(Timestamp now, Sink& sink);

  // Closes the steps due at `now` without delivering any window: for rebuilding the ring from
  // stored samples after a restart (Add them in time order, then Prime), so that scoring resumes
  // at once without scoring the past again.
  void Prime(Timestamp now);

  // The current window, oldest step first, row-major [window][features].
  // REQUIRES: out.size() == window * features.
  void CopyWindow(std::span<float> out) const;

  const WindowSpec& spec() const { return spec_; }
  const WindowStatus& status() const { return status_; }
  const WindowCounters& counters() const { return counters_; }
  // The end of the next step to close; Timestamp{} before the first sample or Advance.
  Timestamp next_step_end() const { return next_end_; }

 private:
  struct Reading {
    Timestamp ts{};
    float value = 0.0f;
    Quality quality = Quality::kBad;
  };
  static constexpr int kPendingCapacity = 64;
  struct Input {
    Reading last;        // consumed: the latest sample at or before the last closed step
    bool seen = false;   // `last` holds a sample
    Timestamp newest{};  // newest sample time delivered (pending or consumed)
    std::chrono::microseconds period{0};  // moving average of the gaps; 0: not known yet
    Reading pending[kPendingCapacity];    // not yet consumed, in arrival order
    int pending_head = 0;
    int pending_size = 0;
  };

  Timestamp StepEndAtOrAfter(Timestamp t) const;
  bool StepDue(Timestamp end, Timestamp now) const;
  void Consume(Input& input, const Reading& r);
  // Closes the step ending at next_end_; returns true if it completes a window to deliver.
  bool CloseStep();
  void CloseDueSteps(Timestamp now, Sink* sink);

  WindowSpec spec_;
  std::vector<Input> inputs_;
  std::vector<float> ring_;  // window x features, row (steps_closed % window) is the newest
  Timestamp next_end_{};
  uint64_t last_unhealthy_step_ = 0;  // 1-based index of the last step with a fault; 0: none
  WindowStatus last_fault_;
  WindowStatus status_;
  WindowCounters counters_;
};

}  // namespace edge::inference
