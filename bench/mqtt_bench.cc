// MQTT ingest throughput: our MqttSource next to mosquitto_sub (the floor) receiving the very
// same stream from a real mosquitto on loopback, in the same run, at QoS 0 and QoS 1.
//
// The stream: N JSON messages with 4 fields ({"ts": epoch ms, "rms", "peak", "temp"}) spread
// over 100 topics bench/s<k>/vib, published as fast as the broker takes them by a paho C++
// client (our MqttPublisher, a window of 800 unacknowledged messages). Two modes per QoS:
//  - live: both subscribers are connected while the publisher sends; both rates are then
//    bounded by the publisher's (printed too), so this shows keeping up, not the ceiling.
//  - backlog: both subscribers subscribe with a persistent session and disconnect, the
//    publisher sends everything (the broker queues it for both: queue_qos0_messages, no queue
//    limit), then both reconnect at the same moment and drain as fast as they can. This is the
//    subscribers' ceiling on this machine. Ours:
// subscription bench/+/vib, three tags named by template ({1}.rms, {1}.peak, {1}.temp, i.e. 300
// tag names), timestamp from /ts, samples pushed into a BoundedQueue of 2^20 samples drained by
// a consumer thread. The floor: `mosquitto_sub -F %U` (a receive time stamp per message, no
// decoding) on the same filter and QoS. Each side's rate is (messages - 1) divided by the time
// from its first to its last message (ours: as the consumer pops them from the queue).
// Printed per QoS: messages received by each, msgs/s of each, the ratio ours / floor, queue
// drops, and the publisher's rate.
//
// DESIGN (threads/processes): main() starts one mosquitto (tests/support/mosquitto_broker.h) on
// a free loopback port and, per run, one mosquitto_sub child; the consumer is one thread; paho
// runs its own threads for our subscriber and the publisher. Every child is killed at exit.
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_usage.h"
#include "core/bounded_queue.h"
#include "core/logging.h"
#include "core/tag_registry.h"
#include "drivers/mqtt_publisher.h"
#include "drivers/mqtt_source.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/subprocess.h"

