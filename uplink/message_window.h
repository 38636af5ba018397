// MessageWindow: the messages of one uplink stream between "cut" and "confirmed by the broker".
//
// Life of a message: the stream cuts it (a plan and its payload) and Add()s it, which gives it
// the stream's next seq; the uplink writes the new plans ahead to samples.db (Unwritten(),
// MarkWritten()) and only then publishes them (NextToSend(), MarkSent()); PUBACKs come back
// through OnResult(). TakeConfirmed() hands over the confirmed messages at the front of the
// window, in seq order, for the uplink to move the stream's cursors past them in one
// transaction. A message the broker refused (or that could not be handed to paho) goes back to
// unsent and is published again, with the same seq and payload.
//
// A plan that moves cursors but publishes nothing (a deadband stream whose readings all stayed
// inside the band) takes no seq and counts as confirmed at once; it is committed in order with
// the rest and never written ahead (after a restart the same readings give the same result).
//
// Thread-safety: none; owned by the uplink thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "uplink/message_plan.h"

namespace edge::uplink {

struct WindowEntry {
  enum class State { kUnsent, kSent, kConfirmed };
  uint64_t seq = 0;  // 0: cursor move only, nothing to publish
  MessagePlan plan;
  std::string topic;
  std::string payload;
  uint64_t readings = 0;  // readings or aggregate rows it carries (for the counters)
  State state = State::kUnsent;
  bool written = false;  // its plan is in uplink_inflight
  std::chrono::steady_clock::time_point sent_at{};
};

class MessageWindow {
 public:
  MessageWindow(size_t max_messages, size_t max_bytes)
      : max_messages_(max_messages), max_bytes_(max_bytes) {}

  void set_next_seq(uint64_t seq) { next_seq_ = seq; }
  uint64_t next_seq() const { return next_seq_; }

  // Room for another message to be cut.
  bool HasRoom() const { return entries_.size() < max_messages_ && bytes_ < max_bytes_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

  // Takes the next seq (if `publish`) and appends the message.
  void Add(MessagePlan plan, std::string topic, std::string payload, uint64_t readings,
           bool publish);
  // A message re-read from uplink_inflight after a restart: keeps its seq, already written.
  void Restore(uint64_t seq, MessagePlan plan, std::string topic, std::string payload,
               uint64_t readings);

  // Entries whose plans are not yet in uplink_inflight (seq != 0).
  std::vector<const WindowEntry*> Unwritten() const;
  void MarkAllWritten();

  // The first message that is written ahead and not yet sent; null if none.
  WindowEntry* NextToSend();
  void MarkSent(WindowEntry* entry, std::chrono::steady_clock::time_point now) {
    entry->state = WindowEntry::State::kSent;
    entry->sent_at = now;
  }

  // The broker's answer for `seq`: confirmed, or back to unsent (sent again later).
  void OnResult(uint64_t seq, bool ok);
  // Sends again what was sent before `before` and is still unconfirmed (paho resends what was
  // in flight over a reconnect and reports on it; this covers a report that never comes).
  // Returns how many.
  size_t ResendSentBefore(std::chrono::steady_clock::time_point before);

  // Removes and returns the confirmed entries at the front, in order.
  std::vector<WindowEntry> TakeConfirmed();

 private:
  const size_t max_messages_;
  const size_t max_bytes_;
  uint64_t next_seq_ = 1;
  size_t bytes_ = 0;  // payload bytes of the entries
  std::deque<WindowEntry> entries_;
};

}  // namespace edge::uplink
