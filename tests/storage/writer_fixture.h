// The storage tests' writer rig: a Storage in a scratch directory, a registry and queue, a
// SampleWriter started with fast commits, and the small helpers the writer and uplink-store
// tests share (push everything, wait for the writer, one integer from a query).
//
// Thread-safety: a Fixture belongs to one test; the writer it starts runs its own thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "storage/storage.h"
#include "tests/support/test_files.h"

namespace edge::storage::testing {

// The first column of the first row of `sql` on a read-only connection to `path` (-1 and a
// test failure on error).
inline int64_t QueryInt(const std::string& path, const std::string& sql) {
  SqliteOpenOptions options;
  options.read_only = true;
  StatusOr<SqliteDb> db = SqliteDb::Open(path, options);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return -1;
  StatusOr<int64_t> v = db->QueryInt(sql);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : -1;
}

// Pushes every sample, waiting while the queue is full.
inline void PushAll(BoundedQueue<Sample>& queue, const std::vector<Sample>& samples) {
  std::span<const Sample> rest(samples);
  while (!rest.empty()) {
    rest = rest.subspan(queue.PushBatch(rest));
    if (!rest.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

struct Fixture {
  explicit Fixture(const config::StorageConfig& config = {}, WriterOptions writer_options = Fast())
      : queue(1 << 16) {
    auto opened = Storage::Open(dir.path().string(), config);
    EDGE_CHECK(opened.ok());
    storage = std::move(*opened);
    options = std::move(writer_options);
  }
  static WriterOptions Fast() {
    WriterOptions o;
    o.commit_interval = std::chrono::milliseconds(10);
    return o;
  }
  std::unique_ptr<SampleWriter> StartWriter() {
    auto w = storage->CreateWriter(tags, queue, options);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_TRUE((*w)->Start().ok());
    return std::move(*w);
  }
  // Pushes `samples` and waits until the writer committed them (a commit of their own when
  // nothing else is queued).
  static void PushAndCommit(SampleWriter& writer, BoundedQueue<Sample>& queue,
                            const std::vector<Sample>& samples) {
    const uint64_t target = writer.stats().samples_committed + samples.size();
    PushAll(queue, samples);
    while (writer.stats().samples_committed < target) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::vector<Sample> Read(std::string_view tag, Timestamp from, Timestamp to) {
    auto reader = storage->OpenReader();
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    std::vector<Sample> out;
    EXPECT_TRUE(reader->ReadRange(tag, from, to, 0, out).ok());
    return out;
  }

  edge::testing::ScratchDir dir;
  TagRegistry tags;
  BoundedQueue<Sample> queue;
  WriterOptions options;
  std::unique_ptr<Storage> storage;
};

}  // namespace edge::storage::testing
