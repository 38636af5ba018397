// Disk full: samples fill the file system (a size-limited tmpfs when the test may mount one, as
// root; otherwise SQLite's own max_page_count on the samples file). Then: sample ingest pauses,
// the oldest pending samples are dropped and counted, the outbox in its own file still takes
// alarms, and when space returns ingest resumes by itself with the newest samples stored.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "storage/storage.h"
#include "tests/support/storage_test_util.h"
#include "tests/support/test_files.h"
#include "tests/support/tmpfs_mount.h"

namespace edge::storage {
namespace {

namespace fs = std::filesystem;
using edge::testing::ScratchDir;
using edge::testing::TmpfsMount;
using testing::At;
using testing::IntegrityCheck;

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST(DiskFull, IngestPausesOutboxKeepsWorkingAndEverythingRecovers) {
  ScratchDir scratch;
  const fs::path data_dir = scratch.path() / "data";
  TmpfsMount tmpfs(data_dir, 6 << 20);
  const bool use_tmpfs = tmpfs.mounted() && std::getenv("EDGE_DISK_FULL_NO_MOUNT") == nullptr;
  if (!use_tmpfs && tmpfs.mounted()) ::umount2(data_dir.c_str(), MNT_DETACH);
  std::printf("disk full simulated with %s\n",
              use_tmpfs ? "a 6 MiB tmpfs" : "PRAGMA max_page_count = 1024 (4 MiB)");
  std::fflush(stdout);
  RecordProperty("disk_full_mode", use_tmpfs ? "tmpfs" : "max_page_count");

  auto storage = Storage::Open(data_dir.string(), {});
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  Outbox& outbox = (*storage)->outbox();
  ASSERT_TRUE(outbox.Append("p/gw/alarms/a", "before", 1, false).ok());

  TagRegistry tags;
  for (int k = 0; k < 20; ++k) tags.Intern("t" + std::to_string(k));
  BoundedQueue<Sample> queue(1 << 16);
  WriterOptions options;
  options.commit_interval = std::chrono::milliseconds(10);
  options.retry_interval = std::chrono::milliseconds(50);
  options.max_batch = 4096;
  if (!use_tmpfs) options.max_page_count = 1024;
  auto writer = (*storage)->CreateWriter(tags, queue, options);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Start().ok());

  std::atomic<bool> stop{false};
  std::atomic<int64_t> round{0};
  std::thread producer([&] {
    std::vector<Sample> batch(20);
    while (!stop) {
      const int64_t r = round;
      for (int k = 0; k < 20; ++k)
        batch[k] = {static_cast<TagId>(k), At(r * 1000), 1.0 * r, Quality::kGood};
      std::span<const Sample> rest(batch);
      while (!rest.empty() && !stop) rest = rest.subspan(queue.PushBatch(rest));
      round = r + 1;
      if (r % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  // Fill the disk.
  ASSERT_TRUE(WaitFor([&] { return (*writer)->stats().paused; }, std::chrono::seconds(60)))
      << "the disk never filled up";
  EXPECT_GT((*writer)->stats().disk_full_events, 0u);
  // Ingest stays paused for a while: the newest samples are kept, the oldest dropped (counted);
  // the producer never sees back-pressure beyond the queue.
  ASSERT_TRUE(WaitFor([&] { return (*writer)->stats().samples_dropped_disk_full > 10000; },
                      std::chrono::seconds(30)));
  EXPECT_TRUE((*writer)->stats().paused);
  const uint64_t committed_while_full = (*writer)->stats().samples_committed;

  // Alarms still go into the outbox while the samples cannot.
  for (int i = 0; i < 20; ++i) {
    auto seq = outbox.Append("p/gw/alarms/a", "during " + std::to_string(i), 1, false);
    ASSERT_TRUE(seq.ok()) << "alarm " << i
                          << " while the disk is full: " << seq.status().ToString();
    if (i % 2 == 0) {
      ASSERT_TRUE(outbox.Confirm(*seq).ok());
    }
  }
  EXPECT_EQ(*outbox.Pending(), 11u);

  // Space returns.
  if (use_tmpfs) {
    ASSERT_TRUE(tmpfs.Resize(256 << 20));
  } else {
    SqliteDb db = std::move(SqliteDb::Open((*storage)->samples_path(), {})).value();
    ASSERT_TRUE(db.Exec("DELETE FROM chunk WHERE id < (SELECT max(id) - 10 FROM chunk)").ok());
  }
  ASSERT_TRUE(WaitFor([&] { return !(*writer)->stats().paused; }, std::chrono::seconds(30)))
      << "ingest did not resume";
  ASSERT_TRUE(
      WaitFor([&] { return (*writer)->stats().samples_committed > committed_while_full + 20000; },
              std::chrono::seconds(30)));
  stop = true;
  producer.join();
  // A last round after the recovery, which Stop() must drain into the database.
  const int64_t marker = round + 10;
  std::vector<Sample> last;
  for (int k = 0; k < 20; ++k)
    last.push_back({static_cast<TagId>(k), At(marker * 1000), -1.0, Quality::kGood});
  std::span<const Sample> rest(last);
  ASSERT_TRUE(WaitFor(
      [&] {
        rest = rest.subspan(queue.PushBatch(rest));  // the queue may still be full
        return rest.empty();
      },
      std::chrono::seconds(30)));
  (*writer)->Stop();
  // With max_page_count the freed room fills up again soon after; a 256 MiB tmpfs does not.
  if (use_tmpfs) {
    EXPECT_FALSE((*writer)->stats().paused);
  }
  auto reader = (*storage)->OpenReader();
  ASSERT_TRUE(reader.ok());
  std::vector<Sample> got;
  ASSERT_TRUE(reader->ReadRange("t7", At(marker * 1000), At(marker * 1000), 0, got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].value, -1.0);
  EXPECT_EQ(IntegrityCheck((*storage)->samples_path()), "ok");
  EXPECT_EQ(IntegrityCheck(outbox.path()), "ok");
  auto pending = outbox.ReadAfter(0, 100);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 11u);
  EXPECT_EQ((*pending)[0].payload, "before");
  EXPECT_EQ((*pending)[1].payload, "during 1");
}

}  // namespace
}  // namespace edge::storage
