#include "uplink/telemetry_uplink.h"

#include <algorithm>
#include <utility>

#include "core/logging.h"
#include "storage/chunk_codec.h"

namespace edge::uplink {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

std::string StreamTopic(const config::AgentConfig& config, std::string_view stream) {
  return config.upstream->topic_prefix + "/" + config.gateway.id + "/telemetry/" +
         std::string(stream);
}

}  // namespace

std::unique_ptr<TelemetryUplink> TelemetryUplink::Create(const config::AgentConfig& config,
                                                         std::string samples_path,
                                                         storage::Outbox& outbox,
                                                         drivers::MqttPublisher& upstream,
                                                         UplinkOptions options) {
  if (!config.upstream ||
      (config.uplink.telemetry.empty() && !config.uplink.alarm_context.enabled)) {
    return nullptr;
  }
  return std::unique_ptr<TelemetryUplink>(new TelemetryUplink(
      config, std::move(samples_path), outbox, upstream, std::move(options)));
}

TelemetryUplink::TelemetryUplink(const config::AgentConfig& config, std::string samples_path,
                                 storage::Outbox& outbox, drivers::MqttPublisher& upstream,
                                 UplinkOptions options)
    : config_(config),
      samples_path_(std::move(samples_path)),
      outbox_(outbox),
      upstream_(upstream),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClockInstance()),
      rate_log_(GetLogger("uplink"), 5, std::chrono::minutes(1)) {
  for (const config::TelemetryStream& s : config_.uplink.telemetry) {
    streams_.push_back(
        std::make_unique<TelemetryStream>(s, config_.gateway.id, StreamTopic(config_, s.name)));
    lanes_.push_back({&streams_.back()->window(), s.name, s.max_rate_bytes});
  }
  context_ = std::make_unique<AlarmContextStream>(config_,
                                                  StreamTopic(config_, kAlarmContextStream));
  lanes_.push_back({&context_->window(), std::string(kAlarmContextStream), 0});
}

TelemetryUplink::~TelemetryUplink() { Stop(); }

void TelemetryUplink::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void TelemetryUplink::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void TelemetryUplink::Wake() {
  {
    MutexLock lock(&mu_);
    wake_ = true;
  }
  cv_.NotifyAll();
}

Status TelemetryUplink::OpenAll() {
  EDGE_ASSIGN_OR_RETURN(store_, storage::UplinkStore::Open(samples_path_));
  EDGE_ASSIGN_OR_RETURN(storage::SampleReader reader, storage::SampleReader::Open(samples_path_));
  reader_ = std::make_unique<storage::SampleReader>(std::move(reader));
  const int64_t now_us = storage::ToMicros(clock_.Now());
  for (auto& s : streams_) EDGE_RETURN_IF_ERROR(s->Open(*store_, now_us));
  if (context_->enabled()) EDGE_RETURN_IF_ERROR(context_->Open(*store_, outbox_, now_us));
  return Status::Ok();
}

void TelemetryUplink::Run() {
  auto log = GetLogger("uplink");
  for (;;) {
    beat_.Beat();
    SteadyTime next = clock_.SteadyNow() + kRetryOpen;
    if (store_ == nullptr) {
      if (Status s = OpenAll(); !s.ok()) {
        store_.reset();
        rate_log_.Error("open", "telemetry uplink cannot open {}: {}; trying again in 5 s",
                        samples_path_, s.message());
      } else {
        log->info("telemetry uplink: {} stream(s){}", streams_.size(),
                  context_->enabled() ? " and alarm context" : "");
        next = clock_.SteadyNow();
      }
    }
    if (store_ != nullptr) next = Round();
    MutexLock lock(&mu_);
    // Real time for the wait: the steady clock of a FakeClock does not move by itself.
    const auto wait = std::clamp(next - clock_.SteadyNow(), std::chrono::steady_clock::duration(0),
                                 std::chrono::steady_clock::duration(std::chrono::seconds(1)));
    const SteadyTime deadline = std::chrono::steady_clock::now() + wait;
    while (!stop_ && !wake_ && results_.empty()) {
      if (!cv_.WaitUntil(&mu_, deadline)) break;
    }
    wake_ = false;
    if (stop_) break;
  }
  PublishStats();
}

