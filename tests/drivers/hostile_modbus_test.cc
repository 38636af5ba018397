// The Modbus driver against hostile peers (issue #23 items 1 and 13): a raw-socket server
// (tests/support/hostile_modbus_server.h) that drips, floods, lies in its MBAP header, answers
// for another unit or transaction, or never accepts. What must hold whatever the peer does:
//   - a request ends within the device's `timeout` (plus scheduling slack), not per byte;
//   - the reading is NaN / kBad, never a good value, and the fault is counted;
//   - stopping the source returns within about a second, even in the middle of a request or a
//     connect.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <thread>

#include "drivers/modbus_frame.h"
#include "drivers/modbus_poller.h"
#include "drivers/modbus_source.h"
#include "tests/support/hostile_modbus_server.h"

namespace edge::drivers {
namespace {

using config::ModbusDevice;
using config::ModbusTable;
using config::ModbusTag;
using config::ModbusType;
using edge::testing::HostileModbusServer;
using edge::testing::ModbusRequest;
using edge::testing::RegisterAnswer;
using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;
using PollResult = ModbusPoller::PollResult;

constexpr milliseconds kTimeout{300};
// What a request may take beyond its timeout: scheduling on a loaded 2-core machine under
// sanitizers, not protocol time.
constexpr milliseconds kSlack{250};
constexpr uint8_t kUnit = 7;
constexpr uint16_t kValue = 0x1234;

ModbusDevice Device(uint16_t port, milliseconds timeout = kTimeout) {
  ModbusDevice d;
  d.name = "hostile";
  d.host = "127.0.0.1";
  d.port = port;
  d.unit_id = kUnit;
  d.poll_interval = milliseconds(50);
  d.timeout = timeout;
  ModbusTag tag;
  tag.name = "v";
  tag.table = ModbusTable::kHoldingRegister;
  tag.address = 0;
  tag.type = ModbusType::kUInt16;
  d.tags = {tag};
  return d;
}

// An answer to `req` edited by `edit`, written at once.
HostileModbusServer::Handler Answer(std::function<void(std::vector<uint8_t>&)> edit) {
  return [edit](HostileModbusServer& s, int fd, const ModbusRequest& req) {
    std::vector<uint8_t> answer = RegisterAnswer(req, kValue);
    edit(answer);
    s.Write(fd, answer);
  };
}

class HostileModbusTest : public ::testing::Test {
 protected:
  void SetUp() override { registry_.Intern("v"); }

  std::unique_ptr<ModbusPoller> Connected(uint16_t port, milliseconds timeout = kTimeout) {
    auto poller = ModbusPoller::Create({Device(port, timeout)}, registry_, queue_,
                                       SystemClockInstance());
    EXPECT_TRUE(poller.ok()) << poller.status().ToString();
    if (!poller.ok()) return nullptr;
    const Status s = (*poller)->Connect();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::move(*poller);
  }

  struct Outcome {
    PollResult result;
    milliseconds took;
    Sample sample;  // the reading of tag "v"
  };
  Outcome PollOnce(ModbusPoller& poller) {
    const auto start = Steady::now();
    const PollResult result = poller.Poll(0);
    const auto took = std::chrono::duration_cast<milliseconds>(Steady::now() - start);
    std::vector<Sample> samples;
    queue_.PopBatch(samples, 16, milliseconds(0));
    EXPECT_EQ(samples.size(), 1u);
    return {result, took, samples.empty() ? Sample{} : samples.back()};
  }

  // One poll against a fresh peer that answers with `handler`, and the device's counters.
  std::pair<Outcome, ModbusDeviceStats> PollAgainst(const HostileModbusServer::Handler& handler) {
    HostileModbusServer server(handler);
    auto poller = Connected(server.port());
    if (poller == nullptr) return {Outcome{PollResult::kConnectionLost, {}, {}}, {}};
    const Outcome o = PollOnce(*poller);
    return {o, poller->stats().at(0)};
  }

  // One poll against a peer that answers with `handler`; expects the good reading kValue.
  void ExpectGood(const HostileModbusServer::Handler& handler) {
    const auto [o, stats] = PollAgainst(handler);
    EXPECT_EQ(o.result, PollResult::kOk);
    EXPECT_EQ(o.sample.quality, Quality::kGood);
    EXPECT_EQ(o.sample.value, kValue);
  }

