#include "inference/window_assembler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <vector>

namespace edge::inference {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A whole second, far from the epoch, so that step ends fall on whole seconds.
const Timestamp kT0 = Timestamp{} + seconds(1'800'000'000);
Timestamp At(milliseconds ms) { return kT0 + ms; }

struct Recorder : WindowAssembler::Sink {
  struct Window {
    Timestamp end;
    std::vector<float> values;
  };
  struct Gap {
    Timestamp end;
    WindowStatus why;
    uint64_t windows;
  };
  std::vector<Window> windows;
  std::vector<Gap> gaps;

  void OnWindow(const WindowAssembler& a, Timestamp end) override {
    std::vector<float> v(static_cast<size_t>(a.spec().window * a.spec().features));
    a.CopyWindow(v);
    windows.push_back({end, std::move(v)});
  }
  void OnUnscorable(const WindowAssembler&, Timestamp end, const WindowStatus& why,
                    uint64_t n) override {
    gaps.push_back({end, why, n});
  }
  uint64_t unscorable() const {
    uint64_t n = 0;
    for (const Gap& g : gaps) n += g.windows;
    return n;
  }
};

Sample S(Timestamp ts, double v, Quality q = Quality::kGood) { return Sample{0, ts, v, q}; }

WindowSpec Spec(int features, int window, int stride = 1) {
  return WindowSpec{.features = features,
                    .window = window,
                    .stride = stride,
                    .step = seconds(1),
                    .max_age = seconds(3),
                    .lateness = milliseconds(200)};
}

TEST(WindowAssembler, EmitsOldestFirstWindowsOnceTheRingIsFull) {
  WindowAssembler a(Spec(2, 3));
  Recorder r;
  // Polls at x.9 s: both tags of a device arrive together.
  for (int i = 0; i < 5; ++i) {
    a.Add(0, S(At(milliseconds(900 + 1000 * i)), i));
    a.Add(1, S(At(milliseconds(900 + 1000 * i)), 10 * i));
    a.Advance(At(milliseconds(950 + 1000 * i)), r);
  }
  // Steps end at kT0+1s .. +5s. Once the period (1 s) is known, each poll's answer is the last
  // sample its step will get, so the step closes at once: five steps, three windows.
  ASSERT_EQ(r.windows.size(), 3u);
  EXPECT_EQ(r.windows[0].end, kT0 + seconds(3));
  EXPECT_EQ(r.windows[0].values, (std::vector<float>{0, 0, 1, 10, 2, 20}));
  EXPECT_EQ(r.windows[1].end, kT0 + seconds(4));
  EXPECT_EQ(r.windows[1].values, (std::vector<float>{1, 10, 2, 20, 3, 30}));
  EXPECT_EQ(r.windows[2].end, kT0 + seconds(5));
  EXPECT_EQ(r.windows[2].values, (std::vector<float>{2, 20, 3, 30, 4, 40}));
  EXPECT_EQ(a.status().quality, DataQuality::kOk);
  EXPECT_TRUE(r.gaps.empty());
}

TEST(WindowAssembler, ClosesAStepAsSoonAsEveryInputHasReportedPastIt) {
  WindowAssembler a(Spec(2, 1));
  Recorder r;
  a.Add(0, S(At(milliseconds(500)), 1));
  a.Add(1, S(At(milliseconds(500)), 2));
  a.Add(0, S(At(milliseconds(1010)), 3));  // only one input past the step end at +1s
  a.Advance(At(milliseconds(1020)), r);
  EXPECT_TRUE(r.windows.empty());
  a.Add(1, S(At(milliseconds(1010)), 4));
  a.Advance(At(milliseconds(1020)), r);  // well before the lateness allowance runs out
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].end, kT0 + seconds(1));
  EXPECT_EQ(r.windows[0].values, (std::vector<float>{1, 2}));  // the samples past +1s wait
}

TEST(WindowAssembler, ClosesAStepWhenItsLastExpectedSampleArrives) {
  WindowAssembler a(Spec(1, 1));
  Recorder r;
  // 4 Hz samples on a 1 s grid; the period is learnt from the gaps.
  for (int ms : {100, 350, 600}) {
    a.Add(0, S(At(milliseconds(ms)), ms));
    a.Advance(At(milliseconds(ms + 5)), r);
  }
  EXPECT_TRUE(r.windows.empty());  // 600 ms + 250 ms is still inside the step
  a.Add(0, S(At(milliseconds(850)), 850));
  a.Advance(At(milliseconds(855)), r);  // 850 ms + 250 ms is past it: this was the last one
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].end, kT0 + seconds(1));
  EXPECT_EQ(r.windows[0].values, (std::vector<float>{850}));
}

