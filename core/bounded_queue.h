// BoundedQueue<T>: the ingest queue between the sources (Modbus poll threads, MQTT callbacks)
// and the storage writer (DESIGN §3), and any other stage-to-stage hand-off.
//
// What is dropped, and why: when the queue is full the NEWEST items are dropped (the push is
// refused), never the producer blocked. A producer is a poll thread with a fixed cadence or a
// paho callback thread; stalling it on a slow disk would delay every other tag on that PLC and
// eventually time out the bus, which loses more data than a counted drop does. Keeping the
// oldest items keeps the stored series contiguous up to the stall. Every refused item is
// counted (Stats::dropped) so that /metrics shows the loss; nothing is dropped silently.
//
// Memory: one ring of `capacity` items allocated in the constructor; pushes and pops never
// allocate (PopBatch appends to the caller's vector: reserve it once and clear() between calls).
//
// Consumers take items in batches (one lock per batch), which is what makes one SQLite
// transaction per batch natural for the writer.
//
// Thread-safety: all methods are safe from any number of producer and consumer threads; one
// mutex (mu_) guards all state, one condition variable wakes consumers. Producers never wait.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <mutex>
#include <span>
#include <vector>

#include "core/status.h"

namespace edge {

// A snapshot of a queue's counters, for /metrics. Counters only grow.
struct QueueStats {
  uint64_t pushed = 0;    // items accepted
  uint64_t popped = 0;    // items handed to consumers
  uint64_t dropped = 0;   // items refused: queue full, or pushed after Close()
  size_t depth = 0;       // items in the queue now
  size_t high_water = 0;  // the largest depth seen
  size_t capacity = 0;
};

// REQUIRES of T: default-constructible and copy-assignable (items are copied into a
// preallocated ring and moved out). Meant for small trivially copyable records such as Sample.
template <typename T>
class BoundedQueue {
 public:
  using Stats = QueueStats;

  // REQUIRES: capacity > 0.
  explicit BoundedQueue(size_t capacity) : ring_(capacity) { EDGE_CHECK(capacity > 0); }

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Appends `item` unless the queue is full or closed; then drops it (counted) and returns false.
  bool TryPush(const T& item) {
    bool wake;
    {
      std::lock_guard lock(mu_);
      if (closed_ || size_ == ring_.size()) {
        ++dropped_;
        return false;
      }
      ring_[tail_] = item;
      tail_ = Next(tail_);
      ++size_;
      ++pushed_;
      high_water_ = std::max(high_water_, size_);
      wake = waiting_consumers_ > 0;
    }
    if (wake) not_empty_.notify_one();
    return true;
  }

  // Appends as many of `items` as fit, in order, under one lock; the rest are dropped and
  // counted. Returns how many were appended (0 once closed).
  size_t PushBatch(std::span<const T> items) {
    if (items.empty()) return 0;
    size_t n;
    bool wake_all;
    bool wake_one;
    {
      std::lock_guard lock(mu_);
      n = closed_ ? 0 : std::min(items.size(), ring_.size() - size_);
      dropped_ += items.size() - n;
      if (n == 0) return 0;
      // The free space may wrap around the end of the ring: copy in at most two runs.
      const size_t first = std::min(n, ring_.size() - tail_);
      std::copy_n(items.begin(), first, ring_.begin() + static_cast<std::ptrdiff_t>(tail_));
      std::copy_n(items.begin() + static_cast<std::ptrdiff_t>(first), n - first, ring_.begin());
      tail_ = (tail_ + n) % ring_.size();
      size_ += n;
      pushed_ += n;
      high_water_ = std::max(high_water_, size_);
      wake_all = n > 1 && waiting_consumers_ > 1;
      wake_one = waiting_consumers_ > 0;
    }
    if (wake_all) {
      not_empty_.notify_all();
    } else if (wake_one) {
      not_empty_.notify_one();
    }
    return n;
  }

  // Appends up to `max_items` of the oldest items to `out` and returns how many. If the queue is
  // empty, waits up to `wait` for the first item (zero or negative: does not wait); returns 0 on
  // timeout. Once closed, still hands out what is left, then returns 0 at once.
  size_t PopBatch(std::vector<T>& out, size_t max_items, std::chrono::nanoseconds wait) {
    if (max_items == 0) return 0;
    std::unique_lock lock(mu_);
    if (size_ == 0 && !closed_ && wait > std::chrono::nanoseconds::zero()) {
      ++waiting_consumers_;
      const auto ready = [this] { return size_ > 0 || closed_; };
      const auto now = std::chrono::steady_clock::now();
      if (wait >= std::chrono::steady_clock::time_point::max() - now) {
        not_empty_.wait(lock, ready);  // "forever"; avoids overflowing the deadline
      } else {
        not_empty_.wait_until(lock, now + wait, ready);
      }
      --waiting_consumers_;
    }
    const size_t n = std::min(max_items, size_);
    if (n == 0) return 0;
    // The items may wrap around the end of the ring: move out at most two runs.
    const size_t first = std::min(n, ring_.size() - head_);
    const auto head = ring_.begin() + static_cast<std::ptrdiff_t>(head_);
    out.insert(out.end(), std::make_move_iterator(head),
               std::make_move_iterator(head + static_cast<std::ptrdiff_t>(first)));
    out.insert(out.end(), std::make_move_iterator(ring_.begin()),
               std::make_move_iterator(ring_.begin() + static_cast<std::ptrdiff_t>(n - first)));
    head_ = (head_ + n) % ring_.size();
    size_ -= n;
    popped_ += n;
    return n;
  }

  // Refuses further pushes (counted as dropped) and wakes every waiting consumer. Items already
  // queued can still be popped, so a consumer drains the queue and then sees 0. Idempotent.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    not_empty_.notify_all();
  }

  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }

  Stats GetStats() const {
    std::lock_guard lock(mu_);
    return Stats{pushed_, popped_, dropped_, size_, high_water_, ring_.size()};
  }

  size_t capacity() const { return ring_.size(); }  // fixed at construction; no lock needed

 private:
  size_t Next(size_t i) const { return i + 1 == ring_.size() ? 0 : i + 1; }

  mutable std::mutex mu_;
  std::condition_variable not_empty_;  // signalled when items arrive or on Close()

  // The ring's slots are guarded by mu_; its size never changes after construction.
  std::vector<T> ring_;
  size_t head_ = 0;               // guarded by mu_: index of the oldest item
  size_t tail_ = 0;               // guarded by mu_: index of the next free slot
  size_t size_ = 0;               // guarded by mu_
  bool closed_ = false;           // guarded by mu_
  size_t waiting_consumers_ = 0;  // guarded by mu_: consumers blocked in PopBatch

  uint64_t pushed_ = 0;    // guarded by mu_
  uint64_t popped_ = 0;    // guarded by mu_
  uint64_t dropped_ = 0;   // guarded by mu_
  size_t high_water_ = 0;  // guarded by mu_
};

}  // namespace edge
