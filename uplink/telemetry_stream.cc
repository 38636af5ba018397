#include "uplink/telemetry_stream.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/logging.h"
#include "storage/chunk_codec.h"
#include "uplink/influx_encoding.h"
#include "uplink/json_encoding.h"
#include "uplink/tag_glob.h"

namespace edge::uplink {
namespace {

// Readings read from one tag per cut in the modes that may send fewer than they read.
constexpr size_t kFilteredReadChunk = 4096;
// Window of one stream: messages and payload bytes cut and not yet confirmed. A few messages
// keep the link busy across the PUBACK round trip; the byte bound keeps what an alarm may queue
// behind on the connection small (DESIGN §10: alarms are always published first).
constexpr size_t kWindowMessages = 8;
constexpr size_t kWindowBytes = 512 * 1024;

ModeSpec ModeOf(const config::TelemetryStream& c) {
  ModeSpec m;
  switch (c.mode) {
    case config::TelemetryStream::Mode::kRaw:
      m.kind = ModeSpec::Kind::kRaw;
      break;
    case config::TelemetryStream::Mode::kDeadband:
      m.kind = ModeSpec::Kind::kDeadband;
      m.band = c.deadband;
      m.percent = c.deadband_percent;
      m.max_interval_us = std::chrono::duration_cast<std::chrono::microseconds>(c.max_interval).count();
      break;
    case config::TelemetryStream::Mode::kAggregate:
      m.kind = ModeSpec::Kind::kAggregate;
      m.period_us = std::chrono::duration_cast<std::chrono::microseconds>(c.period).count();
      break;
  }
  return m;
}

uint64_t Outputs(const Series& s) { return s.readings.size() + s.aggregates.size(); }

}  // namespace

TelemetryStream::TelemetryStream(config::TelemetryStream config, std::string gateway,
                                 std::string topic)
    : config_(std::move(config)),
      mode_(ModeOf(config_)),
      gateway_(std::move(gateway)),
      topic_(std::move(topic)),
      gap_topic_(topic_ + "/gap"),
      window_(kWindowMessages, kWindowBytes) {
  stats_.name = config_.name;
}

Status TelemetryStream::Open(storage::UplinkStore& store, int64_t now_us) {
  EDGE_ASSIGN_OR_RETURN(storage::UplinkStreamRow stream,
                        store.LoadOrCreateStream(config_.name, now_us));
  created_us_ = stream.created_us;
  window_.set_next_seq(stream.next_seq);
  EDGE_ASSIGN_OR_RETURN(std::vector<storage::UplinkCursor> cursors,
                        store.LoadCursors(config_.name));
  for (storage::UplinkCursor& c : cursors) saved_[c.tag_id] = std::move(c);
  EDGE_RETURN_IF_ERROR(DiscoverTags(store));

  // The written-ahead messages: the cut positions move over them, and they go out again with
  // their seq. A plan that does not load cannot be sent again as it was; its readings are still
  // after the committed cursor and go out in a later message.
  EDGE_ASSIGN_OR_RETURN(std::vector<storage::UplinkInflight> inflight,
                        store.LoadInflight(config_.name));
  auto log = GetLogger("uplink");
  for (const storage::UplinkInflight& row : inflight) {
    StatusOr<MessagePlan> plan = LoadPlan(row.plan);
    if (!plan.ok()) {
      log->error("stream {}: message seq {} written ahead cannot be read ({}); its readings are "
                 "sent again in a new message",
                 config_.name, row.seq, plan.status().message());
      continue;
    }
    std::string payload = plan->payload;
    std::string topic = plan->topic;
    uint64_t outputs = 0;
    if (plan->kind == MessagePlan::Kind::kData) {
      EDGE_RETURN_IF_ERROR(Rebuild(store, *plan, row.seq, &payload, &outputs));
      topic = topic_;
    }
    for (const TagRange& r : plan->ranges) {
      TagRun* run = FindRun(r.tag_id);
      if (run == nullptr) continue;
      run->cut_ord = r.to_ord;
      if (!LoadState(r.end_state, &run->cut_state)) run->cut_state = TagFilterState{};
    }
    window_.Restore(row.seq, std::move(*plan), std::move(topic), std::move(payload), outputs);
  }
  if (!inflight.empty()) {
    log->info("stream {}: {} message(s) not confirmed before the last stop are sent again",
              config_.name, window_.size());
  }
  return Status::Ok();
}

Status TelemetryStream::StartPosition(storage::UplinkStore& store, int64_t tag_id,
                                      int64_t* ord) const {
  if (config_.start_oldest) {
    EDGE_ASSIGN_OR_RETURN(storage::TagExtent extent, store.Extent(tag_id));
    *ord = extent.removed_ord;
    return Status::Ok();
  }
  EDGE_ASSIGN_OR_RETURN(*ord, store.FirstOrdAtOrAfter(tag_id, created_us_));
  return Status::Ok();
}

Status TelemetryStream::DiscoverTags(storage::UplinkStore& store) {
  EDGE_ASSIGN_OR_RETURN(std::vector<storage::StoredTag> tags, store.TagsAfter(last_tag_id_));
  std::vector<storage::UplinkCursor> fresh;
  for (storage::StoredTag& tag : tags) {
    last_tag_id_ = std::max(last_tag_id_, tag.id);
    const bool matched = std::any_of(config_.tags.begin(), config_.tags.end(),
                                     [&](const std::string& g) { return GlobMatch(g, tag.name); });
    if (!matched) continue;
    TagRun run;
    run.tag_id = tag.id;
    run.name = std::move(tag.name);
    if (auto it = saved_.find(tag.id); it != saved_.end()) {
      run.committed_ord = it->second.ord;
      if (!LoadState(it->second.state, &run.cut_state)) {
        GetLogger("uplink")->warn("stream {}: the saved filter state of {} is damaged; it starts "
                                  "afresh",
                                  config_.name, run.name);
        run.cut_state = TagFilterState{};
      }
      saved_.erase(it);
    } else {
      EDGE_RETURN_IF_ERROR(StartPosition(store, run.tag_id, &run.committed_ord));
      fresh.push_back({run.tag_id, run.committed_ord, SaveState(run.cut_state)});
    }
    run.cut_ord = run.committed_ord;
    run_index_[run.tag_id] = runs_.size();
    runs_.push_back(std::move(run));
  }
  // A new tag's starting point is fixed at once: `start: now` must not move on a restart.
  if (!fresh.empty()) EDGE_RETURN_IF_ERROR(store.Commit(config_.name, 0, fresh));
  return Status::Ok();
}

TelemetryStream::TagRun* TelemetryStream::FindRun(int64_t tag_id) {
  auto it = run_index_.find(tag_id);
  return it == run_index_.end() ? nullptr : &runs_[it->second];
}

size_t TelemetryStream::Feed(std::span<const Sample> samples, TagFilterState& state, uint64_t room,
                             Series& series) {
  size_t i = 0;
  for (; i < samples.size() && Outputs(series) < room; ++i) {
    const Sample& s = samples[i];
    const Reading r{storage::ToMicros(s.ts), s.value, s.quality == Quality::kBad};
    uplink::Feed(mode_, state, r, series, filter_counters_);
  }
  return i;
}

Status TelemetryStream::CutTag(storage::UplinkStore& store, TagRun& run, int64_t now_us,
                               uint64_t room, CutResult& cut) {
  scratch_.clear();
  const size_t want = mode_.kind == ModeSpec::Kind::kRaw ? room : kFilteredReadChunk;
  storage::OrdinalRead read;
  EDGE_RETURN_IF_ERROR(store.ReadFrom(run.tag_id, run.cut_ord, want, 0, scratch_, &read));
  // Retention removed [cut_ord, first_ord) before it was sent: a gap, never skipped silently.
  const int64_t first = scratch_.empty() ? std::max(run.cut_ord, run.removed_ord) : read.first_ord;
  if (first > run.cut_ord) {
    const std::string state = SaveState(run.cut_state);
    cut.gaps.push_back({run.tag_id, run.cut_ord, first, state, state});
    cut.gap_readings += static_cast<uint64_t>(first - run.cut_ord);
    const int64_t to = scratch_.empty() ? run.removed_end_us : storage::ToMicros(scratch_[0].ts);
    cut.gap_from_us = cut.gap_from_us == 0 ? run.last_t_us : std::min(cut.gap_from_us, run.last_t_us);
    cut.gap_to_us = std::max(cut.gap_to_us, to);
    run.cut_ord = first;
  }
  const bool aggregate = mode_.kind == ModeSpec::Kind::kAggregate;
  if (scratch_.empty() && !aggregate) return Status::Ok();

  const std::string start_state = SaveState(run.cut_state);
  Series series;
  series.tag = run.name;
  const size_t taken = Feed(scratch_, run.cut_state, room, series);
  // The clock closes a period only once the tag has no more stored readings: during a backlog
  // drain the rest of an old period is still in samples.db, not late.
  const bool caught_up = taken == scratch_.size() && scratch_.size() < want;
  const bool flush = aggregate && caught_up;
  const bool flushed = flush && FlushByClock(mode_, run.cut_state, now_us, series);
  if (taken == 0 && !flushed) return Status::Ok();
  cut.plan.ranges.push_back({run.tag_id, run.cut_ord, run.cut_ord + static_cast<int64_t>(taken),
                             start_state, SaveState(run.cut_state), flush});
  run.cut_ord += static_cast<int64_t>(taken);
  if (taken > 0) run.last_t_us = storage::ToMicros(scratch_[taken - 1].ts);
  cut.outputs += Outputs(series);
  if (Outputs(series) > 0) cut.series.push_back(std::move(series));
  return Status::Ok();
}

Status TelemetryStream::CutOne(storage::UplinkStore& store, int64_t now_us, bool* made) {
  *made = false;
  if (runs_.empty()) return Status::Ok();
  CutResult cut;
  cut.plan.kind = MessagePlan::Kind::kData;
  if (mode_.kind == ModeSpec::Kind::kAggregate) cut.plan.flush_us = now_us;
  const uint64_t batch = static_cast<uint64_t>(config_.max_batch);
  const size_t n = runs_.size();
  size_t last = next_run_ % n;
  for (size_t k = 0; k < n && cut.outputs < batch; ++k) {
    last = (next_run_ + k) % n;
    EDGE_RETURN_IF_ERROR(CutTag(store, runs_[last], now_us, batch - cut.outputs, cut));
  }
  next_run_ = (last + 1) % n;

  if (!cut.gaps.empty()) {
    MessagePlan gap;
    gap.kind = MessagePlan::Kind::kGap;
    gap.ranges = std::move(cut.gaps);
    gap.topic = gap_topic_;
    gap.payload = EncodeGap(gateway_, config_.name, cut.gap_from_us, cut.gap_to_us,
                            static_cast<int64_t>(cut.gap_readings));
    std::string topic = gap.topic;
    std::string payload = gap.payload;
    window_.Add(std::move(gap), std::move(topic), std::move(payload), cut.gap_readings, true);
    *made = true;
  }
  if (!cut.plan.ranges.empty()) {
    std::string payload;
    if (cut.outputs > 0) Encode(window_.next_seq(), cut.series, &payload);
    window_.Add(std::move(cut.plan), topic_, std::move(payload), cut.outputs, cut.outputs > 0);
    *made = true;
  }
  return Status::Ok();
}

Status TelemetryStream::Fill(storage::UplinkStore& store, int64_t now_us) {
  while (window_.HasRoom()) {
    bool made = false;
    EDGE_RETURN_IF_ERROR(CutOne(store, now_us, &made));
    if (!made) break;
  }
  return Status::Ok();
}

Status TelemetryStream::Rebuild(storage::UplinkStore& store, const MessagePlan& plan, uint64_t seq,
                                std::string* payload, uint64_t* outputs) {
  std::vector<Series> series;
  *outputs = 0;
  for (const TagRange& r : plan.ranges) {
    const TagRun* run = FindRun(r.tag_id);
    TagFilterState state;
    if (run == nullptr || !LoadState(r.start_state, &state)) continue;
    scratch_.clear();
    storage::OrdinalRead read;
    EDGE_RETURN_IF_ERROR(store.ReadFrom(r.tag_id, r.from_ord,
                                        static_cast<size_t>(r.to_ord - r.from_ord), 0, scratch_,
                                        &read));
    Series s;
    s.tag = run->name;
    Feed(scratch_, state, std::numeric_limits<uint64_t>::max(), s);
    if (r.clock_flush) FlushByClock(mode_, state, plan.flush_us, s);
    *outputs += Outputs(s);
    if (Outputs(s) > 0) series.push_back(std::move(s));
  }
  Encode(seq, series, payload);
  return Status::Ok();
}

void TelemetryStream::Encode(uint64_t seq, const std::vector<Series>& series,
                             std::string* payload) const {
  MessageHeader header;
  header.gateway = gateway_;
  header.stream = config_.name;
  header.seq = seq;
  if (config_.encoding == config::TelemetryStream::Encoding::kInflux) {
    EncodeInflux(header, series, *payload);
  } else {
    EncodeJson(header, series, *payload);
  }
}

bool TelemetryStream::TakeConfirmed() {
  for (WindowEntry& e : window_.TakeConfirmed()) confirmed_.push_back(std::move(e));
  return !confirmed_.empty();
}

Status TelemetryStream::WriteConfirmed(storage::UplinkStore& store) {
  confirmed_cursors_.clear();
  if (confirmed_.empty()) return Status::Ok();
  std::unordered_map<int64_t, storage::UplinkCursor> moved;
  uint64_t through = 0;
  for (const WindowEntry& e : confirmed_) {
    for (const TagRange& r : e.plan.ranges) moved[r.tag_id] = {r.tag_id, r.to_ord, r.end_state};
    through = std::max(through, e.seq);
  }
  confirmed_cursors_.reserve(moved.size());
  for (auto& [id, c] : moved) confirmed_cursors_.push_back(std::move(c));
  return store.Commit(config_.name, through, confirmed_cursors_);
}

void TelemetryStream::Committed() {
  for (const storage::UplinkCursor& c : confirmed_cursors_) {
    if (TagRun* run = FindRun(c.tag_id)) run->committed_ord = c.ord;
  }
  confirmed_cursors_.clear();
  for (const WindowEntry& e : confirmed_) {
    if (e.plan.kind == MessagePlan::Kind::kGap) {
      ++stats_.gaps;
      stats_.gap_readings += e.readings;
    } else if (e.seq != 0) {
      ++stats_.messages;
      stats_.readings += e.readings;
      stats_.bytes += e.payload.size();
    }
  }
  confirmed_.clear();
}

Status TelemetryStream::RefreshBacklog(storage::UplinkStore& store, int64_t now_us) {
  int64_t readings = 0, bytes = 0, oldest = 0;
  for (TagRun& run : runs_) {
    EDGE_ASSIGN_OR_RETURN(storage::TagExtent extent, store.Extent(run.tag_id));
    run.removed_ord = extent.removed_ord;
    run.removed_end_us = extent.removed_end_us;
    EDGE_ASSIGN_OR_RETURN(storage::UplinkStore::Backlog b,
                          store.BacklogOf(run.tag_id, run.committed_ord));
    readings += b.readings;
    bytes += b.bytes;
    if (b.oldest_us != 0 && (oldest == 0 || b.oldest_us < oldest)) oldest = b.oldest_us;
  }
  stats_.tags = runs_.size();
  if (backlog_at_us_ != 0 && now_us > backlog_at_us_) {
    const double seconds = static_cast<double>(now_us - backlog_at_us_) / 1e6;
    stats_.backlog_growth_bytes_per_s =
        static_cast<double>(bytes - stats_.backlog_bytes) / seconds;
  }
  backlog_at_us_ = now_us;
  stats_.backlog_readings = readings;
  stats_.backlog_bytes = bytes;
  stats_.oldest_unsent_us = oldest;
  stats_.lag_seconds = oldest == 0 ? 0.0 : std::max<double>(0.0, (now_us - oldest) / 1e6);
  return Status::Ok();
}

StreamStats TelemetryStream::stats() const {
  StreamStats s = stats_;
  s.late_readings = filter_counters_.late_readings;
  s.in_flight = window_.size();
  return s;
}

}  // namespace edge::uplink
