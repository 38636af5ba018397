// Per-tag stream filters (uplink/stream_filter.h): hand-worked cases for each rule of DESIGN §10,
// the deadband and aggregate modes against straightforward reference implementations on seeded
// random sequences, and the saved state: a run interrupted by Save/Load anywhere gives the same
// output as an uninterrupted one, and damaged bytes are refused.
#include "uplink/stream_filter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace edge::uplink {
namespace {

constexpr int64_t kSecond = 1'000'000;

ModeSpec Deadband(double band, bool percent = false, int64_t max_interval_us = 0) {
  ModeSpec m;
  m.kind = ModeSpec::Kind::kDeadband;
  m.band = band;
  m.percent = percent;
  m.max_interval_us = max_interval_us;
  return m;
}

ModeSpec AggregateOf(int64_t period_us) {
  ModeSpec m;
  m.kind = ModeSpec::Kind::kAggregate;
  m.period_us = period_us;
  return m;
}

struct TagRun {
  TagFilterState state;
  Series out;
  FilterCounters counters;
  void Feed(const ModeSpec& m, const Reading& r) { uplink::Feed(m, state, r, out, counters); }
  void FeedAll(const ModeSpec& m, const std::vector<Reading>& rs) {
    for (const Reading& r : rs) Feed(m, r);
  }
};

bool SameBits(double a, double b) { return std::bit_cast<uint64_t>(a) == std::bit_cast<uint64_t>(b); }

void ExpectSameReadings(const std::vector<Reading>& got, const std::vector<Reading>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].t_us, want[i].t_us) << i;
    EXPECT_EQ(got[i].bad, want[i].bad) << i;
    EXPECT_TRUE(SameBits(got[i].value, want[i].value)) << i << ": " << got[i].value;
  }
}

void ExpectSameAggregates(const std::vector<Aggregate>& got, const std::vector<Aggregate>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].period_start_us, want[i].period_start_us) << i;
    EXPECT_EQ(got[i].count, want[i].count) << i;
    EXPECT_TRUE(SameBits(got[i].min, want[i].min)) << i;
    EXPECT_TRUE(SameBits(got[i].max, want[i].max)) << i;
    EXPECT_TRUE(SameBits(got[i].mean, want[i].mean)) << i << ": " << got[i].mean;
    EXPECT_TRUE(SameBits(got[i].last, want[i].last)) << i;
  }
}

// ---- raw ----

TEST(RawFilter, PassesEveryReadingBadOnesAsBad) {
  const std::vector<Reading> rs = {{1, 1, false}, {2, 1, false}, {3, 9, true}, {3, std::nan(""), false}};
  TagRun run;
  run.FeedAll(ModeSpec{}, rs);
  ExpectSameReadings(run.out.readings, rs);
  EXPECT_EQ(run.counters.suppressed, 0u);
}

// ---- deadband ----

std::vector<int64_t> SentTimes(const Series& s) {
  std::vector<int64_t> t;
  for (const Reading& r : s.readings) t.push_back(r.t_us);
  return t;
}

TEST(DeadbandFilter, AbsoluteBandIsStrictlyGreaterThan) {
  TagRun run;
  run.FeedAll(Deadband(0.5), {{1, 10}, {2, 10.5}, {3, 10.6}, {4, 10.2}, {5, 10.0}, {6, 9.5}});
  // 10.5 is exactly the band from 10: not sent; 10.2 is 0.4 from 10.6; 9.5 is 0.5 from 10.0.
  EXPECT_EQ(SentTimes(run.out), (std::vector<int64_t>{1, 3, 5}));
  EXPECT_EQ(run.counters.suppressed, 3u);
}