TEST(WindowAssembler, WithoutAKnownPeriodAStepWaitsForTheLatenessAllowance) {
  WindowAssembler a(Spec(1, 1));
  Recorder r;
  a.Add(0, S(At(milliseconds(900)), 1));  // a single sample: no period yet
  a.Advance(At(milliseconds(1100)), r);
  EXPECT_TRUE(r.windows.empty());
  a.Advance(At(milliseconds(1200)), r);  // end + 200 ms lateness
  EXPECT_EQ(r.windows.size(), 1u);
}

TEST(WindowAssembler, TakesTheLastValueWithinTheStepWhateverTheArrivalOrder) {
  WindowAssembler a(Spec(1, 1));
  Recorder r;
  a.Add(0, S(At(milliseconds(100)), 1));
  a.Add(0, S(At(milliseconds(700)), 7));
  a.Add(0, S(At(milliseconds(300)), 3));  // arrives last, but is older
  a.Advance(At(milliseconds(1300)), r);
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].values, (std::vector<float>{7}));
}

TEST(WindowAssembler, StaleInputMakesWindowsUnscorableUntilAFullWindowOfFreshData) {
  WindowAssembler a(Spec(2, 2));
  Recorder r;
  auto poll = [&](int i, bool with_second) {
    a.Add(0, S(At(milliseconds(900 + 1000 * i)), i));
    if (with_second) a.Add(1, S(At(milliseconds(900 + 1000 * i)), i));
    a.Advance(At(milliseconds(1250 + 1000 * i)), r);
  };
  for (int i = 0; i < 4; ++i) poll(i, true);
  const size_t good_before = r.windows.size();
  EXPECT_EQ(good_before, 3u);  // steps +1..+4: windows ending +2, +3, +4
  // Input 1 goes silent. Its last sample (at +3.9s) is no older than max_age (3s) at the steps
  // ending at +5s and +6s; at the step ending at +7s it is 3.1s old: stale.
  for (int i = 4; i < 10; ++i) poll(i, false);
  EXPECT_EQ(r.windows.size(), good_before + 2u);  // +5, +6
  ASSERT_FALSE(r.gaps.empty());
  EXPECT_EQ(r.gaps[0].why.quality, DataQuality::kStale);
  EXPECT_EQ(r.gaps[0].why.feature, 1);
  EXPECT_EQ(r.gaps[0].end, kT0 + seconds(7));
  EXPECT_EQ(a.status().quality, DataQuality::kStale);
  EXPECT_EQ(r.unscorable(), 4u);  // +7, +8, +9, +10
  // Input 1 comes back: the first window holding only fresh steps is scorable again.
  poll(10, true);
  EXPECT_EQ(r.windows.size(), good_before + 2u);  // window +10..+11 still holds stale +10
  poll(11, true);
  EXPECT_EQ(r.windows.size(), good_before + 3u);
  EXPECT_EQ(a.status().quality, DataQuality::kOk);
  EXPECT_EQ(a.counters().windows_unscorable, 5u);
}

TEST(WindowAssembler, BadQualityAndMissingInputsAreNamed) {
  WindowAssembler a(Spec(3, 1));
  Recorder r;
  a.Add(0, S(At(milliseconds(500)), 1));
  a.Add(1, S(At(milliseconds(500)), std::nan(""), Quality::kBad));
  a.Advance(At(milliseconds(1300)), r);
  ASSERT_EQ(r.gaps.size(), 1u);
  EXPECT_EQ(r.gaps[0].why.quality, DataQuality::kBad);  // the first input at fault
  EXPECT_EQ(r.gaps[0].why.feature, 1);
  a.Add(1, S(At(milliseconds(1500)), 2));
  a.Advance(At(milliseconds(2300)), r);
  ASSERT_EQ(r.gaps.size(), 2u);
  EXPECT_EQ(r.gaps[1].why.quality, DataQuality::kMissing);
  EXPECT_EQ(r.gaps[1].why.feature, 2);
  EXPECT_TRUE(r.windows.empty());
}

