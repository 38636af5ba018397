// DESIGN (threads): no thread of its own. Each source's MqttConnection runs a connection thread
// (connect, subscribe, back-off) and paho runs a callback thread per client, on which
// Subscription::OnMessage decodes and pushes samples. Everything OnMessage touches is owned by
// that one callback thread (the decode buffers, the name cache) except the ingest queue (its
// own lock), the TagRegistry (its own lock, only when a new templated name appears) and the
// atomic counters read by stats(). Stop() stops every connection, after which no callback runs.
#include "drivers/mqtt_source.h"

#include <algorithm>
#include <unordered_map>

#include "core/logging.h"
#include "core/quoted.h"
#include "core/rate_limited_log.h"
#include "drivers/mqtt_topic.h"

namespace edge::drivers {

class MqttSource::Subscription {
 public:
  Subscription(const config::MqttSource& config, MqttPayloadDecoder decoder,
               std::vector<MqttTagTemplate> templates, std::vector<TagId> fixed_ids,
               TagRegistry& registry, BoundedQueue<Sample>& queue, const Clock& clock,
               size_t max_dynamic_tags)
      : name_(config.name),
        broker_(config.broker.uri),
        filter_(config.topic),
        decoder_(std::move(decoder)),
        templates_(std::move(templates)),
        fixed_ids_(std::move(fixed_ids)),
        registry_(registry),
        queue_(queue),
        clock_(clock),
        max_dynamic_tags_(max_dynamic_tags),
        limited_(GetLogger("mqtt"), 5, std::chrono::minutes(1)) {
    samples_.reserve(templates_.size());
    decoded_.values.reserve(templates_.size());
    for (const MqttTagTemplate& t : templates_)
      any_template_ = any_template_ || t.has_placeholders();
  }

  void set_connection(std::unique_ptr<MqttConnection> c) { connection_ = std::move(c); }
  MqttConnection& connection() { return *connection_; }
  const std::string& name() const { return name_; }
  const MqttTopicFilter& filter() const { return filter_; }

  void set_journal(std::unique_ptr<MqttJournal> j) { journal_ = std::move(j); }
  MqttJournal* journal() { return journal_.get(); }

  // On paho's callback thread: journaled before anything can be lost, then ingested.
  void OnMessage(std::string_view topic, std::string_view payload) {
    const Timestamp arrival = clock_.Now();
    if (journal_ != nullptr) journal_->Append(arrival, topic, payload);
    Ingest(topic, payload, arrival, nullptr);
  }

  // Decodes one message and pushes its samples; `arrival` stands for a missing timestamp_field.
  // `stored`, when set (a replay), drops the samples storage already holds.
  void Ingest(std::string_view topic, std::string_view payload, Timestamp arrival,
              const std::function<bool(TagId, Timestamp)>* stored) {
    messages_.fetch_add(1, std::memory_order_relaxed);
    if (!filter_.Matches(topic)) {
      unmatched_.fetch_add(1, std::memory_order_relaxed);
      limited_.Warn("topic", "mqtt source {}: dropped a message on {}: outside '{}'", name_,
                    Quoted(topic), filter_.filter());
      return;
    }
    decoder_.Decode(payload, decoded_);
    if (decoded_.error != PayloadError::kNone) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      by_kind_[static_cast<int>(decoded_.error)].fetch_add(1, std::memory_order_relaxed);
      limited_.Warn(PayloadErrorName(decoded_.error),
                    "mqtt source {}: dropped a malformed message on '{}': {} ({})", name_, topic,
                    decoded_.detail, PayloadErrorName(decoded_.error));
      return;
    }
    if (any_template_) SplitTopicLevels(topic, levels_);
    const Timestamp ts = decoded_.ts.value_or(arrival);
    samples_.clear();
    for (size_t i = 0; i < templates_.size(); ++i) {
      TagId id = fixed_ids_[i];
      if (templates_[i].has_placeholders()) {
        const std::optional<TagId> dynamic = Resolve(templates_[i], topic);
        if (!dynamic) return;  // counted and logged by Resolve
        id = *dynamic;
      }
      if (stored != nullptr && *stored && (*stored)(id, ts)) {
        replay_skipped_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      samples_.push_back(Sample{id, ts, decoded_.values[i], Quality::kGood});
    }
    if (samples_.empty()) return;
    const size_t pushed = queue_.PushBatch(samples_);
    samples_pushed_.fetch_add(pushed, std::memory_order_relaxed);
    if (pushed < samples_.size()) {
      queue_drops_.fetch_add(samples_.size() - pushed, std::memory_order_relaxed);
    }
  }

