// storage_crash_child: the process the crash-safety test kills with SIGKILL at random moments
// (tests/storage/crash_safety_test.cc). It ingests samples through the real SampleWriter and
// appends / confirms outbox messages, and reports on stdout (unbuffered write(2), one line each):
//   "ready"        storage opened, writer started
//   "C <n>"        the writer committed; n samples committed in total by this process
//   "O <seq>"      an outbox Append returned seq (the message is durable)
//   "X <seq>"      about to Confirm seq (after this line the message may be gone)
// Samples: round r = 0, 1, 2, ...: for tag k in 0..kTags-1, ts = start_us + r ms, value = r.
// The queue never drops (pushes are retried), so the committed samples are exactly the first n
// of that sequence.
//
// Usage: storage_crash_child DATA_DIR START_US
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/bounded_queue.h"
#include "core/sample.h"
#include "core/tag_registry.h"
#include "storage/storage.h"

namespace {

constexpr int kTags = 50;

void Say(const std::string& line) {
  const std::string text = line + "\n";
  (void)!write(1, text.data(), text.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: storage_crash_child DATA_DIR START_US\n");
    return 2;
  }
  const std::string data_dir = argv[1];
  const int64_t start_us = std::strtoll(argv[2], nullptr, 10);
  edge::config::StorageConfig config;
  auto storage = edge::storage::Storage::Open(data_dir, config);
  if (!storage.ok()) {
    std::fprintf(stderr, "open: %s\n", storage.status().ToString().c_str());
    return 1;
  }
  edge::TagRegistry tags;
  for (int k = 0; k < kTags; ++k) tags.Intern("tag" + std::to_string(k));
  edge::BoundedQueue<edge::Sample> queue(1 << 14);
  edge::storage::WriterOptions options;
  options.commit_interval = std::chrono::milliseconds(20);
  options.on_commit = [](const edge::storage::CommitInfo& info) {
    Say("C " + std::to_string(info.total_samples));
  };
  auto writer = (*storage)->CreateWriter(tags, queue, options);
  if (!writer.ok()) {
    std::fprintf(stderr, "writer: %s\n", writer.status().ToString().c_str());
    return 1;
  }
  if (!(*writer)->Start().ok()) return 1;
  Say("ready");
  edge::storage::Outbox& outbox = (*storage)->outbox();
  std::vector<edge::Sample> round(kTags);
  std::vector<uint64_t> unconfirmed;
  for (int64_t r = 0;; ++r) {
    for (int k = 0; k < kTags; ++k) {
      round[k] = edge::Sample{static_cast<edge::TagId>(k),
                              edge::Timestamp(std::chrono::microseconds(start_us + r * 1000)),
                              static_cast<double>(r), edge::Quality::kGood};
    }
    std::span<const edge::Sample> rest(round);
    while (!rest.empty()) {
      rest = rest.subspan(queue.PushBatch(rest));
      if (!rest.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (r % 20 == 0) {
      auto seq = outbox.Append("plant/gw/alarms/a", "alarm " + std::to_string(r), 1, false);
      if (seq.ok()) {
        Say("O " + std::to_string(*seq));
        unconfirmed.push_back(*seq);
      }
      if (unconfirmed.size() > 3) {
        Say("X " + std::to_string(unconfirmed.front()));
        if (outbox.Confirm(unconfirmed.front()).ok()) unconfirmed.erase(unconfirmed.begin());
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
}
