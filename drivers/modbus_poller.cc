#include "drivers/modbus_poller.h"

#include <fmt/format.h>
#include <modbus/modbus.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/logging.h"
#include "drivers/modbus_codec.h"

namespace edge::drivers {
namespace {

using config::ModbusDevice;
using config::ModbusTable;
using config::ModbusTag;
using config::ModbusType;
using std::chrono::duration_cast;
using std::chrono::microseconds;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum class ErrorKind { kException, kTimeout, kBadResponse, kConnection };

ErrorKind Classify(ModbusLink::Result::Kind kind) {
  switch (kind) {
    case ModbusLink::Result::Kind::kException:
      return ErrorKind::kException;
    case ModbusLink::Result::Kind::kTimeout:
      return ErrorKind::kTimeout;
    case ModbusLink::Result::Kind::kMalformed:
      return ErrorKind::kBadResponse;
    default:
      return ErrorKind::kConnection;
  }
}

// The failure of `answer` for the log.
std::string Describe(const ModbusLink::Result& answer) {
  if (answer.kind == ModbusLink::Result::Kind::kException) {
    // libmodbus numbers exception errnos from MODBUS_ENOBASE and names the standard codes.
    return fmt::format("code {} ({})", answer.exception_code,
                       modbus_strerror(MODBUS_ENOBASE + answer.exception_code));
  }
  return answer.fault;
}

bool SameSerial(const config::SerialConfig& a, const config::SerialConfig& b) {
  return a.device == b.device && a.baud == b.baud && a.parity == b.parity &&
         a.data_bits == b.data_bits && a.stop_bits == b.stop_bits;
}

void Bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

// One device on the connection: its plan, its buffers (allocated here, reused every poll) and
// its counters.
struct ModbusPoller::Device {
  ModbusDevice config;
  std::vector<ModbusTag> tags;  // the planned tags: numeric, plus strings with a callback
  ReadPlan plan;
  std::vector<std::vector<uint32_t>> request_tags;  // per request: indices into tags
  std::vector<int32_t> sample_slot;  // per tag: index into samples; -1 for a string tag
  std::vector<std::string> texts;    // per tag: decoded string (capacity reserved)
  std::vector<Sample> samples;       // one per numeric tag, in tag order
  std::vector<uint16_t> registers = std::vector<uint16_t>(kMaxReadRegisters);
  std::vector<uint8_t> bits = std::vector<uint8_t>(kMaxReadBits);
  // Keys for the rate-limited log, built once (a key per device and fault kind).
  std::string key_timeout, key_exception, key_bad, key_connection, key_dropped;

