// BoundedQueue<T>: a bounded hand-off between pipeline stages (DESIGN §3). The daemon has two:
// the ingest queue, from the sources (Modbus poll threads, MQTT callbacks) to the scoring thread,
// which routes each sample to the models and forwards the batch to the storage queue, from which
// the storage writer (storage/sample_writer.h) takes it.
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
// Consumers take items in batches, one lock per batch, so the cost of the lock is shared by
// many samples; the writer gathers the batches of one commit interval into one transaction.
//
// Thread-safety: all methods are safe from any number of producer and consumer threads; one
// mutex (mu_) guards all state, one condition variable wakes consumers. Producers never wait.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "core/thread_annotations.h"

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
  explicit BoundedQueue(size_t capacity) : capacity_(capacity), ring_(capacity) {
    EDGE_CHECK(capacity > 0);
  }

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Appends `item` unless the queue is full or closed; then drops it (counted) and returns false.
  bool TryPush(const T& item) EXCLUDES(mu_) {
    bool wake;
    {
      MutexLock lock(&mu_);
      if (closed_ || size_ == capacity_) {
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
    if (wake) not_empty_.NotifyOne();
    return true;
  }

  // Appends as many of `items` as fit, in order, under one lock; the rest are dropped and
  // counted. Returns how many were appended (0 once closed).
  size_t PushBatch(std::span<const T> items) EXCLUDES(mu_) {
    if (items.empty()) return 0;
    size_t n;
    bool wake_all;
    bool wake_one;
    {
      MutexLock lock(&mu_);
      n = closed_ ? 0 : std::min(items.size(), capacity_ - size_);
      dropped_ += items.size() - n;
      if (n == 0) return 0;
      // The free space may wrap around the end of the ring: copy in at most two runs.
      const size_t first = std::min(n, capacity_ - tail_);
      std::copy_n(items.begin(), first, ring_.begin() + static_cast<std::ptrdiff_t>(tail_));
      std::copy_n(items.begin() + static_cast<std::ptrdiff_t>(first), n - first, ring_.begin());
      tail_ = (tail_ + n) % capacity_;
      size_ += n;
      pushed_ += n;
      high_water_ = std::max(high_water_, size_);
      wake_all = n > 1 && waiting_consumers_ > 1;
      wake_one = waiting_consumers_ > 0;
    }
    if (wake_all) {
      not_empty_.NotifyAll();
    } else if (wake_one) {
      not_empty_.NotifyOne();
    }
    return n;
  }

  // Appends up to `max_items` of the oldest items to `out` and returns how many. If the queue is
  // empty, waits up to `wait` for the first item (zero or negative: does not wait); returns 0 on
  // timeout. Once closed, still hands out what is left, then returns 0 at once.
  size_t PopBatch(std::vector<T>& out, size_t max_items, std::chrono::nanoseconds wait)
      EXCLUDES(mu_) {
    if (max_items == 0) return 0;
    MutexLock lock(&mu_);
    if (size_ == 0 && !closed_ && wait > std::chrono::nanoseconds::zero()) {
      ++waiting_consumers_;
      const auto now = std::chrono::steady_clock::now();
      if (wait >= std::chrono::steady_clock::time_point::max() - now) {
        // "Forever"; avoids overflowing the deadline.
        while (size_ == 0 && !closed_) not_empty_.Wait(&mu_);
      } else {
        const auto deadline = now + wait;
        while (size_ == 0 && !closed_) {
          if (!not_empty_.WaitUntil(&mu_, deadline)) break;
        }
      }
      --waiting_consumers_;
    }
    const size_t n = std::min(max_items, size_);
    if (n == 0) return 0;
    // The items may wrap around the end of the ring: move out at most two runs.
    const size_t first = std::min(n, capacity_ - head_);
    const auto head = ring_.begin() + static_cast<std::ptrdiff_t>(head_);
    out.insert(out.end(), std::make_move_iterator(head),
               std::make_move_iterator(head + static_cast<std::ptrdiff_t>(first)));
    out.insert(out.end(), std::make_move_iterator(ring_.begin()),
               std::make_move_iterator(ring_.begin() + static_cast<std::ptrdiff_t>(n - first)));
    head_ = (head_ + n) % capacity_;
    size_ -= n;
    popped_ += n;
    return n;
  }

  // Refuses further pushes (counted as dropped) and wakes every waiting consumer. Items already
  // queued can still be popped, so a consumer drains the queue and then sees 0. Idempotent.
  void Close() EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      closed_ = true;
    }
    not_empty_.NotifyAll();
  }

  bool closed() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return closed_;
  }

  Stats GetStats() const EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return Stats{pushed_, popped_, dropped_, size_, high_water_, capacity_};
  }

  size_t capacity() const { return capacity_; }  // fixed at construction; no lock needed

 private:
  size_t Next(size_t i) const { return i + 1 == capacity_ ? 0 : i + 1; }

  const size_t capacity_;  // ring_.size(), which never changes
  mutable Mutex mu_;
  CondVar not_empty_;  // signalled when items arrive or on Close()

  std::vector<T> ring_ GUARDED_BY(mu_);
  size_t head_ GUARDED_BY(mu_) = 0;  // index of the oldest item
  size_t tail_ GUARDED_BY(mu_) = 0;  // index of the next free slot
  size_t size_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;
  size_t waiting_consumers_ GUARDED_BY(mu_) = 0;  // consumers blocked in PopBatch

  uint64_t pushed_ GUARDED_BY(mu_) = 0;
  uint64_t popped_ GUARDED_BY(mu_) = 0;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
  size_t high_water_ GUARDED_BY(mu_) = 0;
};

}  // namespace edge