TEST(DeadbandFilter, PercentIsOfTheLastSentValue) {
  TagRun run;
  run.FeedAll(Deadband(10, true), {{1, 100}, {2, 109}, {3, 111}, {4, 100}, {5, 99.8}, {6, -100}});
  // From 111 the band is 11.1: 100 is 11 away (not sent), 99.8 is 11.2 away (sent).
  EXPECT_EQ(SentTimes(run.out), (std::vector<int64_t>{1, 3, 5, 6}));
  TagRun zero;
  zero.FeedAll(Deadband(10, true), {{1, 0}, {2, 0}, {3, 1e-12}, {4, 1e-12}});
  EXPECT_EQ(SentTimes(zero.out), (std::vector<int64_t>{1, 3}));  // any change from 0 is sent
}

TEST(DeadbandFilter, MaxIntervalUsesReadingTime) {
  TagRun run;
  const int64_t minute = 60 * kSecond;
  run.FeedAll(Deadband(100, false, minute),
              {{0, 1}, {minute - 1, 1}, {minute, 1}, {minute + 5, 1}, {2 * minute - 1, 1},
               {2 * minute, 1}, {2 * minute + 1, 1}});
  EXPECT_EQ(SentTimes(run.out), (std::vector<int64_t>{0, minute, 2 * minute}));
  EXPECT_EQ(run.counters.suppressed, 4u);
}

TEST(DeadbandFilter, BadTransitions) {
  TagRun run;
  run.FeedAll(Deadband(1), {{1, 5, false}, {2, 5, true}, {3, 7, true}, {4, 5, false},
                            {5, 5, false}, {6, 0, true}});
  // bad after good: sent; bad after bad: not; the first good after a bad: sent, same value or not.
  EXPECT_EQ(SentTimes(run.out), (std::vector<int64_t>{1, 2, 4, 6}));
  EXPECT_TRUE(run.out.readings[1].bad);
  EXPECT_EQ(run.counters.suppressed, 2u);
}

TEST(DeadbandFilter, FirstReadingIsSentEvenWhenBad) {
  TagRun run;
  run.FeedAll(Deadband(1, false, 10), {{1, 0, true}, {2, 0, true}, {11, 0, true}, {12, 3, false}});
  // The bad reading at 11 is max_interval after the last sent one: a heartbeat, still bad.
  EXPECT_EQ(SentTimes(run.out), (std::vector<int64_t>{1, 11, 12}));
}

TEST(DeadbandFilter, NonFiniteGoodValues) {
  const double inf = std::numeric_limits<double>::infinity();
  TagRun run;
  run.FeedAll(Deadband(1), {{1, 5}, {2, std::nan("")}, {3, std::nan("")}, {4, inf}, {5, inf},
                            {6, 5}, {7, 5.5}});
  EXPECT_EQ(SentTimes(run.out), (std::vector<int64_t>{1, 2, 4, 6}));
}

// Deadband written from the rules one by one, over the whole sequence.
std::vector<Reading> ReferenceDeadband(const ModeSpec& m, const std::vector<Reading>& rs) {
  std::vector<Reading> sent;
  for (const Reading& r : rs) {
    bool send = false;
    if (sent.empty()) {
      send = true;
    } else {
      const Reading& last = sent.back();
      const bool interval = m.max_interval_us > 0 && r.t_us - last.t_us >= m.max_interval_us;
      if (interval || r.bad != last.bad) {
        send = true;
      } else if (!r.bad) {
        const double a = r.value;
        const double b = last.value;
        if (std::isfinite(a) && std::isfinite(b)) {
          send = std::fabs(a - b) > (m.percent ? m.band * std::fabs(b) / 100 : m.band);
        } else {
          send = !(std::isnan(a) && std::isnan(b)) && a != b;
        }
      }
    }
    if (send) sent.push_back(r);
  }
  return sent;
}

