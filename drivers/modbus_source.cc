// DESIGN (threads): Start() starts one thread per ModbusPoller, i.e. per TCP endpoint or serial
// bus. Each thread owns its poller outright (the modbus_t context, the device buffers, the
// schedule); nothing else touches them while it runs, so the poll path takes no lock. What is
// shared: the ingest queue (its own lock), the poller's atomic counters (read by stats()) and
// stop_. The threads sleep only in Clock::SleepUntil(deadline, stop_), so Stop() ->
// stop_.Request() wakes them at once; a thread inside a connect or a Modbus request is woken by
// ModbusPoller::Interrupt() (an eventfd its poll() also waits on), whatever the peer does. Stop()
// then joins every thread; the pollers close their connections when the source is destroyed.
#include "drivers/modbus_source.h"

#include <pthread.h>

#include <algorithm>
#include <map>

#include "core/crash_point.h"
#include "core/logging.h"

namespace edge::drivers {
namespace {

using Steady = std::chrono::steady_clock;

}  // namespace

ModbusSource::ModbusSource(const Clock& clock, Options options)
    : clock_(clock), options_(std::move(options)) {}

ModbusSource::~ModbusSource() { Stop(); }

StatusOr<std::unique_ptr<ModbusSource>> ModbusSource::Create(
    const std::vector<config::ModbusDevice>& devices, const TagRegistry& registry,
    BoundedQueue<Sample>& queue, Options options) {
  if (options.backoff_initial <= std::chrono::milliseconds::zero() ||
      options.backoff_max < options.backoff_initial) {
    return Status::InvalidArgument("modbus: bad reconnect back-off settings");
  }
  const Clock& clock = options.clock != nullptr ? *options.clock : SystemClockInstance();
  std::unique_ptr<ModbusSource> source(new ModbusSource(clock, std::move(options)));

  // Group by endpoint, keeping configuration order within each group and across first
  // appearances.
  std::vector<std::string> endpoints;
  std::map<std::string, std::vector<config::ModbusDevice>> groups;
  std::vector<std::pair<std::string, size_t>> position;  // per device: endpoint, index in group
  for (const config::ModbusDevice& device : devices) {
    const std::string endpoint = EndpointName(device);
    auto& group = groups[endpoint];
    if (group.empty()) endpoints.push_back(endpoint);
    position.emplace_back(endpoint, group.size());
    group.push_back(device);
  }
  std::map<std::string, size_t> poller_index;
  for (const std::string& endpoint : endpoints) {
    StatusOr<std::unique_ptr<ModbusPoller>> poller = ModbusPoller::Create(
        std::move(groups[endpoint]), registry, queue, clock, source->options_.on_string);
    if (!poller.ok()) return poller.status();
    poller_index[endpoint] = source->pollers_.size();
    source->pollers_.push_back(std::move(*poller));
    source->beats_.push_back(std::make_unique<Heartbeat>());
  }
  for (const auto& [endpoint, index] : position) {
    source->order_.emplace_back(poller_index[endpoint], index);
  }
  return source;
}

Status ModbusSource::Start() {
  if (started_) return Status::FailedPrecondition("modbus source started twice");
  started_ = true;
  const auto log = GetLogger("modbus");
  for (const std::string& line : DescribePlans()) log->info("read plan: {}", line);
  for (size_t i = 0; i < pollers_.size(); ++i) {
    beats_[i]->Beat();
    threads_.emplace_back([this, i] { Run(*pollers_[i], *beats_[i]); });
  }
  return Status::Ok();
}

void ModbusSource::Stop() {
  stop_.Request();
  for (auto& poller : pollers_) poller->Interrupt();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void ModbusSource::Run(ModbusPoller& poller, Heartbeat& beat) {
  pthread_setname_np(pthread_self(), "modbus-poll");
  // Sleeps until `deadline` (true: stop requested), announcing it to the watchdog first.
  const auto sleep_until = [&](Steady::time_point deadline) {
    beat.BeatFor(deadline - clock_.SteadyNow());
    return clock_.SleepUntil(deadline, stop_);
  };
  const auto log = GetLogger("modbus");
  const size_t n = poller.device_count();
  std::vector<Steady::time_point> next(n);  // each device's next poll slot
  std::vector<bool> aligned(n, false);      // next[] is on the device's wall-clock grid
  std::chrono::milliseconds backoff = options_.backoff_initial;
  bool ever_connected = false;
  uint64_t failed_connects = 0;  // in the current streak

  while (!stop_.requested()) {
    StallPoint("modbus-poll");
    if (!poller.connected()) {
      beat.BeatFor(poller.longest_block());
      if (Status s = poller.Connect(); !s.ok()) {
        if (failed_connects++ == 0) log->warn("{}; retrying with back-off", s.message());
        poller.MarkAllBad();
        if (sleep_until(clock_.SteadyNow() + backoff)) break;
        backoff = std::min(backoff * 2, options_.backoff_max);
        continue;
      }
      if (ever_connected) {
        poller.CountReconnect();
        log->info("modbus {}: reconnected after {} failed attempts", poller.endpoint(),
                  failed_connects);
      }
      ever_connected = true;
      failed_connects = 0;
      // Each device is polled at once, then on slots aligned to the wall clock.
      const auto now = clock_.SteadyNow();
      std::fill(next.begin(), next.end(), now);
      std::fill(aligned.begin(), aligned.end(), false);
    }

    const size_t i = static_cast<size_t>(std::min_element(next.begin(), next.end()) - next.begin());
    if (sleep_until(next[i])) break;
    beat.BeatFor(poller.longest_block());
    const ModbusPoller::PollResult result = poller.Poll(i);
    if (poller.last_poll_answered()) backoff = options_.backoff_initial;

    // The next slot on device i's grid that is still ahead; the ones passed are missed.
    const Steady::duration interval = poller.device(i).poll_interval;
    const auto now = clock_.SteadyNow();
    if (!aligned[i]) {
      // The grid is half an interval after the wall clock's round times (a 100 ms device is
      // polled at .050, .150, ...): the models' time grids step at round times, so every answer
      // lands mid-step and a step can be scored as soon as its poll has answered.
      const int64_t interval_us =
          std::chrono::duration_cast<std::chrono::microseconds>(interval).count();
      const int64_t wall_us = clock_.Now().time_since_epoch().count();
      int64_t ahead = (interval_us / 2 - wall_us % interval_us) % interval_us;
      if (ahead <= 0) ahead += interval_us;
      next[i] = now + std::chrono::microseconds(ahead);
      aligned[i] = true;
    } else {
      next[i] += interval;
    }
    if (next[i] <= now) {
      const auto missed = (now - next[i]) / interval + 1;
      next[i] += missed * interval;
      poller.CountMissedSlots(i, static_cast<uint64_t>(missed));
    }

    if (result == ModbusPoller::PollResult::kConnectionLost) {
      poller.Disconnect();
      if (sleep_until(clock_.SteadyNow() + backoff)) break;
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
  poller.Disconnect();
}

std::vector<ModbusDeviceStats> ModbusSource::stats() const {
  std::vector<std::vector<ModbusDeviceStats>> per_poller;
  for (const auto& poller : pollers_) per_poller.push_back(poller->stats());
  std::vector<ModbusDeviceStats> out;
  for (const auto& [p, d] : order_) out.push_back(std::move(per_poller[p][d]));
  return out;
}

std::string ModbusSource::Stuck(std::chrono::milliseconds limit) const {
  if (!started_ || stop_.requested()) return "";
  for (size_t i = 0; i < pollers_.size(); ++i) {
    if (beats_[i]->Age() > limit) return "the Modbus poll thread for " + pollers_[i]->endpoint();
  }
  return "";
}

std::vector<std::string> ModbusSource::DescribePlans() const {
  std::vector<std::string> lines;
  for (const auto& poller : pollers_) {
    for (std::string& line : poller->DescribePlans()) lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace edge::drivers