TEST(WindowAssembler, StrideEmitsEveryNthStep) {
  WindowAssembler a(Spec(1, 2, 3));
  Recorder r;
  for (int i = 0; i < 12; ++i) {
    a.Add(0, S(At(milliseconds(500 + 1000 * i)), i));
    a.Advance(At(milliseconds(1300 + 1000 * i)), r);
  }
  ASSERT_EQ(r.windows.size(), 4u);  // steps 2, 5, 8, 11 (1-based)
  EXPECT_EQ(r.windows[0].end, kT0 + seconds(2));
  EXPECT_EQ(r.windows[1].end, kT0 + seconds(5));
  EXPECT_EQ(r.windows[3].values, (std::vector<float>{9, 10}));
}

TEST(WindowAssembler, ConsecutiveUnscorableWindowsAreReportedOnce) {
  WindowAssembler a(Spec(1, 2));
  Recorder r;
  a.Add(0, S(At(milliseconds(500)), 1));
  a.Advance(At(seconds(1000)), r);  // a long outage: ~1000 steps at once
  ASSERT_EQ(r.gaps.size(), 1u);
  EXPECT_EQ(r.gaps[0].why.quality, DataQuality::kStale);
  EXPECT_EQ(r.gaps[0].windows, a.counters().windows_unscorable);
  EXPECT_GT(r.gaps[0].windows, 990u);
  EXPECT_EQ(r.windows.size(), 2u);  // the first windows, while the one sample was fresh
}

TEST(WindowAssembler, ClockJumpDoesNotCloseStepsOneByOne) {
  WindowAssembler a(Spec(1, 4));
  Recorder r;
  a.Add(0, S(At(milliseconds(500)), 1));
  a.Advance(At(milliseconds(500)) + std::chrono::hours(24 * 365 * 50), r);  // 1.6e9 steps
  EXPECT_GT(a.counters().windows_unscorable, 1'000'000'000u);
  EXPECT_EQ(r.unscorable(), a.counters().windows_unscorable);
  EXPECT_EQ(a.status().quality, DataQuality::kStale);
}

TEST(WindowAssembler, LateSamplesAreCountedAndStillRefreshTheInput) {
  WindowAssembler a(Spec(1, 1));
  Recorder r;
  a.Add(0, S(At(milliseconds(500)), 1));
  a.Advance(At(milliseconds(1300)), r);   // step +1s closed
  a.Add(0, S(At(milliseconds(800)), 8));  // for the closed step
  EXPECT_EQ(a.counters().samples_late, 1u);
  a.Advance(At(milliseconds(2300)), r);
  ASSERT_EQ(r.windows.size(), 2u);
  EXPECT_EQ(r.windows[1].values, (std::vector<float>{8}));  // the newest known value
}

TEST(WindowAssembler, PendingOverflowConsumesTheOldestAndKeepsTheLastValue) {
  WindowAssembler a(Spec(1, 1));
  Recorder r;
  for (int i = 0; i < 200; ++i) a.Add(0, S(At(milliseconds(1 + 4 * i)), i));  // 200 in one step
  a.Advance(At(milliseconds(1300)), r);
  EXPECT_EQ(a.counters().pending_overflows, 200u - 64u);
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].values, (std::vector<float>{199}));
}

TEST(WindowAssembler, PrimeRebuildsTheRingWithoutScoringThePast) {
  WindowAssembler a(Spec(1, 4));
  // Stored history: 10 s at 1 Hz.
  for (int i = 0; i < 10; ++i) a.Add(0, S(At(milliseconds(900 + 1000 * i)), i));
  a.Prime(At(milliseconds(10'300)));
  EXPECT_EQ(a.counters().steps_closed, 10u);
  Recorder r;
  // Live again: the next step completes a window at once, made of stored and live values.
  a.Add(0, S(At(milliseconds(10'900)), 10));
  a.Advance(At(milliseconds(11'300)), r);
  ASSERT_EQ(r.windows.size(), 1u);
  EXPECT_EQ(r.windows[0].end, kT0 + seconds(11));
  EXPECT_EQ(r.windows[0].values, (std::vector<float>{7, 8, 9, 10}));
}

}  // namespace
}  // namespace edge::inference
