// MqttSource: the configured MQTT sensor subscriptions (`mqtt_sources`, DESIGN §3) feeding the
// ingest queue.
//
// One MqttConnection (drivers/mqtt_connection.h) per source: each source has its own client id
// (<gateway.id>-<name> by default), subscription and session. Sources with QoS 1 or 2 use a
// persistent session (clean_session = false), so the broker keeps their messages while the
// agent is away and delivers them after the reconnect; QoS 0 sources start clean.
//
// Per message, on paho's callback thread: the topic is matched against the filter and split
// into levels, the payload decoded (drivers/mqtt_payload.h), each tag's name built from its
// template ("{2}.vib_rms") and mapped to a TagId, and the samples of that message pushed to the
// queue in one PushBatch. Time: the payload's timestamp_field if configured, else the arrival
// time (Clock::Now()).
//
// Faults are per message: a malformed payload (by PayloadError kind), a topic that does not
// match the filter, or a tag name a topic level cannot form (e.g. a level with a space) drops
// that message only, is counted in stats(), and is logged at most 5 times a minute per source
// and kind, naming the topic and the fault. Queue refusals are counted as queue_drops.
//
// Tag ids: names without placeholders must already be in the registry (Create fails
// otherwise). Names built from topic levels are interned into the registry (thread-safe) at run
// time, the first time each appears on a connection; later messages find the id in a cache of
// their own, so the registry's lock is not taken per message.
// Each source interns at most Options::max_dynamic_tags distinct names; messages that would
// need more are dropped and counted (tag_limit), so a publisher inventing topics cannot grow
// memory without bound.
//
// Oversized payloads (issue #23 item 4): each connection tries MQTT v5 first and tells the broker
// the largest packet it takes (max_payload_bytes + kPacketOverhead, drivers/mqtt_connection.h),
// so a v5 broker drops a larger message before it is sent; the decoder's own cap (counted
// too_large) remains for 3.1.1 brokers, which must be capped by their max_packet_size.
//
// Crash safety (issue #23 item 14): with Options::journal_dir set, every message is journaled
// (drivers/mqtt_journal.h) before its samples are pushed, Start() first replays what an earlier
// run journaled, and DiscardJournals() deletes the journals once the pipeline has committed
// everything after a clean stop. A crash then costs no reading; a replayed sample that storage
// already holds (Options::stored) is skipped, so it is not stored twice either.
//
// Thread-safety: Start, Stop and DiscardJournals from one controlling thread; stats() from any
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/sample.h"
#include "core/status.h"
#include "core/tag_registry.h"
#include "drivers/mqtt_connection.h"
#include "drivers/mqtt_journal.h"
#include "drivers/mqtt_payload.h"

namespace edge::drivers {

struct MqttSourceStats {
  std::string source;
  std::string broker;
  MqttConnectionStats connection;
  uint64_t messages = 0;                      // received on the subscription
  uint64_t samples = 0;                       // pushed into the queue
  uint64_t queue_drops = 0;                   // samples the queue refused (full or closed)
  uint64_t malformed = 0;                     // payloads dropped, all kinds (sum of by_kind)
  uint64_t by_kind[kPayloadErrorKinds] = {};  // indexed by PayloadError
  uint64_t unmatched_topic = 0;               // topic outside the filter (or a name it cannot form)
  uint64_t tag_limit = 0;                     // messages dropped: max_dynamic_tags reached
  MqttJournalStats journal;                   // all zero without a journal
  uint64_t replay_skipped = 0;                // replayed samples storage already held
};

class MqttSource {
 public:
  struct Options {
    const Clock* clock = nullptr;  // null: the system clock (arrival times)
    size_t max_payload_bytes = 64 * 1024;
    size_t max_dynamic_tags = 10000;  // per source
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{std::chrono::seconds(30)};
    // Set: overrides the session choice above (clean for QoS 0, persistent for QoS 1/2), e.g.
    // a persistent QoS 0 session for a broker with queue_qos0_messages.
    std::optional<bool> clean_session;
    // Set: journal every message under this directory (drivers/mqtt_journal.h).
    std::string journal_dir;
    MqttJournal::Options journal;
    // Set: called (during Start) for each sample a replay decodes; true means storage already
    // holds that (tag, time), committed before the crash, and the sample is skipped (counted
    // in replay_skipped) instead of being stored twice.
    std::function<bool(TagId, Timestamp)> stored;
  };

  // Room for the fixed header, topic and packet id (and v5 properties) around a payload of
  // max_payload_bytes in the Maximum Packet Size the broker is told.
  static constexpr uint32_t kPacketOverhead = 8 * 1024;

  // Validates every source (errors name the source and tag), reads password files, creates the
  // clients; connects nothing. `registry` and `queue` must outlive the source.
  [[nodiscard]] static StatusOr<std::unique_ptr<MqttSource>> Create(
      const std::vector<config::MqttSource>& sources, TagRegistry& registry,
      BoundedQueue<Sample>& queue, Options options);
  [[nodiscard]] static StatusOr<std::unique_ptr<MqttSource>> Create(
      const std::vector<config::MqttSource>& sources, TagRegistry& registry,
      BoundedQueue<Sample>& queue) {
    return Create(sources, registry, queue, Options());
  }

  MqttSource(const MqttSource&) = delete;
  MqttSource& operator=(const MqttSource&) = delete;
  ~MqttSource();  // Stop()

  // Replays each source's journal, if any, into the queue, then logs each subscription and
  // starts every connection (connecting happens in the background).
  [[nodiscard]] Status Start();
  // Disconnects every source and joins their threads. Idempotent.
  void Stop();
  // REQUIRES: after Stop(), once every sample pushed has been committed to storage.
  void DiscardJournals();

  // One entry per source, in configuration order.
  std::vector<MqttSourceStats> stats() const;
  size_t size() const { return subs_.size(); }

 private:
  class Subscription;
  MqttSource() = default;

  std::vector<std::unique_ptr<Subscription>> subs_;
  std::function<bool(TagId, Timestamp)> stored_;  // Options::stored
  bool started_ = false;
};

}  // namespace edge::drivers
