#include "agent/alarm_engine.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

namespace edge::agent {
namespace {

using std::chrono::seconds;

constexpr AlarmSettings kSettings{.threshold = 0.5, .raise_after = 3, .clear_after = 2};

Timestamp At(int s) { return Timestamp{} + seconds(1'800'000'000 + s); }

// Feeds scores one window a second; returns every transition with the index of its window.
struct Feed {
  AlarmEngine engine{kSettings};
  int next = 0;
  std::vector<std::pair<int, AlarmTransition>> transitions;

  void Scores(std::initializer_list<double> scores) {
    for (double s : scores) {
      if (std::optional<AlarmTransition> t = engine.OnScore(s, At(next))) {
        transitions.emplace_back(next, *t);
      }
      ++next;
    }
  }
  void Gap(int windows) {
    for (int i = 0; i < windows; ++i, ++next) engine.OnUnscorable();
  }
};

TEST(AlarmEngine, RaisesAfterConsecutiveAnomalousWindowsOnly) {
  Feed f;
  f.Scores({0.9, 0.9, 0.1, 0.9, 0.9, 0.2});  // runs of 2: shorter than raise_after
  EXPECT_TRUE(f.transitions.empty());
  f.Scores({0.6, 0.8, 0.7});
  ASSERT_EQ(f.transitions.size(), 1u);
  EXPECT_EQ(f.transitions[0].first, 8);
  const AlarmTransition& t = f.transitions[0].second;
  EXPECT_EQ(t.state, AlarmState::kRaised);
  EXPECT_DOUBLE_EQ(t.score, 0.7);
  EXPECT_DOUBLE_EQ(t.peak_score, 0.8);  // peak of the run that raised it
  EXPECT_EQ(t.window_end, At(8));
  EXPECT_EQ(f.engine.state(), AlarmState::kRaised);
}

TEST(AlarmEngine, ThresholdIsStrict) {
  Feed f;
  f.Scores({0.5, 0.5, 0.5, 0.5});
  EXPECT_TRUE(f.transitions.empty());
  EXPECT_EQ(f.engine.counters().windows_anomalous, 0u);
}

TEST(AlarmEngine, ClearsWithHysteresisAndKeepsTheEpisodePeak) {
  Feed f;
  f.Scores({0.6, 0.6, 0.6});        // raised at 2
  f.Scores({0.95, 0.1, 0.7, 0.1});  // one normal window, then anomalous again: still raised
  ASSERT_EQ(f.transitions.size(), 1u);
  f.Scores({0.2});  // second consecutive normal window: cleared
  ASSERT_EQ(f.transitions.size(), 2u);
  EXPECT_EQ(f.transitions[1].first, 7);
  const AlarmTransition& t = f.transitions[1].second;
  EXPECT_EQ(t.state, AlarmState::kNormal);
  EXPECT_DOUBLE_EQ(t.score, 0.2);
  EXPECT_DOUBLE_EQ(t.peak_score, 0.95);
  f.Scores({0.1, 0.1, 0.1});  // staying normal gives no further message
  EXPECT_EQ(f.transitions.size(), 2u);
  EXPECT_EQ(f.engine.counters().raised, 1u);
  EXPECT_EQ(f.engine.counters().cleared, 1u);
}

TEST(AlarmEngine, OneMessagePerTransitionWhileAnomalyPersists) {
  Feed f;
  for (int i = 0; i < 100; ++i) f.Scores({0.9});
  ASSERT_EQ(f.transitions.size(), 1u);
  EXPECT_EQ(f.engine.counters().windows_anomalous, 100u);
}

TEST(AlarmEngine, DataGapBreaksTheRunAndNeverRaisesOrClears) {
  Feed f;
  f.Scores({0.9, 0.9});
  f.Gap(5);  // a stale sensor: the run before the gap does not count
  f.Scores({0.9, 0.9});
  EXPECT_TRUE(f.transitions.empty());
  f.Scores({0.9});  // third consecutive after the gap
  ASSERT_EQ(f.transitions.size(), 1u);

  f.Scores({0.1});
  f.Gap(100);  // no data is not "normal": the alarm stays raised
  EXPECT_EQ(f.engine.state(), AlarmState::kRaised);
  f.Scores({0.1});
  EXPECT_EQ(f.transitions.size(), 1u);
  f.Scores({0.1});
  ASSERT_EQ(f.transitions.size(), 2u);
  EXPECT_EQ(f.engine.counters().windows_unscorable, 105u);
}

TEST(AlarmEngine, NonFiniteScoreIsUnscorable) {
  Feed f;
  f.Scores({0.9, 0.9, std::numeric_limits<double>::quiet_NaN(), 0.9, 0.9});
  EXPECT_TRUE(f.transitions.empty());
  f.Scores({std::numeric_limits<double>::infinity()});
  EXPECT_TRUE(f.transitions.empty());
  EXPECT_EQ(f.engine.counters().windows_unscorable, 2u);
  EXPECT_EQ(f.engine.counters().windows_scored, 4u);
}

TEST(AlarmEngine, RestoredRaisedStateClearsWithoutRaisingAgain) {
  AlarmEngine engine(kSettings, AlarmState::kRaised, 0.8);
  EXPECT_FALSE(engine.OnScore(0.9, At(0)).has_value());  // already raised: nothing to say
  EXPECT_FALSE(engine.OnScore(0.1, At(1)).has_value());
  const std::optional<AlarmTransition> t = engine.OnScore(0.1, At(2));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->state, AlarmState::kNormal);
  EXPECT_DOUBLE_EQ(t->peak_score, 0.9);
}

TEST(AlarmEngine, RaiseAfterOneRaisesOnTheFirstAnomalousWindow) {
  AlarmEngine engine({.threshold = 1.0, .raise_after = 1, .clear_after = 1});
  EXPECT_FALSE(engine.OnScore(1.0, At(0)).has_value());
  ASSERT_TRUE(engine.OnScore(1.5, At(1)).has_value());
  ASSERT_TRUE(engine.OnScore(0.5, At(2)).has_value());
  EXPECT_EQ(engine.state(), AlarmState::kNormal);
}

}  // namespace
}  // namespace edge::agent