SteadyTime TelemetryUplink::Round() {
  const SteadyTime now = clock_.SteadyNow();
  const int64_t now_us = storage::ToMicros(clock_.Now());
  SteadyTime next = now + kIdleCut;
  TakeResults();
  bool commit_pending = false;
  for (auto& s : streams_) commit_pending = s->TakeConfirmed() || commit_pending;
  if (context_->enabled()) {
    if (Status s = context_->CommitConfirmed(*store_); !s.ok()) {
      rate_log_.Error("commit", "telemetry uplink: alarm context: moving the cursor failed: {}",
                      s.message());
    }
  }
  Periodic(now, now_us);
  const bool connected =
      upstream_.stats().state == drivers::MqttConnectionState::kConnected;
  const bool idle = !options_.alarms_idle || options_.alarms_idle();
  if (connected && idle) {
    if (Status s = CutAll(now, now_us); !s.ok()) {
      rate_log_.Error("cut", "telemetry uplink: reading samples.db failed: {}", s.message());
    }
  }
  if (Status s = WriteRound(commit_pending); !s.ok()) {
    rate_log_.Error("commit", "telemetry uplink: moving the cursors and writing ahead failed: {}",
                    s.message());
  }
  if (connected && idle) {
    for (size_t i = 0; i < lanes_.size(); ++i) next = std::min(next, Send(i, now));
  } else if (connected) {
    next = now + std::chrono::milliseconds(20);  // alarms first: look again shortly
  }
  for (size_t i = 0; i < lanes_.size(); ++i) {
    if (size_t n = lanes_[i].window->ResendSentBefore(now - kResendAfter); n > 0) {
      lanes_[i].resent += n;
    }
    // A full window waits for PUBACKs (they wake the thread), not for its next cut. The alarm
    // context's lane is last; switched off, it is never cut, and its next_cut (zero) would wake
    // the thread every millisecond.
    const bool cut = i < streams_.size() || context_->enabled();
    if (cut && lanes_[i].window->HasRoom()) next = std::min(next, lanes_[i].next_cut);
  }
  PublishStats();
  return std::max(next, now + std::chrono::milliseconds(1));
}

void TelemetryUplink::TakeResults() {
  std::vector<Result> results;
  {
    MutexLock lock(&mu_);
    results.swap(results_);
  }
  for (const Result& r : results) lanes_[r.lane].window->OnResult(r.seq, r.ok);
}

void TelemetryUplink::Periodic(SteadyTime now, int64_t now_us) {
  if (now >= next_discover_) {
    next_discover_ = now + kDiscoverEvery;
    for (auto& s : streams_) {
      if (Status st = s->DiscoverTags(*store_); !st.ok()) {
        rate_log_.Error("discover", "stream {}: matching new tags failed: {}", s->name(),
                        st.message());
      }
    }
  }
  if (now >= next_backlog_) {
    next_backlog_ = now + kBacklogEvery;
    for (auto& s : streams_) {
      if (Status st = s->RefreshBacklog(*store_, now_us); !st.ok()) {
        rate_log_.Warn("backlog", "stream {}: backlog not computed: {}", s->name(), st.message());
      }
    }
  }
}

Status TelemetryUplink::CutAll(SteadyTime now, int64_t now_us) {
  for (size_t i = 0; i < streams_.size(); ++i) {
    Lane& lane = lanes_[i];
    if (now < lane.next_cut || !lane.window->HasRoom()) continue;
    EDGE_RETURN_IF_ERROR(streams_[i]->Fill(*store_, now_us));
    // A window left with room means the stream has caught up: look again after kIdleCut.
    if (lane.window->HasRoom()) lane.next_cut = now + kIdleCut;
  }
  if (context_->enabled()) {
    Lane& lane = lanes_.back();
    if (now >= lane.next_cut) {
      lane.next_cut = now + kIdleCut;
      EDGE_RETURN_IF_ERROR(context_->Poll(outbox_, *reader_, now_us));
      EDGE_RETURN_IF_ERROR(context_->Written(*store_));
    }
  }
  return Status::Ok();
}