  std::atomic<bool> connected{false};
  std::atomic<uint64_t> polls{0}, requests{0}, timeouts{0}, exceptions{0}, bad_responses{0},
      connection_errors{0}, reconnects{0}, missed_slots{0}, samples_pushed{0}, samples_dropped{0},
      last_latency_us{0};
};

std::string EndpointName(const ModbusDevice& device) {
  if (device.serial) return "rtu:" + device.serial->device;
  const bool v6 = device.host.find(':') != std::string::npos;
  return v6 ? fmt::format("tcp://[{}]:{}", device.host, device.port)
            : fmt::format("tcp://{}:{}", device.host, device.port);
}

ModbusPoller::ModbusPoller(std::string endpoint, const Clock& clock, BoundedQueue<Sample>& queue,
                           StringCallback on_string)
    : endpoint_(std::move(endpoint)),
      clock_(clock),
      queue_(queue),
      on_string_(std::move(on_string)),
      log_(GetLogger("modbus"), 3, std::chrono::minutes(1), clock) {}

ModbusPoller::~ModbusPoller() {
  Disconnect();
}

StatusOr<std::unique_ptr<ModbusPoller>> ModbusPoller::Create(std::vector<ModbusDevice> devices,
                                                             const TagRegistry& registry,
                                                             BoundedQueue<Sample>& queue,
                                                             const Clock& clock,
                                                             StringCallback on_string) {
  EDGE_CHECK(!devices.empty());
  const std::string endpoint = EndpointName(devices.front());
  std::unique_ptr<ModbusPoller> poller(
      new ModbusPoller(endpoint, clock, queue, std::move(on_string)));
  // A copy: the devices are moved into the poller below.
  const ModbusDevice first = devices.front();
  poller->serial_ = first.serial.has_value();
  for (ModbusDevice& config : devices) {
    EDGE_CHECK(EndpointName(config) == endpoint);
    if (config.serial && !SameSerial(*config.serial, *first.serial)) {
      return Status::InvalidArgument(fmt::format(
          "modbus devices '{}' and '{}' share the serial port {} with different settings",
          first.name, config.name, first.serial->device));
    }
    if (config.poll_interval <= config::Duration::zero() ||
        config.timeout <= config::Duration::zero()) {
      return Status::InvalidArgument(fmt::format(
          "modbus device '{}': poll_interval and timeout must be positive", config.name));
    }
    auto d = std::make_unique<Device>();
    for (const ModbusTag& tag : config.tags) {
      if (tag.type == ModbusType::kString) {
        if (!poller->on_string_) {
          GetLogger("modbus")->info(
              "{}: string tag '{}' is not read (strings are not numeric samples and no string "
              "consumer is registered)",
              config.name, tag.name);
          continue;
        }
        d->sample_slot.push_back(-1);
        d->texts.emplace_back().reserve(2u * tag.length);
      } else {
        const std::optional<TagId> id = registry.Find(tag.name);
        if (!id) {
          return Status::NotFound(
              fmt::format("modbus device '{}': tag '{}' is not registered", config.name, tag.name));
        }
        d->sample_slot.push_back(static_cast<int32_t>(d->samples.size()));
        d->samples.push_back(Sample{*id, Timestamp{}, kNaN, Quality::kBad});
        d->texts.emplace_back();
      }
      d->tags.push_back(tag);
    }
    StatusOr<ReadPlan> plan = PlanReads(d->tags, LimitsFor(config));
    if (!plan.ok()) {
      return Status(plan.status().code(),
                    fmt::format("modbus device '{}': {}", config.name, plan.status().message()));
    }
    d->plan = std::move(*plan);
    d->request_tags.resize(d->plan.requests.size());
    for (size_t t = 0; t < d->tags.size(); ++t) {
      d->request_tags[d->plan.placements[t].request].push_back(static_cast<uint32_t>(t));
    }
    d->key_timeout = config.name + "/timeout";
    d->key_exception = config.name + "/exception";
    d->key_bad = config.name + "/bad-response";
    d->key_connection = config.name + "/connection";
    d->key_dropped = config.name + "/queue-full";
    poller->connect_timeout_ = std::max(poller->connect_timeout_, config.timeout);
    poller->longest_block_ =
        std::max({poller->longest_block_, poller->connect_timeout_,
                  config.timeout * static_cast<int64_t>(d->plan.requests.size())});
    d->config = std::move(config);
    poller->devices_.push_back(std::move(d));
  }

  StatusOr<std::unique_ptr<ModbusLink>> link = ModbusLink::Create(first);
  if (!link.ok()) return link.status();
  poller->link_ = std::move(*link);
  return poller;
}

Status ModbusPoller::Connect() {
  Disconnect();
  if (Status s = link_->Connect(connect_timeout_); !s.ok()) {
    for (auto& d : devices_) Bump(d->connection_errors);
    return Status::Unavailable(fmt::format("modbus {}: cannot connect: {}", endpoint_, s.message()));
  }
  connected_ = true;
  silent_requests_ = 0;
  for (auto& d : devices_) d->connected.store(true, std::memory_order_relaxed);
  return Status::Ok();
}

void ModbusPoller::Disconnect() {
  if (!connected_) return;
  link_->Close();
  connected_ = false;
  for (auto& d : devices_) d->connected.store(false, std::memory_order_relaxed);
}

void ModbusPoller::Interrupt() { link_->Interrupt(); }

const ModbusDevice& ModbusPoller::device(size_t index) const {
  EDGE_CHECK(index < devices_.size());
  return devices_[index]->config;
}

void ModbusPoller::MarkRequestBad(Device& d, size_t request, Timestamp ts) {
  for (const uint32_t t : d.request_tags[request]) {
    const int32_t slot = d.sample_slot[t];
    if (slot >= 0) {
      Sample& s = d.samples[static_cast<size_t>(slot)];
      s.ts = ts;
      s.value = kNaN;
      s.quality = Quality::kBad;
    } else {
      on_string_(StringReading{d.config.name, d.tags[t].name, ts, {}, Quality::kBad});
    }
  }
}

void ModbusPoller::MarkRequestsBad(Device& d, size_t first_request, Timestamp ts) {
  for (size_t r = first_request; r < d.plan.requests.size(); ++r) MarkRequestBad(d, r, ts);
}

void ModbusPoller::Decode(Device& d, size_t request, Timestamp ts) {
  // The answer is exactly the request's count long: a tag never reads a previous answer's data.
  const uint16_t count = d.plan.requests[request].count;
  const bool bit_table = IsBitTable(d.plan.requests[request].table);
  const auto registers =
      bit_table ? std::span<const uint16_t>() : std::span<const uint16_t>(d.registers).first(count);
  const auto bits =
      bit_table ? std::span<const uint8_t>(d.bits).first(count) : std::span<const uint8_t>();
  for (const uint32_t t : d.request_tags[request]) {
    const ModbusTag& tag = d.tags[t];
    const uint16_t offset = d.plan.placements[t].offset;
    const int32_t slot = d.sample_slot[t];
    if (slot < 0) {
      std::string& text = d.texts[t];
      DecodeStringInAnswer(tag, offset, registers, text);
      on_string_(StringReading{d.config.name, tag.name, ts, text, Quality::kGood});
      continue;
    }
    const Reading reading = DecodeTagInAnswer(tag, offset, registers, bits);
    Sample& s = d.samples[static_cast<size_t>(slot)];
    s.ts = ts;
    s.value = reading.value;
    s.quality = reading.quality;
  }
}

void ModbusPoller::CountOtherTransactions(Device& d, const ReadRequest& req, uint32_t n) {
  Bump(d.bad_responses, n);
  log_.Warn(d.key_bad, "modbus device '{}': {} {}+{}: {} answer(s) for another transaction id "
            "discarded", d.config.name, config::ModbusTableName(req.table), req.start, req.count,
            n);
}

void ModbusPoller::Push(Device& d) {
  if (d.samples.empty()) return;
  const size_t accepted = queue_.PushBatch(d.samples);
  Bump(d.samples_pushed, accepted);
  if (accepted < d.samples.size()) {
    Bump(d.samples_dropped, d.samples.size() - accepted);
    log_.Warn(d.key_dropped, "modbus device '{}': ingest queue full, {} samples dropped",
              d.config.name, d.samples.size() - accepted);
  }
}

ModbusPoller::PollResult ModbusPoller::Poll(size_t index) {
  EDGE_CHECK(index < devices_.size() && connected_);
  Device& d = *devices_[index];
  Bump(d.polls);
  PollResult result = PollResult::kOk;
  last_poll_answered_ = false;
  for (size_t r = 0; r < d.plan.requests.size(); ++r) {
    const ReadRequest& req = d.plan.requests[r];
    const auto sent = clock_.SteadyNow();
    Bump(d.requests);
    const ModbusLink::Result answer = link_->Read(d.config.unit_id, req.table, req.start,
                                                  req.count, d.config.timeout, d.registers, d.bits);
    const Timestamp ts = clock_.Now();  // when the response (or the failure) arrived
    if (answer.other_transactions > 0) CountOtherTransactions(d, req, answer.other_transactions);
    if (answer.kind == ModbusLink::Result::Kind::kData) {
      silent_requests_ = 0;
      last_poll_answered_ = true;
      d.last_latency_us.store(
          static_cast<uint64_t>(duration_cast<microseconds>(clock_.SteadyNow() - sent).count()),
          std::memory_order_relaxed);
      Decode(d, r, ts);
      continue;
    }
    if (answer.kind == ModbusLink::Result::Kind::kInterrupted) {
      // Stopping: not a fault of the device, and not counted.
      MarkRequestsBad(d, r, ts);
      Push(d);
      return PollResult::kConnectionLost;
    }
    const ErrorKind kind = Classify(answer.kind);
    const std::string what = Describe(answer);
    result = PollResult::kDeviceFailed;
    switch (kind) {
      case ErrorKind::kException:
        silent_requests_ = 0;  // the device answered
        last_poll_answered_ = true;
        Bump(d.exceptions);
        log_.Warn(d.key_exception, "modbus device '{}': {} {}+{}: exception: {}", d.config.name,
                  config::ModbusTableName(req.table), req.start, req.count, what);
        MarkRequestBad(d, r, ts);
        continue;
      case ErrorKind::kBadResponse:
        ++silent_requests_;
        Bump(d.bad_responses);
        log_.Warn(d.key_bad, "modbus device '{}': {} {}+{}: bad response: {}", d.config.name,
                  config::ModbusTableName(req.table), req.start, req.count, what);
        link_->Drain();
        MarkRequestBad(d, r, ts);
        break;
      case ErrorKind::kTimeout:
        ++silent_requests_;
        Bump(d.timeouts);
        log_.Warn(d.key_timeout, "modbus device '{}': {} {}+{}: no answer within {} ms",
                  d.config.name, config::ModbusTableName(req.table), req.start, req.count,
                  d.config.timeout.count());
        link_->Drain();
        // The rest of this device's requests would time out too: skipped this cycle, below.
        MarkRequestsBad(d, r, ts);
        break;
      case ErrorKind::kConnection:
        Bump(d.connection_errors);
        log_.Warn(d.key_connection, "modbus device '{}': connection {} lost: {}", d.config.name,
                  endpoint_, what);
        MarkRequestsBad(d, r, ts);
        Push(d);
        return PollResult::kConnectionLost;
    }
    if (!serial_ && silent_requests_ >= kMaxSilentRequests) {
      log_.Warn(d.key_connection,
                "modbus device '{}': {} requests in a row without a valid answer; reconnecting "
                "to {}",
                d.config.name, silent_requests_, endpoint_);
      MarkRequestsBad(d, r + 1, ts);
      Push(d);
      return PollResult::kConnectionLost;
    }
    if (kind == ErrorKind::kTimeout) break;
  }
  Push(d);
  return result;
}

void ModbusPoller::MarkAllBad() {
  const Timestamp ts = clock_.Now();
  for (auto& d : devices_) {
    MarkRequestsBad(*d, 0, ts);
    Push(*d);
  }
}

void ModbusPoller::CountMissedSlots(size_t index, uint64_t n) {
  EDGE_CHECK(index < devices_.size());
  Bump(devices_[index]->missed_slots, n);
}

void ModbusPoller::CountReconnect() {
  for (auto& d : devices_) Bump(d->reconnects);
}

std::vector<std::string> ModbusPoller::DescribePlans() const {
  std::vector<std::string> lines;
  for (const auto& d : devices_) {
    lines.push_back(fmt::format("{} via {} unit {} every {} ms: {}", d->config.name, endpoint_,
                                d->config.unit_id, d->config.poll_interval.count(),
                                DescribePlan(d->config.name, d->plan, d->tags)));
  }
  return lines;
}

std::vector<ModbusDeviceStats> ModbusPoller::stats() const {
  std::vector<ModbusDeviceStats> out;
  for (const auto& d : devices_) {
    const auto get = [](const std::atomic<uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    ModbusDeviceStats s;
    s.device = d->config.name;
    s.endpoint = endpoint_;
    s.connected = d->connected.load(std::memory_order_relaxed);
    s.polls = get(d->polls);
    s.requests = get(d->requests);
    s.timeouts = get(d->timeouts);
    s.exceptions = get(d->exceptions);
    s.bad_responses = get(d->bad_responses);
    s.connection_errors = get(d->connection_errors);
    s.reconnects = get(d->reconnects);
    s.missed_slots = get(d->missed_slots);
    s.samples = get(d->samples_pushed);
    s.samples_dropped = get(d->samples_dropped);
    s.last_latency = microseconds(get(d->last_latency_us));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace edge::drivers