// A random walk with repeated values, bad stretches, rare NaNs, and time steps of 0..3 s.
std::vector<Reading> RandomSequence(std::mt19937_64& rng, size_t n, bool time_goes_back = false) {
  std::vector<Reading> rs;
  double v = 50;
  int64_t t = 1'700'000'000 * kSecond;
  std::uniform_real_distribution<double> step(-2, 2);
  for (size_t i = 0; i < n; ++i) {
    const unsigned roll = static_cast<unsigned>(rng() % 100);
    if (roll < 60) v += step(rng);
    t += static_cast<int64_t>(rng() % (3 * kSecond + 1));
    if (time_goes_back && roll >= 95) t -= 25 * kSecond;
    Reading r{t, v, roll >= 85 && roll < 93};
    if (roll == 99) r.value = std::nan("");
    rs.push_back(r);
  }
  return rs;
}

TEST(DeadbandFilter, AgreesWithTheReferenceOnRandomSequences) {
  std::mt19937_64 rng(2026);
  const std::vector<ModeSpec> specs = {Deadband(0), Deadband(0.5), Deadband(1.5),
                                       Deadband(2, true), Deadband(0.5, false, 10 * kSecond),
                                       Deadband(5, true, 30 * kSecond)};
  for (const ModeSpec& m : specs) {
    for (int seq = 0; seq < 20; ++seq) {
      const std::vector<Reading> rs = RandomSequence(rng, 2000);
      TagRun run;
      run.FeedAll(m, rs);
      const std::vector<Reading> want = ReferenceDeadband(m, rs);
      ExpectSameReadings(run.out.readings, want);
      EXPECT_EQ(run.counters.suppressed, rs.size() - want.size());
    }
  }
}

// ---- aggregate ----

TEST(AggregateFilter, PeriodsAreEpochAlignedAndHalfOpen) {
  TagRun run;
  const ModeSpec m = AggregateOf(10 * kSecond);
  run.FeedAll(m, {{12 * kSecond, 1}, {15 * kSecond, 3}, {20 * kSecond - 1, 2}});
  EXPECT_TRUE(run.out.aggregates.empty());  // no reading at or after 20 s yet
  run.Feed(m, {20 * kSecond, 5});
  ExpectSameAggregates(run.out.aggregates, {{10 * kSecond, 1, 3, 2, 2, 3}});
  run.Feed(m, {30 * kSecond, 0});
  ExpectSameAggregates(run.out.aggregates,
                       {{10 * kSecond, 1, 3, 2, 2, 3}, {20 * kSecond, 5, 5, 5, 5, 1}});
}

TEST(AggregateFilter, OnlyGoodFiniteReadingsCount) {
  TagRun run;
  const ModeSpec m = AggregateOf(kSecond);
  const double inf = std::numeric_limits<double>::infinity();
  run.FeedAll(m, {{0, 4, false}, {1, 100, true}, {2, std::nan(""), false}, {3, inf, false},
                  {4, -inf, false}, {5, 2, false}, {6, -50, true}, {kSecond, 0}});
  ExpectSameAggregates(run.out.aggregates, {{0, 2, 4, 3, 2, 2}});
}

TEST(AggregateFilter, APeriodWithOnlyBadReadingsIsNotSent) {
  TagRun run;
  const ModeSpec m = AggregateOf(kSecond);
  run.FeedAll(m, {{0, 1, true}, {10, 2, true}, {kSecond, 7, false}, {3 * kSecond, 0, true}});
  // [0,1s): bad only, nothing; [1s,2s): 7, closed by the bad reading at 3 s (time moved on).
  ExpectSameAggregates(run.out.aggregates, {{kSecond, 7, 7, 7, 7, 1}});
  Series flushed;
  EXPECT_FALSE(FlushByClock(m, run.state, 100 * kSecond, flushed));  // [3s,4s) bad only
  EXPECT_TRUE(flushed.aggregates.empty());
}