namespace {

using edge::BoundedQueue;
using edge::Sample;
using edge::TagRegistry;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Wall = std::chrono::system_clock;

constexpr int kTopics = 100;
constexpr size_t kQueueCapacity = 1 << 20;

struct Result {
  int qos = 0;
  bool backlog = false;
  uint64_t sent = 0;
  uint64_t ours_messages = 0;
  uint64_t floor_messages = 0;
  double ours_rate = 0;
  double floor_rate = 0;
  double publish_rate = 0;
  uint64_t queue_drops = 0;
  uint64_t malformed = 0;
};

double Rate(uint64_t messages, double seconds_span) {
  return messages > 1 && seconds_span > 0 ? static_cast<double>(messages - 1) / seconds_span : 0;
}

// Publishes n messages; returns how many were accepted. Waits for every completion.
uint64_t Publish(const edge::testing::MosquittoBroker& broker, int qos, int n, double* rate) {
  edge::config::BrokerConfig pb = edge::config::BrokerConfig::FromUri(broker.uri()).value();
  pb.client_id = fmt::format("bench-pub-q{}", qos);
  edge::drivers::MqttPublisher::Options po;
  po.max_inflight = 1000;
  auto publisher = edge::drivers::MqttPublisher::Create(pb, po);
  if (!publisher.ok() || !(*publisher)->Start().ok() || !(*publisher)->WaitConnected(seconds(20))) {
    std::fprintf(stderr, "mqtt_bench: publisher did not connect\n");
    std::exit(1);
  }
  std::atomic<int> in_flight{0};
  uint64_t sent = 0;
  const auto start = std::chrono::steady_clock::now();
  std::string payload;
  for (int i = 0; i < n; ++i) {
    while (in_flight.load() >= 800) std::this_thread::yield();
    const int64_t ts =
        std::chrono::duration_cast<milliseconds>(Wall::now().time_since_epoch()).count();
    payload = fmt::format(R"({{"ts":{},"rms":{:.4f},"peak":{:.4f},"temp":{:.2f}}})", ts,
                          0.2 + (i % 97) * 0.001, 0.9 + (i % 89) * 0.002, 40.0 + (i % 50) * 0.1);
    ++in_flight;
    edge::Status s = (*publisher)
                         ->Publish(fmt::format("bench/s{}/vib", i % kTopics), payload, qos, false,
                                   [&](const edge::Status&) { --in_flight; });
    if (!s.ok()) {
      --in_flight;
      std::fprintf(stderr, "mqtt_bench: publish: %s\n", s.ToString().c_str());
      break;
    }
    ++sent;
  }
  while (in_flight.load() > 0 && std::chrono::steady_clock::now() - start < seconds(120)) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  *rate = static_cast<double>(sent) /
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (*publisher)->Stop();
  return sent;
}

edge::testing::SubprocessOptions FloorSub(const edge::testing::MosquittoBroker& broker, int qos,
                                          int n, bool backlog) {
  edge::testing::SubprocessOptions so;
  so.argv = {"mosquitto_sub",
             "-h",
             "127.0.0.1",
             "-p",
             std::to_string(broker.port()),
             "-t",
             "bench/+/vib",
             "-q",
             std::to_string(qos),
             "-F",
             "%U",
             "-i",
             fmt::format("bench-floor-q{}-{}", qos, backlog ? "backlog" : "live")};
  if (backlog) so.argv.push_back("-c");  // persistent session
  if (n > 0) {
    so.argv.insert(so.argv.end(), {"-C", std::to_string(n)});
  } else {
    so.argv.push_back("-E");  // subscribe, then exit
  }
  return so;
}

// Waits until the floor has exited and ours has popped `want_samples`, or until ours makes no
// progress for 10 s (something was lost: the caller reports what arrived), at most 120 s.
void WaitForBoth(edge::testing::Subprocess& floor, const std::atomic<uint64_t>& popped,
                 uint64_t want_samples) {
  const auto deadline = std::chrono::steady_clock::now() + seconds(120);
  uint64_t seen = 0;
  auto last_progress = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline) {
    const bool floor_done = !floor.running();
    const bool ours_done = popped.load() >= want_samples;
    if (floor_done && ours_done) break;
    if (popped.load() != seen) {
      seen = popped.load();
      last_progress = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_progress > seconds(10)) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

// The floor's messages and rate from mosquitto_sub's output (one receive time stamp per line).
void CountFloor(const std::string& out, Result& r) {
  std::istringstream lines(out);
  std::string line;
  double t_first = 0, t_last = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const double t = std::strtod(line.c_str(), nullptr);
    if (r.floor_messages == 0) t_first = t;
    t_last = t;
    ++r.floor_messages;
  }
  r.floor_rate = Rate(r.floor_messages, t_last - t_first);
}

Result Run(const edge::testing::MosquittoBroker& broker, int qos, int n, bool backlog) {
  Result r;
  r.qos = qos;
  r.backlog = backlog;
  const std::string filter = "bench/+/vib";

  // Ours.
  edge::config::MqttSource cfg;
  cfg.name = fmt::format("bench-q{}", qos);
  cfg.broker = edge::config::BrokerConfig::FromUri(broker.uri()).value();
  cfg.broker.client_id = fmt::format("bench-ours-q{}-{}", qos, backlog ? "backlog" : "live");
  cfg.topic = filter;
  cfg.qos = qos;
  cfg.timestamp_field = "/ts";
  cfg.tags = {{"{1}.rms", "/rms", {}}, {"{1}.peak", "/peak", {}}, {"{1}.temp", "/temp", {}}};
  TagRegistry registry;
  BoundedQueue<Sample> queue(kQueueCapacity);
  edge::drivers::MqttSource::Options options;
  options.clean_session = !backlog;
  const auto make_source = [&] {
    auto source = edge::drivers::MqttSource::Create({cfg}, registry, queue, options);
    if (!source.ok()) {
      std::fprintf(stderr, "mqtt_bench: %s\n", source.status().ToString().c_str());
      std::exit(1);
    }
    return std::move(source).value();
  };
  const auto wait_connected = [](edge::drivers::MqttSource& s) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(20);
    while (std::chrono::steady_clock::now() < deadline &&
           s.stats()[0].connection.state != edge::drivers::MqttConnectionState::kConnected) {
      std::this_thread::sleep_for(milliseconds(5));
    }
  };

  if (backlog) {
    // Both sessions subscribe once and go away; the broker then queues the stream for both.
    auto first = make_source();
    if (!first->Start().ok()) std::exit(1);
    wait_connected(*first);
    first->Stop();
    const edge::testing::CommandResult sub =
        edge::testing::RunCommand(FloorSub(broker, qos, 0, true));
    if (sub.exit_code != 0) {
      std::fprintf(stderr, "mqtt_bench: mosquitto_sub -E: %s\n", sub.err.c_str());
      std::exit(1);
    }
    r.sent = Publish(broker, qos, n, &r.publish_rate);
    std::this_thread::sleep_for(seconds(1));  // let the broker take in the last ones
  }

  auto source = make_source();

