// ModbusPoller: one Modbus connection (a TCP endpoint host:port, or a serial bus) and the
// devices polled through it (several unit ids behind one TCP gateway, or on one RS-485 bus).
// It reads a device's planned requests (drivers/request_planner.h), decodes the tags
// (drivers/modbus_codec.h) and pushes one Sample per numeric tag into the ingest queue in one
// PushBatch. It has no thread and no schedule of its own: ModbusSource drives one poller per
// thread; benchmarks and tests can drive one directly.
//
// What a poll yields, per numeric tag, stamped with the wall-clock time its response arrived:
//   - the decoded value, Quality::kGood (kBad with NaN for NaN / Inf floats, see the codec);
//   - NaN with Quality::kBad (never 0) when its request got an exception response, no whole
//     answer within the device's `timeout` (which bounds the whole answer, not its first byte),
//     a malformed answer (MBAP protocol id not 0, length field disagreeing with the body, unit id
//     or function code not the request's, wrong byte count, CRC: drivers/modbus_frame.h), or
//     the connection broke. Answers for another transaction id are discarded (and counted as
//     bad responses) while the request waits for its own.
// The requests go through a ModbusLink (drivers/modbus_link.h), our own framing over the socket
// or serial port, not libmodbus's read functions, which bound neither the answer's time nor its
// header.
// After a timeout the remaining requests of that device are not sent in that cycle (they would
// time out too, and hold up the other devices on the connection); their tags are kBad.
//
// String tags are not samples (a Sample carries a double): they are read only when a
// StringCallback is given, which receives the decoded text on the polling thread; without one
// they are left out of the read plan (logged once at start).
//
// Error kinds and what they do to the connection:
//   exception response   counted; the device answered, the connection is fine
//   timeout, malformed   counted; ModbusLink::Drain() drops any late bytes; on a TCP connection
//                        kMaxSilentRequests such failures in a row with no valid answer in
//                        between mean the connection is stale: Poll() reports kConnectionLost
//                        (a serial bus is never dropped for this: a silent unit is not a
//                        broken bus)
//   any other errno      (ECONNRESET, EPIPE, EIO, ...) counted; kConnectionLost
//
// Thread-safety: Connect, Disconnect, Poll and MarkAllBad are called by one thread at a time
// (the owner). stats() and Interrupt() may be called from any thread: counters are atomics,
// names immutable, and the link's interrupt is an eventfd.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/rate_limited_log.h"
#include "core/sample.h"
#include "core/status.h"
#include "core/tag_registry.h"
#include "drivers/modbus_link.h"
#include "drivers/request_planner.h"

namespace edge::drivers {

// A string tag's value, handed to a StringCallback. The views are valid during the call only.
struct StringReading {
  std::string_view device;
  std::string_view tag;
  Timestamp ts;
  std::string_view value;  // empty when quality is kBad
  Quality quality;
};
using StringCallback = std::function<void(const StringReading&)>;

// A snapshot of one device's counters, for /metrics. Counters only grow.
struct ModbusDeviceStats {
  std::string device;
  std::string endpoint;    // "tcp://host:port" or "rtu:/dev/ttyUSB0"
  bool connected = false;  // the endpoint's connection is open
  uint64_t polls = 0;      // poll cycles run
  uint64_t requests = 0;   // read requests sent
  uint64_t timeouts = 0;
  uint64_t exceptions = 0;         // exception responses
  uint64_t bad_responses = 0;      // malformed answers (libmodbus EMB* errors)
  uint64_t connection_errors = 0;  // connections that broke, and connects that failed
  uint64_t reconnects = 0;         // connections re-established after a loss
  uint64_t missed_slots = 0;       // poll slots skipped because a poll overran its period
  uint64_t samples = 0;            // samples accepted by the queue
  uint64_t samples_dropped = 0;    // samples the full queue refused
  std::chrono::microseconds last_latency{0};  // round trip of the last answered request
};

// The endpoint a device is polled through: "tcp://host:port" or "rtu:<serial device>".
std::string EndpointName(const config::ModbusDevice& device);

class ModbusPoller {
 public:
  // Failed requests in a row, with no valid answer, after which a TCP connection is dropped.
  static constexpr int kMaxSilentRequests = 3;