TEST(AggregateFilter, LateReadingsAreCountedNotResent) {
  TagRun run;
  const ModeSpec m = AggregateOf(10 * kSecond);
  run.FeedAll(m, {{12 * kSecond, 1}, {25 * kSecond, 2}});  // closes [10,20)
  run.Feed(m, {15 * kSecond, 100});                        // [10,20) was sent: late
  EXPECT_EQ(run.counters.late_readings, 1u);
  run.Feed(m, {35 * kSecond, 3});
  ExpectSameAggregates(run.out.aggregates,
                       {{10 * kSecond, 1, 1, 1, 1, 1}, {20 * kSecond, 2, 2, 2, 2, 1}});
  // [40,50) opens at 45 s; a reading for the skipped, never opened [30,40) is late as well.
  run.FeedAll(m, {{45 * kSecond, 4}, {38 * kSecond, 5}, {5 * kSecond, 6, true}});
  EXPECT_EQ(run.counters.late_readings, 3u);
  ExpectSameAggregates(run.out.aggregates, {{10 * kSecond, 1, 1, 1, 1, 1},
                                            {20 * kSecond, 2, 2, 2, 2, 1},
                                            {30 * kSecond, 3, 3, 3, 3, 1}});
}

TEST(AggregateFilter, ClockFlushWaitsAPeriodPastTheEnd) {
  const ModeSpec m = AggregateOf(10 * kSecond);
  TagRun run;
  run.Feed(m, {12 * kSecond, 1});
  Series out;
  EXPECT_FALSE(FlushByClock(m, run.state, 30 * kSecond - 1, out));
  EXPECT_TRUE(out.aggregates.empty());
  EXPECT_TRUE(FlushByClock(m, run.state, 30 * kSecond, out));
  ExpectSameAggregates(out.aggregates, {{10 * kSecond, 1, 1, 1, 1, 1}});
  EXPECT_FALSE(FlushByClock(m, run.state, 90 * kSecond, out));  // nothing open any more
  run.Feed(m, {19 * kSecond, 2});                               // for the flushed period: late
  EXPECT_EQ(run.counters.late_readings, 1u);
  run.Feed(m, {20 * kSecond, 3});  // the next period is open for business
  EXPECT_EQ(run.counters.late_readings, 1u);
  EXPECT_TRUE(FlushByClock(m, run.state, 40 * kSecond, out));
  EXPECT_EQ(out.aggregates.back().period_start_us, 20 * kSecond);
}

TEST(AggregateFilter, ClockFlushWaitsAtLeastFiveSeconds) {
  const ModeSpec m = AggregateOf(kSecond);
  TagRun run;
  run.Feed(m, {kSecond + 500, 1});
  Series out;
  EXPECT_FALSE(FlushByClock(m, run.state, 7 * kSecond - 1, out));  // end 2 s + 5 s
  EXPECT_TRUE(FlushByClock(m, run.state, 7 * kSecond, out));
  EXPECT_FALSE(FlushByClock(Deadband(1), run.state, 100 * kSecond, out));
}

TEST(AggregateFilter, MeanStaysWithinMinAndMax) {
  TagRun run;
  const ModeSpec m = AggregateOf(kSecond);
  run.FeedAll(m, {{0, 0.1}, {1, 0.1}, {2, 0.1}, {kSecond, 0}});
  ASSERT_EQ(run.out.aggregates.size(), 1u);
  EXPECT_EQ(run.out.aggregates[0].mean, 0.1);  // (0.1 + 0.1 + 0.1) / 3 is 0.10000000000000002
}

// Aggregates of a sequence whose times never go back, computed after the fact: every period
// before the last one that has a good finite reading.
std::vector<Aggregate> ReferenceAggregates(int64_t period, const std::vector<Reading>& rs) {
  std::map<int64_t, std::vector<double>> periods;
  for (const Reading& r : rs) {
    std::vector<double>& values = periods[r.t_us / period * period];
    if (!r.bad && std::isfinite(r.value)) values.push_back(r.value);
  }
  if (!periods.empty()) periods.erase(std::prev(periods.end()));  // still open
  std::vector<Aggregate> out;
  for (const auto& [start, values] : periods) {
    if (values.empty()) continue;
    double sum = 0;
    for (double v : values) sum += v;
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    out.push_back({start, *lo, *hi, std::clamp(sum / static_cast<double>(values.size()), *lo, *hi),
                   values.back(), values.size()});
  }
  return out;
}