  MqttSourceStats stats() const {
    MqttSourceStats s;
    s.source = name_;
    s.broker = broker_;
    s.connection = connection_->stats();
    s.messages = messages_.load();
    s.samples = samples_pushed_.load();
    s.queue_drops = queue_drops_.load();
    s.malformed = malformed_.load();
    for (int k = 0; k < kPayloadErrorKinds; ++k) s.by_kind[k] = by_kind_[k].load();
    s.unmatched_topic = unmatched_.load();
    s.tag_limit = tag_limit_.load();
    if (journal_ != nullptr) s.journal = journal_->stats();
    s.replay_skipped = replay_skipped_.load();
    return s;
  }

  void FlushLog() { limited_.Flush(); }

 private:
  // The TagId for `t` on this message's topic levels; nullopt (counted) if the topic cannot
  // form a valid name or the source has reached its limit of names.
  std::optional<TagId> Resolve(const MqttTagTemplate& t, std::string_view topic) {
    if (!t.Expand(levels_, name_buffer_)) {
      unmatched_.fetch_add(1, std::memory_order_relaxed);
      limited_.Warn("name",
                    "mqtt source {}: dropped a message on '{}': tag name template '{}' gives no "
                    "valid tag name for it (use A-Z a-z 0-9 _ . - in topic levels)",
                    name_, topic, t.text());
      return std::nullopt;
    }
    if (const auto it = cache_.find(name_buffer_); it != cache_.end()) return it->second;
    if (cache_.size() >= max_dynamic_tags_) {
      tag_limit_.fetch_add(1, std::memory_order_relaxed);
      limited_.Warn("limit",
                    "mqtt source {}: dropped a message on '{}': already {} distinct tag names "
                    "from topic levels, the limit",
                    name_, topic, max_dynamic_tags_);
      return std::nullopt;
    }
    const TagId id = registry_.Intern(name_buffer_);
    cache_.emplace(name_buffer_, id);
    return id;
  }

  const std::string name_;
  const std::string broker_;
  const MqttTopicFilter filter_;
  const MqttPayloadDecoder decoder_;
  const std::vector<MqttTagTemplate> templates_;
  const std::vector<TagId> fixed_ids_;  // per tag; unused for templated names
  TagRegistry& registry_;
  BoundedQueue<Sample>& queue_;
  const Clock& clock_;
  const size_t max_dynamic_tags_;
  bool any_template_ = false;
  RateLimitedLog limited_;

  // Owned by paho's callback thread (one per connection): reused for every message.
  DecodedPayload decoded_;
  std::vector<Sample> samples_;
  std::vector<std::string_view> levels_;
  std::string name_buffer_;
  std::unordered_map<std::string, TagId> cache_;

  std::atomic<uint64_t> messages_{0};
  std::atomic<uint64_t> samples_pushed_{0};
  std::atomic<uint64_t> queue_drops_{0};
  std::atomic<uint64_t> malformed_{0};
  std::atomic<uint64_t> by_kind_[kPayloadErrorKinds] = {};
  std::atomic<uint64_t> unmatched_{0};
  std::atomic<uint64_t> tag_limit_{0};
  std::atomic<uint64_t> replay_skipped_{0};

  std::unique_ptr<MqttJournal> journal_;  // null: none