  // One poll against a peer that answers with `handler`; expects a bad reading, counted as a
  // bad response, at once (the answer is refused as soon as it is read, not after the timeout).
  void ExpectRefused(const HostileModbusServer::Handler& handler) {
    const auto [o, stats] = PollAgainst(handler);
    EXPECT_EQ(o.result, PollResult::kDeviceFailed);
    EXPECT_EQ(o.sample.quality, Quality::kBad);
    EXPECT_TRUE(std::isnan(o.sample.value)) << o.sample.value;
    EXPECT_LT(o.took, kTimeout) << "refused only at the timeout";
    EXPECT_EQ(stats.bad_responses, 1u);
    EXPECT_EQ(stats.timeouts, 0u);
  }

  TagRegistry registry_;
  BoundedQueue<Sample> queue_{1024};
};

TEST_F(HostileModbusTest, AWellFormedAnswerIsGood) {
  ExpectGood(Answer([](std::vector<uint8_t>&) {}));
}

// Item 1: libmodbus restarts its byte timeout on every byte; this drip (the attack run's frame,
// one byte every 40 ms) held a request for 10 s. Now `timeout` bounds the whole answer.
TEST_F(HostileModbusTest, DrippedAnswerEndsAtTheTimeout) {
  HostileModbusServer server([](HostileModbusServer& s, int fd, const ModbusRequest& req) {
    std::vector<uint8_t> frame = {static_cast<uint8_t>(req.tid >> 8),
                                  static_cast<uint8_t>(req.tid & 0xFF), 0x00, 0x00, 0x00, 0xFD,
                                  req.unit, 0x03, 0xFA};
    frame.resize(frame.size() + 250, 0x42);
    s.Drip(fd, frame, milliseconds(40));
  });
  auto poller = Connected(server.port());
  ASSERT_NE(poller, nullptr);
  const Outcome o = PollOnce(*poller);
  std::printf("dripped answer: the request ended after %lld ms (timeout %lld ms)\n",
              static_cast<long long>(o.took.count()), static_cast<long long>(kTimeout.count()));
  EXPECT_GE(o.took, kTimeout - milliseconds(5));
  EXPECT_LT(o.took, kTimeout + kSlack);
  EXPECT_EQ(o.sample.quality, Quality::kBad);
  EXPECT_TRUE(std::isnan(o.sample.value));
  EXPECT_EQ(poller->stats().at(0).timeouts, 1u);
}

// A peer that accepts and never answers: the plain timeout.
TEST_F(HostileModbusTest, SilentPeerEndsAtTheTimeout) {
  HostileModbusServer server(
      [](HostileModbusServer& s, int, const ModbusRequest&) { s.Pause(milliseconds(60'000)); });
  auto poller = Connected(server.port());
  ASSERT_NE(poller, nullptr);
  const Outcome o = PollOnce(*poller);
  EXPECT_LT(o.took, kTimeout + kSlack);
  EXPECT_EQ(o.sample.quality, Quality::kBad);
  EXPECT_EQ(poller->stats().at(0).timeouts, 1u);
}

// An endless stream of well-formed answers for another transaction: each is discarded while the
// request waits for its own, so the request ends at its timeout; and draining the stream after
// it (libmodbus's modbus_flush looped for as long as the stream ran) takes no longer.
TEST_F(HostileModbusTest, EndlessStreamOfOtherTransactionsEndsAtTheTimeout) {
  HostileModbusServer server([](HostileModbusServer& s, int fd, const ModbusRequest& req) {
    ModbusRequest other = req;
    other.tid = static_cast<uint16_t>(req.tid + 1000);
    const std::vector<uint8_t> answer = RegisterAnswer(other, 99);
    while (s.Write(fd, answer)) {
    }
  });
  auto poller = Connected(server.port());
  ASSERT_NE(poller, nullptr);
  for (int i = 0; i < 2; ++i) {
    const Outcome o = PollOnce(*poller);
    EXPECT_LT(o.took, kTimeout + kSlack) << "poll " << i;
    EXPECT_EQ(o.sample.quality, Quality::kBad);
    if (o.result == PollResult::kConnectionLost) break;
  }
  EXPECT_GE(poller->stats().at(0).bad_responses, 1u);
  EXPECT_GE(poller->stats().at(0).timeouts, 1u);
}

// An endless stream of garbage: refused at its first header, the connection dropped after
// kMaxSilentRequests such answers, every poll bounded.
TEST_F(HostileModbusTest, EndlessGarbageIsRefusedAndTheConnectionDropped) {
  HostileModbusServer server([](HostileModbusServer& s, int fd, const ModbusRequest&) {
    const std::vector<uint8_t> junk(4096, 0xFF);
    while (s.Write(fd, junk)) {
    }
  });
  auto poller = Connected(server.port());
  ASSERT_NE(poller, nullptr);
  PollResult last = PollResult::kOk;
  for (int i = 0; i < ModbusPoller::kMaxSilentRequests; ++i) {
    const Outcome o = PollOnce(*poller);
    EXPECT_LT(o.took, kTimeout) << "poll " << i;
    EXPECT_EQ(o.sample.quality, Quality::kBad);
    last = o.result;
  }
  EXPECT_EQ(last, PollResult::kConnectionLost);
  EXPECT_EQ(poller->stats().at(0).bad_responses,
            static_cast<uint64_t>(ModbusPoller::kMaxSilentRequests));
}

// Item 13: what libmodbus 3.1.6 stored as good.
TEST_F(HostileModbusTest, LengthFieldLongerThanTheBodyIsRefused) {
  ExpectRefused(Answer([](std::vector<uint8_t>& a) {
    ++a[5];           // the length field counts one byte more than the body holds ...
    a.push_back(0);   // ... which the peer sends, so the frame is complete but inconsistent
  }));
}

TEST_F(HostileModbusTest, LengthFieldShorterThanTheBodyIsRefused) {
  ExpectRefused(Answer([](std::vector<uint8_t>& a) { --a[5]; }));
}

TEST_F(HostileModbusTest, LengthFieldBeyondTheProtocolIsRefused) {
  ExpectRefused(Answer([](std::vector<uint8_t>& a) {
    a[4] = 0xFF;
    a[5] = 0xFF;
  }));
}

TEST_F(HostileModbusTest, ProtocolIdOtherThanZeroIsRefused) {
  ExpectRefused(Answer([](std::vector<uint8_t>& a) { a[3] = 1; }));
}

TEST_F(HostileModbusTest, AnswerFromAnotherUnitIsRefused) {
  ExpectRefused(Answer([](std::vector<uint8_t>& a) { a[6] = kUnit + 1; }));
}

TEST_F(HostileModbusTest, AnswerForAnotherFunctionIsRefused) {
  ExpectRefused(Answer([](std::vector<uint8_t>& a) { a[7] = 0x04; }));
}

TEST_F(HostileModbusTest, ByteCountOtherThanAskedIsRefused) {
  // Two registers where one was asked for, every length consistent with that.
  ExpectRefused([](HostileModbusServer& s, int fd, const ModbusRequest& req) {
    ModbusRequest more = req;
    more.count = static_cast<uint16_t>(req.count + 1);
    s.Write(fd, RegisterAnswer(more, kValue));
  });
}

// Only answers for another transaction id: none is taken for ours; the request times out.
TEST_F(HostileModbusTest, AnswerForAnotherTransactionIsNotTaken) {
  HostileModbusServer server(Answer([](std::vector<uint8_t>& a) { a[1] ^= 0x55; }));
  auto poller = Connected(server.port());
  ASSERT_NE(poller, nullptr);
  const Outcome o = PollOnce(*poller);
  EXPECT_EQ(o.sample.quality, Quality::kBad);
  EXPECT_TRUE(std::isnan(o.sample.value));
  EXPECT_LT(o.took, kTimeout + kSlack);
  EXPECT_EQ(poller->stats().at(0).bad_responses, 1u);
  EXPECT_EQ(poller->stats().at(0).timeouts, 1u);
}

// A late answer to an earlier request, then ours: the late one is skipped, ours is good.
TEST_F(HostileModbusTest, LateAnswerOfAnEarlierRequestIsSkipped) {
  ExpectGood([](HostileModbusServer& s, int fd, const ModbusRequest& req) {
    ModbusRequest earlier = req;
    earlier.tid = static_cast<uint16_t>(req.tid - 1);
    s.Write(fd, RegisterAnswer(earlier, 1));
    s.Write(fd, RegisterAnswer(req, kValue));
  });
}

// A listening socket whose backlog is full never completes a connect: bounded by the timeout.
TEST_F(HostileModbusTest, ConnectToAFullBacklogEndsAtTheTimeout) {
  HostileModbusServer server(nullptr, HostileModbusServer::Accept::kNeverWithFullBacklog);
  auto poller =
      ModbusPoller::Create({Device(server.port())}, registry_, queue_, SystemClockInstance());
  ASSERT_TRUE(poller.ok()) << poller.status().ToString();
  const auto start = Steady::now();
  const Status s = (*poller)->Connect();
  const auto took = Steady::now() - start;
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_LT(took, kTimeout + kSlack);
  EXPECT_EQ((*poller)->stats().at(0).connection_errors, 1u);
}

// Stop during a dripped answer, and during a connect that never completes, with a 10 s timeout:
// Stop interrupts them instead of waiting (the attack run's SIGTERM waited for the peer).
void ExpectStopIsPrompt(HostileModbusServer& server, TagRegistry& registry,
                        BoundedQueue<Sample>& queue, const std::function<bool()>& busy) {
  auto source = ModbusSource::Create({Device(server.port(), milliseconds(10'000))}, registry,
                                     queue);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_TRUE((*source)->Start().ok());
  const auto deadline = Steady::now() + milliseconds(5000);
  while (!busy() && Steady::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_TRUE(busy());
  std::this_thread::sleep_for(milliseconds(200));  // well inside the request / connect
  const auto start = Steady::now();
  (*source)->Stop();
  const auto took = std::chrono::duration_cast<milliseconds>(Steady::now() - start);
  std::printf("Stop returned after %lld ms\n", static_cast<long long>(took.count()));
  EXPECT_LT(took, milliseconds(1000));
}

TEST_F(HostileModbusTest, StopInterruptsADrippedAnswer) {
  HostileModbusServer server([](HostileModbusServer& s, int fd, const ModbusRequest& req) {
    std::vector<uint8_t> frame = RegisterAnswer(req, kValue);
    s.Drip(fd, frame, milliseconds(400));
  });
  ExpectStopIsPrompt(server, registry_, queue_, [&] { return server.requests() > 0; });
}

TEST_F(HostileModbusTest, StopInterruptsAConnectThatNeverCompletes) {
  HostileModbusServer server(nullptr, HostileModbusServer::Accept::kNeverWithFullBacklog);
  const auto started = Steady::now();
  ExpectStopIsPrompt(server, registry_, queue_,
                     [&] { return Steady::now() - started > milliseconds(100); });
}

// The RTU side of the framing: CRC and unit id are checked; the CRC of the spec's example.
TEST(ModbusFrame, RtuRequestCarriesTheCrcAndAnswersAreChecked) {
  std::array<uint8_t, kMaxAduBytes> out{};
  const size_t n = BuildReadRequest(Framing::kRtu, 0, 1, ModbusTable::kHoldingRegister, 0, 10,
                                    std::span(out));
  ASSERT_EQ(n, 8u);
  EXPECT_EQ(out[6], 0xC5);  // 01 03 00 00 00 0A C5 CD
  EXPECT_EQ(out[7], 0xCD);

  std::vector<uint8_t> answer = {1, 0x03, 2, 0x12, 0x34};
  const uint16_t crc = ModbusCrc16(answer);
  answer.push_back(static_cast<uint8_t>(crc & 0xFF));
  answer.push_back(static_cast<uint8_t>(crc >> 8));
  const ExpectedAnswer expected{0, 1, ModbusTable::kHoldingRegister, 1};
  std::array<uint16_t, 1> regs{};
  const char* fault = "";
  ASSERT_EQ(AnswerLength(Framing::kRtu, answer, &fault), answer.size());
  EXPECT_EQ(CheckAnswer(Framing::kRtu, expected, answer, regs, {}).kind,
            AnswerVerdict::Kind::kData);
  EXPECT_EQ(regs[0], 0x1234);

  std::vector<uint8_t> bad_crc = answer;
  bad_crc.back() ^= 1;
  EXPECT_STREQ(CheckAnswer(Framing::kRtu, expected, bad_crc, regs, {}).fault, "CRC mismatch");
  const ExpectedAnswer other_unit{0, 2, ModbusTable::kHoldingRegister, 1};
  EXPECT_STREQ(CheckAnswer(Framing::kRtu, other_unit, answer, regs, {}).fault,
               "unit id is not the request's");
  const std::vector<uint8_t> huge_count = {1, 0x03, 0xFF};
  EXPECT_EQ(AnswerLength(Framing::kRtu, huge_count, &fault), 0u);
}

}  // namespace
}  // namespace edge::drivers