TEST(AggregateFilter, AgreesWithTheReferenceOnRandomSequences) {
  std::mt19937_64 rng(1018);
  for (int64_t period : {kSecond, 7 * kSecond, 60 * kSecond}) {
    for (int seq = 0; seq < 20; ++seq) {
      const std::vector<Reading> rs = RandomSequence(rng, 3000);
      TagRun run;
      run.FeedAll(AggregateOf(period), rs);
      ExpectSameAggregates(run.out.aggregates, ReferenceAggregates(period, rs));
      EXPECT_EQ(run.counters.late_readings, 0u);
    }
  }
}

// ---- mode changes ----

TEST(StreamFilter, AStateOfAnotherModeStartsFresh) {
  TagRun run;
  run.FeedAll(Deadband(100), {{1, 1}, {2, 2}});
  const ModeSpec agg = AggregateOf(kSecond);
  run.FeedAll(agg, {{3, 5}, {kSecond, 0}});
  EXPECT_EQ(run.state.kind, ModeSpec::Kind::kAggregate);
  ExpectSameAggregates(run.out.aggregates, {{0, 5, 5, 5, 5, 1}});
  run.Feed(Deadband(100), {kSecond + 1, 9});  // deadband again: its first reading is sent
  EXPECT_EQ(SentTimes(run.out), (std::vector<int64_t>{1, kSecond + 1}));
}

TEST(StreamFilter, ANewPeriodClosesTheOpenOneAsItWas) {
  TagRun run;
  run.FeedAll(AggregateOf(10 * kSecond), {{12 * kSecond, 1}, {13 * kSecond, 3}});
  const ModeSpec minute = AggregateOf(60 * kSecond);
  run.Feed(minute, {14 * kSecond, 8});  // its old period was just sent: late
  ExpectSameAggregates(run.out.aggregates, {{10 * kSecond, 1, 3, 2, 3, 2}});
  EXPECT_EQ(run.counters.late_readings, 1u);
  run.FeedAll(minute, {{25 * kSecond, 6}, {61 * kSecond, 0}});
  ExpectSameAggregates(run.out.aggregates, {{10 * kSecond, 1, 3, 2, 3, 2}, {0, 6, 6, 6, 6, 1}});
}

// ---- saved state ----

TEST(FilterState, InterruptedRunsGiveTheSameOutput) {
  std::mt19937_64 rng(99);
  const std::vector<ModeSpec> specs = {ModeSpec{}, Deadband(1), Deadband(3, true, 20 * kSecond),
                                       AggregateOf(10 * kSecond), AggregateOf(kSecond)};
  for (const ModeSpec& m : specs) {
    const std::vector<Reading> rs = RandomSequence(rng, 400, /*time_goes_back=*/true);
    const int64_t now = rs.back().t_us + 200 * kSecond;
    TagRun whole;
    whole.FeedAll(m, rs);
    FlushByClock(m, whole.state, now, whole.out);
    for (size_t split = 0; split <= rs.size(); split += 7) {
      TagRun first;
      for (size_t i = 0; i < split; ++i) first.Feed(m, rs[i]);
      TagRun second;
      second.out = first.out;
      second.counters = first.counters;
      ASSERT_TRUE(LoadState(SaveState(first.state), &second.state)) << split;
      for (size_t i = split; i < rs.size(); ++i) second.Feed(m, rs[i]);
      FlushByClock(m, second.state, now, second.out);
      ExpectSameReadings(second.out.readings, whole.out.readings);
      ExpectSameAggregates(second.out.aggregates, whole.out.aggregates);
      EXPECT_EQ(second.counters.late_readings, whole.counters.late_readings);
      EXPECT_EQ(second.counters.suppressed, whole.counters.suppressed);
    }
    if (m.kind == ModeSpec::Kind::kAggregate) {
      EXPECT_GT(whole.counters.late_readings, 0u);
    }
  }
}

