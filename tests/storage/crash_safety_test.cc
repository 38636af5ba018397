// Crash safety: a child process (crash_child.cc) ingests samples through the real writer and
// appends / confirms outbox messages; it is killed with SIGKILL at random moments, also while
// it is still opening the database. After every kill: PRAGMA integrity_check is ok on both
// files, every sample of every batch the child reported committed is present with its value,
// every outbox message it reported durable is still there unless it had started confirming it,
// and sequence numbers keep increasing across the restarts.
//
// EDGE_CRASH_ITERATIONS sets the number of kills (default 8 for CI; the full run uses 60).
// EDGE_CRASH_SEED makes a failing run repeatable (the seed is printed).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "storage/chunk_codec.h"
#include "storage/storage.h"
#include "tests/support/storage_test_util.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::storage {
namespace {

using edge::testing::ScratchDir;
using edge::testing::Subprocess;
using edge::testing::SubprocessOptions;
using testing::IntegrityCheck;

constexpr int kTags = 50;  // as in crash_child.cc

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

struct ChildReport {
  uint64_t committed = 0;
  std::vector<uint64_t> durable;  // "O" lines
  std::set<uint64_t> confirming;  // "X" lines
  bool ready = false;
};

ChildReport Parse(const std::string& out) {
  ChildReport r;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // an unterminated last line was cut by the kill
    if (line == "ready") r.ready = true;
    if (line.size() < 3) continue;
    const uint64_t n = std::strtoull(line.c_str() + 2, nullptr, 10);
    if (line[0] == 'C') r.committed = std::max(r.committed, n);
    if (line[0] == 'O') r.durable.push_back(n);
    if (line[0] == 'X') r.confirming.insert(n);
  }
  return r;
}

// Every sample of the first `committed` of the child's sequence (see crash_child.cc).
void ExpectCommittedSamples(SampleReader& reader, int64_t start_us, uint64_t committed,
                            int iteration) {
  for (int k = 0; k < kTags; ++k) {
    const uint64_t expected = committed / kTags + (static_cast<uint64_t>(k) < committed % kTags);
    std::vector<Sample> got;
    ASSERT_TRUE(reader
                    .ReadRange("tag" + std::to_string(k), FromMicros(start_us),
                               FromMicros(start_us + 59'000'000LL), 0, got)
                    .ok());
    ASSERT_GE(got.size(), expected) << "iteration " << iteration << " tag" << k;
    for (uint64_t i = 0; i < expected; ++i) {
      ASSERT_EQ(ToMicros(got[i].ts), start_us + static_cast<int64_t>(i) * 1000)
          << "iteration " << iteration << " tag" << k << " sample " << i;
      ASSERT_EQ(got[i].value, static_cast<double>(i));
    }
  }
}

TEST(CrashSafety, SigkillAtRandomMomentsLosesNothingCommitted) {
  const int iterations = EnvInt("EDGE_CRASH_ITERATIONS", 8);
  const unsigned seed = static_cast<unsigned>(EnvInt("EDGE_CRASH_SEED", std::random_device{}()));
  std::printf("crash safety: %d iterations, EDGE_CRASH_SEED=%u\n", iterations, seed);
  std::fflush(stdout);  // before any fork
  std::mt19937 rng(seed);
  ScratchDir dir;
  const std::string samples = (dir.path() / "samples.db").string();
  const std::string outbox_path = (dir.path() / "outbox.db").string();
  const int64_t base_us = testing::BaseMicros();
  std::map<int64_t, uint64_t> committed_by_start;
  uint64_t max_seq = 0;
  uint64_t total_commits_seen = 0;
  std::set<uint64_t> all_durable, all_confirming;

  for (int it = 0; it < iterations; ++it) {
    const int64_t start_us = base_us + it * 60'000'000LL;  // a minute of time per run
    SubprocessOptions options;
    options.argv = {STORAGE_CRASH_CHILD, dir.path().string(), std::to_string(start_us)};
    Subprocess child(options);
    if (rng() % 5 == 0) {
      // Kill while the child may still be opening, recovering or migrating.
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 60));
    } else {
      ASSERT_TRUE(child.WaitForOutput("ready", std::chrono::seconds(30)))
          << "iteration " << it << ": child never got ready: " << child.Stderr();
      std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 400));
    }
    child.Signal(SIGKILL);
    const std::optional<int> status = child.Wait(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    ASSERT_EQ(*status, 128 + SIGKILL) << "the child ended by itself: " << child.Stderr();

    const ChildReport report = Parse(child.Stdout());
    total_commits_seen += report.committed > 0;
    for (uint64_t seq : report.durable) {
      EXPECT_GT(seq, max_seq) << "iteration " << it << ": outbox sequence went backwards";
      max_seq = std::max(max_seq, seq);
      all_durable.insert(seq);
    }
    all_confirming.insert(report.confirming.begin(), report.confirming.end());
    committed_by_start[start_us] = report.committed;

    if (!std::filesystem::exists(samples)) continue;  // killed before the file was created
    ASSERT_EQ(IntegrityCheck(samples), "ok") << "iteration " << it;
    if (std::filesystem::exists(outbox_path)) {
      ASSERT_EQ(IntegrityCheck(outbox_path), "ok") << "iteration " << it;
    }
    auto reader = SampleReader::Open(samples);
    if (!reader.ok()) {
      // Killed before the schema was committed: then nothing was reported committed either.
      ASSERT_EQ(report.committed, 0u) << reader.status().ToString();
      continue;
    }
    ExpectCommittedSamples(*reader, start_us, report.committed, it);
    if (!all_durable.empty()) {
      auto outbox = Outbox::Open(outbox_path);
      ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
      auto pending = (*outbox)->ReadAfter(0, 1000000);
      ASSERT_TRUE(pending.ok());
      std::set<uint64_t> present;
      for (const OutboxMessage& m : *pending) present.insert(m.seq);
      for (uint64_t seq : all_durable) {
        if (!all_confirming.count(seq)) {
          EXPECT_TRUE(present.count(seq))
              << "iteration " << it << ": durable message " << seq << " is gone without a confirm";
        }
      }
    }
  }
  // Earlier runs' samples are all still there at the end.
  auto reader = SampleReader::Open(samples);
  ASSERT_TRUE(reader.ok());
  int it = 0;
  for (const auto& [start, committed] : committed_by_start) {
    ExpectCommittedSamples(*reader, start, committed, it++);
  }
  EXPECT_GT(total_commits_seen, 0u) << "no child ever committed: the test proved nothing";
  EXPECT_FALSE(all_durable.empty());
}

}  // namespace
}  // namespace edge::storage