  // Last, so it is destroyed first: no paho callback can run into the members above.
  std::unique_ptr<MqttConnection> connection_;
};

MqttSource::~MqttSource() { Stop(); }

StatusOr<std::unique_ptr<MqttSource>> MqttSource::Create(
    const std::vector<config::MqttSource>& sources, TagRegistry& registry,
    BoundedQueue<Sample>& queue, Options options) {
  const Clock& clock = options.clock != nullptr ? *options.clock : SystemClockInstance();
  std::unique_ptr<MqttSource> source(new MqttSource());
  source->stored_ = options.stored;
  for (const config::MqttSource& cfg : sources) {
    const std::string where = "mqtt source " + cfg.name;
    if (cfg.tags.empty()) return Status::InvalidArgument(where + ": no tags");
    PayloadSpec spec;
    spec.timestamp_field = cfg.timestamp_field;
    spec.max_payload_bytes = options.max_payload_bytes;
    std::vector<MqttTagTemplate> templates;
    std::vector<TagId> fixed_ids;
    for (const config::MqttSourceTag& tag : cfg.tags) {
      spec.fields.push_back(tag.field);
      StatusOr<MqttTagTemplate> t = MqttTagTemplate::Parse(tag.name);
      if (!t.ok()) return Status::InvalidArgument(where + ": " + t.status().message());
      TagId id = 0;
      if (!t->has_placeholders()) {
        const std::optional<TagId> found = registry.Find(tag.name);
        if (!found) {
          return Status::InvalidArgument(where + ": tag " + tag.name +
                                         " is not in the tag registry");
        }
        id = *found;
      }
      templates.push_back(std::move(*t));
      fixed_ids.push_back(id);
    }
    StatusOr<MqttPayloadDecoder> decoder = MqttPayloadDecoder::Create(std::move(spec));
    if (!decoder.ok()) return Status::InvalidArgument(where + ": " + decoder.status().message());

    auto sub = std::make_unique<Subscription>(cfg, std::move(*decoder), std::move(templates),
                                              std::move(fixed_ids), registry, queue, clock,
                                              options.max_dynamic_tags);
    MqttConnection::Options co;
    co.name = where;
    co.clean_session = options.clean_session.value_or(cfg.qos == 0);
    co.backoff_initial = options.backoff_initial;
    co.backoff_max = options.backoff_max;
    co.mqtt_v5 = true;
    co.max_packet_bytes = static_cast<uint32_t>(
        std::min<size_t>(options.max_payload_bytes + kPacketOverhead, 0x0FFFFFFF));
    if (!options.journal_dir.empty()) {
      StatusOr<std::unique_ptr<MqttJournal>> journal =
          MqttJournal::Open(options.journal_dir, cfg.name, options.journal);
      if (!journal.ok()) return Status::IoError(where + ": " + journal.status().message());
      sub->set_journal(std::move(*journal));
    }
    StatusOr<std::unique_ptr<MqttConnection>> connection = MqttConnection::Create(cfg.broker, co);
    if (!connection.ok()) return connection.status();
    (*connection)->AddSubscription(cfg.topic, cfg.qos);
    Subscription* raw = sub.get();
    (*connection)->SetMessageHandler([raw](std::string_view topic, std::string_view payload) {
      raw->OnMessage(topic, payload);
    });
    sub->set_connection(std::move(*connection));
    source->subs_.push_back(std::move(sub));
  }
  return source;
}

Status MqttSource::Start() {
  if (started_) return Status::FailedPrecondition("mqtt sources started twice");
  started_ = true;
  const auto log = GetLogger("mqtt");
  for (const auto& sub : subs_) {
    MqttJournal* journal = sub->journal();
    if (journal == nullptr) continue;
    Subscription* raw = sub.get();
    const std::function<bool(TagId, Timestamp)>* stored = &stored_;
    EDGE_RETURN_IF_ERROR(journal->Replay(
        [raw, stored](Timestamp arrival, std::string_view topic, std::string_view payload) {
          raw->Ingest(topic, payload, arrival, stored);
        }));
    if (const uint64_t n = journal->stats().replayed; n > 0) {
      log->info("mqtt source {}: replayed {} messages journaled before the last stop ({} of their "
                "readings were stored already)",
                sub->name(), n, sub->stats().replay_skipped);
    }
  }
  for (const auto& sub : subs_) {
    log->info("mqtt source {}: subscribing to '{}' on {}", sub->name(), sub->filter().filter(),
              sub->connection().uri());
    EDGE_RETURN_IF_ERROR(sub->connection().Start());
  }
  return Status::Ok();
}

void MqttSource::Stop() {
  // Reverse start order.
  for (auto it = subs_.rbegin(); it != subs_.rend(); ++it) {
    (*it)->connection().Stop();
    (*it)->FlushLog();
  }
}

void MqttSource::DiscardJournals() {
  for (const auto& sub : subs_) {
    if (sub->journal() != nullptr) sub->journal()->Clear();
  }
}

std::vector<MqttSourceStats> MqttSource::stats() const {
  std::vector<MqttSourceStats> out;
  out.reserve(subs_.size());
  for (const auto& sub : subs_) out.push_back(sub->stats());
  return out;
}

}  // namespace edge::drivers
