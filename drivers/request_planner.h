// RequestPlanner: merges the tags of one Modbus device into the fewest read requests, computed
// once when a device is set up; the poll loop then just replays the plan.
//
// Rules. Tags of one table (holding, input, coil, discrete) are read together by one request
// when the request stays within
//   - the protocol maximum: 125 registers (FC 3/4) or 2000 bits (FC 1/2), and the device's
//     max_registers_per_request for register tables;
//   - max_gap: no run of more than max_gap unused registers inside a request (bridging a short
//     gap costs two bytes a register; a new request costs a round trip). For bit tables the
//     gap is max_gap * 16 bits, the same number of bytes on the wire.
// A tag is never split across requests (a float64 is read whole, or its words could come from
// different scans of the PLC). Overlapping tags (a uint32 and a bool on bit 3 of its high word)
// are allowed and read once.
//
// Algorithm: per table, tags sorted by start address, then greedy left to right: a request
// starts at the first uncovered tag and takes every following tag while both rules hold.
// Greedy is optimal here: a request must cover the first uncovered tag, and starting it exactly
// there reaches furthest; a later tag that fails the gap rule makes all later tags fail it too,
// and one that fails only the length rule ends the request, while the tags that would still
// have fit lie inside the failing tag's window and ride along in the next request for free.
// tests/drivers/request_planner_test.cc checks this against an exhaustive search.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/status.h"

namespace edge::drivers {

// Protocol maxima of one read request (Modbus application protocol v1.1b3, 6.1 - 6.4).
inline constexpr uint16_t kMaxReadRegisters = 125;
inline constexpr uint16_t kMaxReadBits = 2000;

struct PlanLimits {
  uint16_t max_registers = kMaxReadRegisters;  // 1..125
  uint16_t max_bits = kMaxReadBits;            // 1..2000
  uint16_t max_gap = 16;                       // unused registers a request may bridge
};

// The limits a device's configuration asks for, clamped to the protocol maxima.
PlanLimits LimitsFor(const config::ModbusDevice& device);

struct ReadRequest {
  config::ModbusTable table;
  uint16_t start;  // 0-based protocol address
  uint16_t count;  // registers, or bits for coil / discrete tables
};

struct TagPlacement {
  uint32_t request;  // index into ReadPlan::requests
  uint16_t offset;   // of the tag's first register / bit from the request's start
};

struct ReadPlan {
  std::vector<ReadRequest> requests;     // grouped by table, ascending start within a table
  std::vector<TagPlacement> placements;  // placements[i] is where tags[i] is read
};

// Plans the reads of `tags` (any mix of tables). InvalidArgument, naming the tag, if a tag
// alone exceeds a request's limit or runs past address 65535, or occupies no registers.
[[nodiscard]] StatusOr<ReadPlan> PlanReads(std::span<const config::ModbusTag> tags,
                                           const PlanLimits& limits);

// A one-line human-readable plan for the start-up log, e.g.
//   "press-plc: 5 tags in 2 requests: holding 0+10 {a,b,c}; coil 16+2 {d,e}"
std::string DescribePlan(std::string_view device, const ReadPlan& plan,
                         std::span<const config::ModbusTag> tags);

// A reference for tests and benchmarks, not used by the agent: the fewest requests by dynamic
// programming over the sorted tags of each table, O(n^2) in the tags of a table.
size_t CountOptimalRequests(std::span<const config::ModbusTag> tags, const PlanLimits& limits);

}  // namespace edge::drivers