Status TelemetryUplink::WriteRound(bool commit_pending) {
  bool unwritten = false;
  for (size_t i = 0; i < streams_.size(); ++i) {
    unwritten = unwritten || !lanes_[i].window->Unwritten().empty();
  }
  if (!commit_pending && !unwritten) return Status::Ok();  // an idle round costs no transaction
  EDGE_RETURN_IF_ERROR(store_->InOneTransaction([&]() -> Status {
    for (size_t i = 0; i < streams_.size(); ++i) {
      EDGE_RETURN_IF_ERROR(streams_[i]->WriteConfirmed(*store_));
      EDGE_RETURN_IF_ERROR(WriteAhead(i));
    }
    return Status::Ok();
  }));
  for (size_t i = 0; i < streams_.size(); ++i) {
    streams_[i]->Committed();
    lanes_[i].window->MarkAllWritten();
  }
  return Status::Ok();
}

// Inside WriteRound's transaction: the caller marks the plans written once it committed.
Status TelemetryUplink::WriteAhead(size_t i) {
  MessageWindow& window = *lanes_[i].window;
  std::vector<storage::UplinkInflight> rows;
  for (const WindowEntry* e : window.Unwritten()) rows.push_back({e->seq, SavePlan(e->plan)});
  if (rows.empty()) return Status::Ok();
  return store_->PutInflight(lanes_[i].name, rows, window.next_seq());
}

SteadyTime TelemetryUplink::Send(size_t i, SteadyTime now) {
  Lane& lane = lanes_[i];
  if (lane.max_rate > 0) {
    const double burst = static_cast<double>(lane.max_rate);  // one second's worth
    const double elapsed = std::chrono::duration<double>(now - lane.refilled).count();
    lane.tokens = std::min(burst, lane.tokens + elapsed * static_cast<double>(lane.max_rate));
    lane.refilled = now;
  }
  while (WindowEntry* e = lane.window->NextToSend()) {
    if (lane.max_rate > 0 && lane.tokens < 0) {
      const double seconds = -lane.tokens / static_cast<double>(lane.max_rate);
      return now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(seconds));
    }
    const uint64_t seq = e->seq;
    Status s = upstream_.Publish(e->topic, e->payload, 1, false, [this, i, seq](const Status& r) {
      {
        MutexLock lock(&mu_);
        results_.push_back({i, seq, r.ok()});
      }
      cv_.NotifyAll();
    });
    if (!s.ok()) break;  // not connected: the next round tries again
    lane.window->MarkSent(e, now);
    if (lane.max_rate > 0) lane.tokens -= static_cast<double>(e->payload.size());
  }
  return SteadyTime::max();
}

void TelemetryUplink::PublishStats() {
  std::vector<StreamStats> all;
  for (size_t i = 0; i < streams_.size(); ++i) {
    all.push_back(streams_[i]->stats());
    all.back().resent = lanes_[i].resent;
  }
  if (context_->enabled()) {
    StreamStats c;
    c.name = std::string(kAlarmContextStream);
    c.messages = context_->messages();
    c.readings = context_->readings();
    c.bytes = context_->bytes();
    c.in_flight = context_->window().size();
    c.resent = lanes_.back().resent;
    all.push_back(std::move(c));
  }
  MutexLock lock(&stats_mu_);
  stats_ = std::move(all);
}

std::vector<StreamStats> TelemetryUplink::stats() const {
  MutexLock lock(&stats_mu_);
  return stats_;
}

}  // namespace edge::uplink