// States of every shape the layout has.
std::vector<TagFilterState> SampleStates() {
  std::vector<TagFilterState> states(1);  // fresh raw
  TagRun deadband;
  deadband.Feed(Deadband(1), {0, 0, true});
  states.push_back(deadband.state);
  deadband.Feed(Deadband(1), {1, 2.5});
  states.push_back(deadband.state);
  const ModeSpec agg = AggregateOf(10 * kSecond);
  TagRun aggregate;
  aggregate.Feed(agg, {12 * kSecond, 1, true});  // open, count 0
  states.push_back(aggregate.state);
  aggregate.FeedAll(agg, {{13 * kSecond, 2}, {14 * kSecond, -1}});  // open, count 2
  states.push_back(aggregate.state);
  aggregate.Feed(agg, {25 * kSecond, 4});  // closed and open
  states.push_back(aggregate.state);
  Series out;
  EXPECT_TRUE(FlushByClock(agg, aggregate.state, 100 * kSecond, out));  // closed only
  states.push_back(aggregate.state);
  return states;
}

TEST(FilterState, SavedBytesAreCompact) {
  for (const TagFilterState& s : SampleStates()) EXPECT_LE(SaveState(s).size(), 67u);
  EXPECT_EQ(SaveState(TagFilterState{}).size(), 2u);
}

TEST(FilterState, DamagedBytesAreRefused) {
  for (const TagFilterState& s : SampleStates()) {
    const std::string good = SaveState(s);
    TagFilterState loaded;
    ASSERT_TRUE(LoadState(good, &loaded));
    EXPECT_EQ(SaveState(loaded), good);
    for (size_t n = 0; n < good.size(); ++n) {
      EXPECT_FALSE(LoadState(std::string_view(good).substr(0, n), &loaded)) << n;
    }
    EXPECT_FALSE(LoadState(good + '\0', &loaded));
    std::string bad_version = good;
    bad_version[0] = 2;
    EXPECT_FALSE(LoadState(bad_version, &loaded));
    std::string bad_kind = good;
    bad_kind[1] = 3;
    EXPECT_FALSE(LoadState(bad_kind, &loaded));
    if (good.size() > 2 && s.kind == ModeSpec::Kind::kDeadband) {
      std::string bad_flags = good;
      bad_flags[2] = static_cast<char>(bad_flags[2] | 0x80);
      EXPECT_FALSE(LoadState(bad_flags, &loaded));
    }
  }
  std::string zero_period = SaveState(SampleStates()[4]);
  std::fill(zero_period.begin() + 2, zero_period.begin() + 10, '\0');
  TagFilterState loaded;
  EXPECT_FALSE(LoadState(zero_period, &loaded));
  EXPECT_FALSE(LoadState("", &loaded));
}

TEST(FilterState, AFailedLoadLeavesTheStateAlone) {
  TagFilterState s = SampleStates()[4];
  const std::string before = SaveState(s);
  EXPECT_FALSE(LoadState("\x01\x02garbage", &s));
  EXPECT_EQ(SaveState(s), before);
}

TEST(FilterState, RandomBytesNeverLoadAsSomethingElse) {
  std::mt19937_64 rng(5);
  int accepted = 0;
  for (int iter = 0; iter < 200'000; ++iter) {
    std::string bytes(rng() % 72, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (iter % 2 == 0 && bytes.size() >= 2) {  // half of them start like a real state
      bytes[0] = 1;
      bytes[1] = static_cast<char>(rng() % 3);
    }
    TagFilterState s;
    if (LoadState(bytes, &s)) {
      ++accepted;
      EXPECT_EQ(SaveState(s), bytes);  // whatever loads is exactly what it re-saves as
    }
  }
  EXPECT_LT(accepted, 1000);
}

}  // namespace
}  // namespace edge::uplink
