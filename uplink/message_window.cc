#include "uplink/message_window.h"

#include <utility>

namespace edge::uplink {

void MessageWindow::Add(MessagePlan plan, std::string topic, std::string payload,
                        uint64_t readings, bool publish) {
  WindowEntry e;
  e.plan = std::move(plan);
  e.readings = readings;
  if (publish) {
    e.seq = next_seq_++;
    e.topic = std::move(topic);
    e.payload = std::move(payload);
  } else {
    e.state = WindowEntry::State::kConfirmed;
    e.written = true;
  }
  bytes_ += e.payload.size();
  entries_.push_back(std::move(e));
}

void MessageWindow::Restore(uint64_t seq, MessagePlan plan, std::string topic, std::string payload,
                            uint64_t readings) {
  WindowEntry e;
  e.seq = seq;
  e.plan = std::move(plan);
  e.topic = std::move(topic);
  e.payload = std::move(payload);
  e.readings = readings;
  e.written = true;
  bytes_ += e.payload.size();
  entries_.push_back(std::move(e));
  if (seq >= next_seq_) next_seq_ = seq + 1;
}

std::vector<const WindowEntry*> MessageWindow::Unwritten() const {
  std::vector<const WindowEntry*> out;
  for (const WindowEntry& e : entries_) {
    if (!e.written) out.push_back(&e);
  }
  return out;
}

void MessageWindow::MarkAllWritten() {
  for (WindowEntry& e : entries_) e.written = true;
}

WindowEntry* MessageWindow::NextToSend() {
  for (WindowEntry& e : entries_) {
    if (!e.written) return nullptr;  // in order: nothing is published before its plan is stored
    if (e.state == WindowEntry::State::kUnsent) return &e;
  }
  return nullptr;
}

void MessageWindow::OnResult(uint64_t seq, bool ok) {
  for (WindowEntry& e : entries_) {
    if (e.seq != seq || e.state != WindowEntry::State::kSent) continue;
    e.state = ok ? WindowEntry::State::kConfirmed : WindowEntry::State::kUnsent;
    return;
  }
}

size_t MessageWindow::ResendSentBefore(std::chrono::steady_clock::time_point before) {
  size_t n = 0;
  for (WindowEntry& e : entries_) {
    if (e.state == WindowEntry::State::kSent && e.sent_at < before) {
      e.state = WindowEntry::State::kUnsent;
      ++n;
    }
  }
  return n;
}

std::vector<WindowEntry> MessageWindow::TakeConfirmed() {
  std::vector<WindowEntry> out;
  while (!entries_.empty() && entries_.front().state == WindowEntry::State::kConfirmed) {
    bytes_ -= entries_.front().payload.size();
    out.push_back(std::move(entries_.front()));
    entries_.pop_front();
  }
  return out;
}

}  // namespace edge::uplink
