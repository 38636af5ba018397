#include "uplink/alarm_context.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/time_format.h"
#include "storage/chunk_codec.h"
#include "uplink/json_encoding.h"

namespace edge::uplink {
namespace {

// The storage writer commits every 200 ms; readings up to `after` are in samples.db well
// within this margin.
constexpr int64_t kSettleUs = 2'000'000;
constexpr size_t kHistoryScan = 256;  // alarms looked at per poll

int64_t Micros(config::Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

}  // namespace

AlarmContextStream::AlarmContextStream(const config::AgentConfig& config, std::string topic)
    : enabled_(config.uplink.alarm_context.enabled),
      gateway_(config.gateway.id),
      topic_(std::move(topic)),
      before_us_(Micros(config.uplink.alarm_context.before)),
      after_us_(Micros(config.uplink.alarm_context.after)),
      window_(8, 512 * 1024) {
  for (const config::Deployment& d : config.models.deployments) {
    std::vector<std::string>& tags = inputs_[d.asset];
    for (const auto& [feature, tag] : d.inputs) tags.push_back(tag);
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
  }
}

Status AlarmContextStream::Open(storage::UplinkStore& store, storage::Outbox& outbox,
                                int64_t now_us) {
  EDGE_ASSIGN_OR_RETURN(storage::UplinkStreamRow row,
                        store.LoadOrCreateStream(kAlarmContextStream, now_us));
  window_.set_next_seq(row.next_seq);
  EDGE_ASSIGN_OR_RETURN(std::vector<storage::UplinkCursor> cursors,
                        store.LoadCursors(kAlarmContextStream));
  bool found = false;
  for (const storage::UplinkCursor& c : cursors) {
    if (c.tag_id == 0) {
      handled_ = static_cast<uint64_t>(c.ord);
      found = true;
    }
  }
  if (!found) {  // first start: from the next alarm on
    EDGE_ASSIGN_OR_RETURN(uint64_t next, outbox.NextSeq());
    handled_ = next - 1;
  }
  handled_saved_ = found ? handled_ : 0;
  EDGE_ASSIGN_OR_RETURN(std::vector<storage::UplinkInflight> inflight,
                        store.LoadInflight(kAlarmContextStream));
  for (const storage::UplinkInflight& r : inflight) {
    StatusOr<MessagePlan> plan = LoadPlan(r.plan);
    if (!plan.ok()) continue;  // derived data: the alarm itself went through the outbox
    std::string topic = plan->topic;
    std::string payload = plan->payload;
    window_.Restore(r.seq, std::move(*plan), std::move(topic), std::move(payload), 0);
  }
  return Written(store);
}

std::vector<AlarmContextStream::Alarm> AlarmContextStream::ParseHistory(
    const std::vector<storage::OutboxMessage>& rows, uint64_t after_seq) {
  std::vector<Alarm> out;
  for (const storage::OutboxMessage& row : rows) {
    if (row.seq <= after_seq) continue;
    Alarm a;
    a.seq = row.seq;
    const nlohmann::json j = nlohmann::json::parse(row.payload, nullptr, false);
    if (j.is_object() && j.value("state", "") == "raised" && j.contains("window_end") &&
        j["window_end"].is_string()) {
      StatusOr<Timestamp> end = ParseRfc3339(j["window_end"].get<std::string>());
      a.asset = j.value("asset", "");
      a.raised = end.ok();
      if (end.ok()) a.window_end_us = storage::ToMicros(*end);
    }
    out.push_back(std::move(a));
  }
  return out;
}

Status AlarmContextStream::Poll(storage::Outbox& outbox, storage::SampleReader& reader,
                                int64_t now_us) {
  if (!enabled_ || !window_.HasRoom()) return Status::Ok();
  EDGE_ASSIGN_OR_RETURN(std::vector<storage::OutboxMessage> rows, outbox.AlarmHistory(kHistoryScan));
  for (const Alarm& alarm : ParseHistory(rows, handled_)) {
    if (!window_.HasRoom()) break;
    if (alarm.raised) {
      if (alarm.window_end_us + after_us_ + kSettleUs > now_us) break;  // in seq order
      EDGE_RETURN_IF_ERROR(Cut(alarm, reader));
      ++alarms_;
    }
    handled_ = alarm.seq;
  }
  return Status::Ok();
}

Status AlarmContextStream::Cut(const Alarm& alarm, storage::SampleReader& reader) {
  auto it = inputs_.find(alarm.asset);
  if (it == inputs_.end()) return Status::Ok();  // a deployment removed since
  const Timestamp from = storage::FromMicros(alarm.window_end_us - before_us_);
  const Timestamp to = storage::FromMicros(alarm.window_end_us + after_us_);
  MessageHeader header;
  header.gateway = gateway_;
  header.stream = kAlarmContextStream;
  header.asset = alarm.asset;
  header.alarm_seq = alarm.seq;
  std::vector<Series> series;
  size_t in_message = 0;
  auto flush = [&] {
    if (in_message == 0) return;
    header.seq = window_.next_seq();
    std::string payload;
    EncodeJson(header, series, payload);
    MessagePlan plan;
    plan.kind = MessagePlan::Kind::kPayload;
    plan.topic = topic_;
    plan.payload = payload;
    window_.Add(std::move(plan), topic_, std::move(payload), in_message, true);
    series.clear();
    in_message = 0;
  };
  std::vector<Sample> samples;
  for (const std::string& tag : it->second) {
    samples.clear();
    EDGE_RETURN_IF_ERROR(reader.ReadRange(tag, from, to, 0, samples));
    for (size_t i = 0; i < samples.size();) {
      if (in_message == kMaxReadings) flush();
      Series& s = series.emplace_back();
      s.tag = tag;
      const size_t take = std::min(samples.size() - i, kMaxReadings - in_message);
      for (size_t k = i; k < i + take; ++k) {
        s.readings.push_back({storage::ToMicros(samples[k].ts), samples[k].value,
                              samples[k].quality == Quality::kBad});
      }
      in_message += take;
      i += take;
    }
  }
  flush();
  return Status::Ok();
}

Status AlarmContextStream::Written(storage::UplinkStore& store) {
  std::vector<storage::UplinkInflight> rows;
  for (const WindowEntry* e : window_.Unwritten()) rows.push_back({e->seq, SavePlan(e->plan)});
  if (!rows.empty()) {
    EDGE_RETURN_IF_ERROR(store.PutInflight(kAlarmContextStream, rows, window_.next_seq()));
    window_.MarkAllWritten();
  }
  if (handled_ != handled_saved_) {
    const storage::UplinkCursor c{0, static_cast<int64_t>(handled_), ""};
    EDGE_RETURN_IF_ERROR(store.Commit(kAlarmContextStream, 0, {&c, 1}));
    handled_saved_ = handled_;
  }
  return Status::Ok();
}

Status AlarmContextStream::CommitConfirmed(storage::UplinkStore& store) {
  std::vector<WindowEntry> done = window_.TakeConfirmed();
  if (done.empty()) return Status::Ok();
  EDGE_RETURN_IF_ERROR(store.Commit(kAlarmContextStream, done.back().seq, {}));
  for (const WindowEntry& e : done) {
    ++messages_;
    readings_ += e.readings;
    bytes_ += e.payload.size();
  }
  return Status::Ok();
}

}  // namespace edge::uplink