  enum class PollResult {
    kOk,              // every request answered with data
    kDeviceFailed,    // some tags are kBad; the connection is kept
    kConnectionLost,  // the connection is unusable: Disconnect() and reconnect later
  };

  // REQUIRES: `devices` non-empty, all with the same EndpointName. InvalidArgument if the devices
  // of one serial bus disagree on its settings, a tag does not fit a request, or (NotFound) a
  // numeric tag is not in `registry`. `registry`, `queue` and `clock` must outlive the poller;
  // the registry is only read.
  [[nodiscard]] static StatusOr<std::unique_ptr<ModbusPoller>> Create(
      std::vector<config::ModbusDevice> devices, const TagRegistry& registry,
      BoundedQueue<Sample>& queue, const Clock& clock, StringCallback on_string = nullptr);

  ModbusPoller(const ModbusPoller&) = delete;
  ModbusPoller& operator=(const ModbusPoller&) = delete;
  ~ModbusPoller();

  // Opens the connection (TCP connect, or opens and configures the serial port), waiting at
  // most the largest timeout of the devices. Unavailable on failure (counted per device) or
  // after Interrupt().
  [[nodiscard]] Status Connect();
  void Disconnect();
  bool connected() const { return connected_; }

  // From any thread: ends the Connect or Poll in progress at once, and makes every later one
  // return at once (the source is stopping; not undone).
  void Interrupt();

  // One poll cycle of device `index`: all its requests, one PushBatch. Each request takes at
  // most the device's timeout. After Interrupt() it returns kConnectionLost at once (the tags
  // not read are kBad; nothing is counted).
  // REQUIRES: connected().
  PollResult Poll(size_t index);

  // Pushes NaN / kBad for every numeric tag of every device (the connection is down), and kBad
  // readings to the string callback.
  void MarkAllBad();

  // True if the device got at least one valid answer (data or exception) in the last Poll().
  bool last_poll_answered() const { return last_poll_answered_; }

  // Counts `n` skipped poll slots for device `index` (the scheduler's doing, reported here).
  void CountMissedSlots(size_t index, uint64_t n);
  void CountReconnect();

  size_t device_count() const { return devices_.size(); }
  const config::ModbusDevice& device(size_t index) const;
  const std::string& endpoint() const { return endpoint_; }
  // The longest one Connect() or Poll() can block: the largest timeout of a device times its
  // number of requests.
  std::chrono::milliseconds longest_block() const { return longest_block_; }
  // The start-up description of each device's read plan (DescribePlan), one line per device.
  std::vector<std::string> DescribePlans() const;

  std::vector<ModbusDeviceStats> stats() const;

 private:
  struct Device;

  ModbusPoller(std::string endpoint, const Clock& clock, BoundedQueue<Sample>& queue,
               StringCallback on_string);

  // Marks the tags of requests [first, plan end) of `d` kBad at `ts`.
  void MarkRequestsBad(Device& d, size_t first_request, Timestamp ts);
  void MarkRequestBad(Device& d, size_t request, Timestamp ts);
  void Decode(Device& d, size_t request, Timestamp ts);
  void Push(Device& d);
  // Answers for another transaction id that a request skipped (late answers, or a hostile peer):
  // counted as bad responses.
  void CountOtherTransactions(Device& d, const ReadRequest& req, uint32_t n);

  const std::string endpoint_;
  const Clock& clock_;
  BoundedQueue<Sample>& queue_;
  const StringCallback on_string_;
  std::vector<std::unique_ptr<Device>> devices_;
  std::unique_ptr<ModbusLink> link_;
  bool serial_ = false;
  bool connected_ = false;   // the owner thread's view; Device::connected mirrors it for stats()
  int silent_requests_ = 0;  // failed requests in a row without a valid answer
  bool last_poll_answered_ = false;
  std::chrono::milliseconds connect_timeout_{0};
  std::chrono::milliseconds longest_block_{0};
  RateLimitedLog log_;
};

}  // namespace edge::drivers
