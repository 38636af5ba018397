// ModbusSource: polls every configured Modbus device (DESIGN §3) and feeds the ingest queue.
//
// Devices are grouped by connection: one ModbusPoller (drivers/modbus_poller.h) and one thread
// per TCP endpoint (host:port; several unit ids behind one gateway share it) and per serial bus
// (devices whose serial `device` is the same path share one port, each with its unit id). A dead
// PLC therefore only ever delays the devices that share its wire.
//
// Cadence: each device is polled once at (re)connect, then on its own grid of absolute deadlines
// start + k * interval (no drift from the time a poll takes), where start is half an interval
// after a round time of the wall clock (a 100 ms device answers at about .050, .150, ...): the
// models' time grids step at round times, so each answer lands mid-step and the step is scored
// as soon as its poll has answered (inference/window_assembler.h). A poll that overruns makes the thread skip the slots
// that have already passed (counted as missed_slots) rather than fire a burst of late polls.
// On one connection, the device with the earliest deadline is polled next.
//
// Connection loss (refused connect, reset, EOF, or a stale TCP connection, see ModbusPoller):
// every numeric tag on the connection gets a NaN / kBad sample at once and again after each
// failed reconnect attempt; reconnect attempts back off exponentially from
// Options::backoff_initial (100 ms), doubling up to Options::backoff_max (30 s). The back-off
// returns to its initial value once a device answers again, not merely on connect: a PLC that
// accepts connections but never answers does not get hammered. After a reconnect the schedule
// restarts at once (the slots lost while down are not counted as missed).
//
// Samples carry TagIds from the TagRegistry given at construction, which must already hold every
// numeric tag's name: the ids are looked up once, in Create; the poll threads never consult it.
//
// Watchdog: each thread beats a Heartbeat before every connect, poll and sleep, announcing how long
// it may block (the longest request bound, or the sleep); Stuck() names a thread that has
// overrun that by more than the limit (a request that never returns, a thread that died).
//
// Thread-safety: Start and Stop are called from one controlling thread. stats(), Stuck() and
// DescribePlans() are safe from any thread at any time.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/heartbeat.h"
#include "core/sample.h"
#include "core/status.h"
#include "core/stop_signal.h"
#include "core/tag_registry.h"
#include "drivers/modbus_poller.h"

namespace edge::drivers {

class ModbusSource {
 public:
  struct Options {
    const Clock* clock = nullptr;  // null: the system clock
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{std::chrono::seconds(30)};
    // Receives string tags' values on the polling threads; null: string tags are not read.
    StringCallback on_string;
  };

  // Validates and plans every device (errors name the device and tag) and creates the Modbus
  // contexts; opens no connection. `registry` and `queue` must outlive the source.
  [[nodiscard]] static StatusOr<std::unique_ptr<ModbusSource>> Create(
      const std::vector<config::ModbusDevice>& devices, const TagRegistry& registry,
      BoundedQueue<Sample>& queue, Options options);
  [[nodiscard]] static StatusOr<std::unique_ptr<ModbusSource>> Create(
      const std::vector<config::ModbusDevice>& devices, const TagRegistry& registry,
      BoundedQueue<Sample>& queue) {
    return Create(devices, registry, queue, Options());
  }

  ModbusSource(const ModbusSource&) = delete;
  ModbusSource& operator=(const ModbusSource&) = delete;
  ~ModbusSource();  // Stop()

  // Logs each device's read plan and starts one thread per connection. Connecting happens on
  // those threads (a PLC that is away does not fail Start). FailedPrecondition if started twice.
  [[nodiscard]] Status Start();

  // Wakes every thread at once, sleeping or in the middle of a connect or a request (whatever
  // the peer does), and joins them all. Idempotent.
  void Stop();

  // One entry per device, in configuration order.
  std::vector<ModbusDeviceStats> stats() const;
  std::vector<std::string> DescribePlans() const;

  // "the Modbus poll thread for <endpoint>" of the first thread more than `limit` past the end
  // of what it announced it would block for; "" if none (or not started).
  std::string Stuck(std::chrono::milliseconds limit) const;

 private:
  ModbusSource(const Clock& clock, Options options);
  void Run(ModbusPoller& poller, Heartbeat& beat);

  const Clock& clock_;
  const Options options_;
  std::vector<std::unique_ptr<ModbusPoller>> pollers_;
  std::vector<std::unique_ptr<Heartbeat>> beats_;  // per poller, beaten by its thread
  // Per device in configuration order: (poller index, device index within it).
  std::vector<std::pair<size_t, size_t>> order_;
  StopSignal stop_;
  std::vector<std::thread> threads_;
  bool started_ = false;
};

}  // namespace edge::drivers