  const uint64_t want_samples = static_cast<uint64_t>(n) * 3;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> popped{0};
  Wall::time_point first{}, last{};
  std::thread consumer([&] {
    std::vector<Sample> batch;
    batch.reserve(8192);
    while (!stop) {
      batch.clear();
      const size_t got = queue.PopBatch(batch, 8192, milliseconds(20));
      if (got == 0) continue;
      const auto now = Wall::now();
      if (popped == 0) first = now;
      popped += got;
      last = now;
    }
  });

  // The floor, and ours; in backlog mode both start draining here.
  edge::testing::Subprocess floor(FloorSub(broker, qos, n, backlog));
  if (!source->Start().ok()) std::exit(1);

  if (!backlog) {
    // Both subscribed before the first message.
    const std::string floor_subscribed =
        fmt::format("Received SUBSCRIBE from bench-floor-q{}-live", qos);
    const auto ready_deadline = std::chrono::steady_clock::now() + seconds(20);
    while (std::chrono::steady_clock::now() < ready_deadline &&
           broker.log().find(floor_subscribed) == std::string::npos) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    wait_connected(*source);
    std::this_thread::sleep_for(milliseconds(200));
    r.sent = Publish(broker, qos, n, &r.publish_rate);
  }

  WaitForBoth(floor, popped, want_samples);
  floor.Wait(seconds(5));
  if (floor.running()) floor.Signal(SIGKILL);
  floor.Wait(seconds(5));
  stop = true;
  consumer.join();
  source->Stop();

  const edge::drivers::MqttSourceStats st = source->stats()[0];
  r.ours_messages = st.messages;
  r.queue_drops = st.queue_drops + queue.GetStats().dropped;
  r.malformed = st.malformed + st.unmatched_topic + st.tag_limit;
  r.ours_rate = Rate(popped.load() / 3, std::chrono::duration<double>(last - first).count());

  CountFloor(floor.Stdout(), r);
  return r;
}

}  // namespace

constexpr char kUsage[] =
    "usage: mqtt_bench [MESSAGES]   (default 100000, at least 2)\n"
    "  MQTT ingest through MqttSource next to mosquitto_sub on the same stream from a real\n"
    "  mosquitto on loopback, QoS 0 and 1, live and backlog\n";

int main(int argc, char** argv) {
  if (edge::bench::PrintedHelp(argc, argv, kUsage)) return 0;
  int n = 100000;
  if (argc > 1) n = std::atoi(argv[1]);
  if (n < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  edge::LogOptions lo;
  lo.level = "warn";
  if (!edge::InitLogging(lo).ok()) return 1;

  edge::testing::MosquittoBroker::Options bo;
  // Unbounded per-client queues: a slow subscriber must show up as a low rate, not as drops.
  bo.extra_config =
      "max_queued_messages 0\nmax_queued_bytes 0\nqueue_qos0_messages true\n"
      "max_inflight_messages 100\n";
  edge::testing::MosquittoBroker broker(bo);
  if (!broker.ok()) {
    std::fprintf(stderr, "mqtt_bench: mosquitto: %s\n", broker.error().c_str());
    return 1;
  }

  std::vector<Result> results;
  for (bool backlog : {false, true}) {
    for (int qos : {0, 1}) results.push_back(Run(broker, qos, n, backlog));
  }

  std::printf("MQTT ingest, %d messages of 4 JSON fields over %d topics, mosquitto on loopback\n",
              n, kTopics);
  std::printf("%-8s %-4s %10s %12s %12s %14s %14s %7s %11s %10s %14s\n", "mode", "qos", "sent",
              "ours msgs", "floor msgs", "ours msgs/s", "floor msgs/s", "ratio", "queue drops",
              "malformed", "publish msgs/s");
  bool ok = true;
  for (const Result& r : results) {
    const double ratio = r.floor_rate > 0 ? r.ours_rate / r.floor_rate : 0;
    std::printf("%-8s %-4d %10llu %12llu %12llu %14.0f %14.0f %7.3f %11llu %10llu %14.0f\n",
                r.backlog ? "backlog" : "live", r.qos, static_cast<unsigned long long>(r.sent),
                static_cast<unsigned long long>(r.ours_messages),
                static_cast<unsigned long long>(r.floor_messages), r.ours_rate, r.floor_rate, ratio,
                static_cast<unsigned long long>(r.queue_drops),
                static_cast<unsigned long long>(r.malformed), r.publish_rate);
    ok = ok && ratio >= 0.8 && r.queue_drops == 0;
  }
  std::printf("target: ours >= 0.8 x floor and 0 queue drops: %s\n", ok ? "met" : "NOT met");
  return 0;
}
