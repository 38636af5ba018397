#include "drivers/request_planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace edge::drivers {
namespace {

using config::ModbusTable;
using config::ModbusTag;
using config::ModbusType;

ModbusTag Tag(uint16_t address, ModbusType type = ModbusType::kUInt16,
              ModbusTable table = ModbusTable::kHoldingRegister) {
  ModbusTag tag;
  tag.name = "t" + std::to_string(address);
  tag.table = table;
  tag.address = address;
  tag.type = type;
  return tag;
}

ModbusTag StringTag(uint16_t address, uint16_t length) {
  ModbusTag tag = Tag(address, ModbusType::kString);
  tag.length = length;
  return tag;
}

PlanLimits Limits(uint16_t max_registers = 125, uint16_t max_gap = 16) {
  PlanLimits limits;
  limits.max_registers = max_registers;
  limits.max_gap = max_gap;
  return limits;
}

ReadPlan Plan(const std::vector<ModbusTag>& tags, const PlanLimits& limits = Limits()) {
  StatusOr<ReadPlan> plan = PlanReads(tags, limits);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  return plan.ok() ? *plan : ReadPlan{};
}

// Every tag lies wholly inside its request, every request within the limits.
void ExpectConsistent(const std::vector<ModbusTag>& tags, const ReadPlan& plan,
                      const PlanLimits& limits) {
  ASSERT_EQ(plan.placements.size(), tags.size());
  for (size_t i = 0; i < tags.size(); ++i) {
    const TagPlacement& p = plan.placements[i];
    ASSERT_LT(p.request, plan.requests.size());
    const ReadRequest& r = plan.requests[p.request];
    EXPECT_EQ(r.table, tags[i].table);
    EXPECT_EQ(r.start + p.offset, tags[i].address);
    EXPECT_LE(p.offset + config::RegisterCount(tags[i]), r.count) << tags[i].name;
  }
  for (const ReadRequest& r : plan.requests) {
    const bool bits = r.table == ModbusTable::kCoil || r.table == ModbusTable::kDiscreteInput;
    EXPECT_LE(r.count, bits ? limits.max_bits : limits.max_registers);
    EXPECT_GE(r.count, 1);
  }
}

TEST(RequestPlanner, MergesAdjacentHoldingRegisters) {
  const std::vector<ModbusTag> tags = {Tag(0), Tag(1, ModbusType::kFloat32),
                                       Tag(3, ModbusType::kFloat64), Tag(7)};
  const ReadPlan plan = Plan(tags);
  ASSERT_EQ(plan.requests.size(), 1u);
  EXPECT_EQ(plan.requests[0].start, 0);
  EXPECT_EQ(plan.requests[0].count, 8);
  EXPECT_EQ(plan.placements[2].offset, 3);
  ExpectConsistent(tags, plan, Limits());
}

TEST(RequestPlanner, BridgesGapsUpToMaxGapOnly) {
  // Gap of exactly 16 unused registers (1..16): bridged.
  ReadPlan plan = Plan({Tag(0), Tag(17)}, Limits(125, 16));
  ASSERT_EQ(plan.requests.size(), 1u);
  EXPECT_EQ(plan.requests[0].count, 18);
  // Gap of 17: two requests.
  plan = Plan({Tag(0), Tag(18)}, Limits(125, 16));
  ASSERT_EQ(plan.requests.size(), 2u);
  EXPECT_EQ(plan.requests[1].start, 18);
  EXPECT_EQ(plan.placements[1].request, 1u);
  EXPECT_EQ(plan.placements[1].offset, 0);
  // max_gap 0: only adjacent tags merge.
  plan = Plan({Tag(0), Tag(1), Tag(3)}, Limits(125, 0));
  EXPECT_EQ(plan.requests.size(), 2u);
}

TEST(RequestPlanner, OverlappingTagsAreReadOnce) {
  ModbusTag flag = Tag(10, ModbusType::kBool);
  flag.bit = 3;
  const std::vector<ModbusTag> tags = {Tag(10, ModbusType::kUInt32), flag, Tag(11),
                                       Tag(10, ModbusType::kFloat32)};
  const ReadPlan plan = Plan(tags);
  ASSERT_EQ(plan.requests.size(), 1u);
  EXPECT_EQ(plan.requests[0].start, 10);
  EXPECT_EQ(plan.requests[0].count, 2);
  EXPECT_EQ(plan.placements[2].offset, 1);
  ExpectConsistent(tags, plan, Limits());
}

TEST(RequestPlanner, SplitsRunsLongerThanTheProtocolMaximum) {
  std::vector<ModbusTag> tags;
  for (uint16_t a = 0; a < 300; ++a) tags.push_back(Tag(a));
  const ReadPlan plan = Plan(tags);
  ASSERT_EQ(plan.requests.size(), 3u);
  EXPECT_EQ(plan.requests[0].count, 125);
  EXPECT_EQ(plan.requests[1].start, 125);
  EXPECT_EQ(plan.requests[1].count, 125);
  EXPECT_EQ(plan.requests[2].start, 250);
  EXPECT_EQ(plan.requests[2].count, 50);
  ExpectConsistent(tags, plan, Limits());
}

TEST(RequestPlanner, NeverSplitsAFloat64AcrossRequests) {
  // 31 float64 at 0, 4, ..., 120 use 124 registers; the one at 124 would need 124..127.
  std::vector<ModbusTag> tags;
  for (uint16_t a = 0; a <= 124; a += 4) tags.push_back(Tag(a, ModbusType::kFloat64));
  const ReadPlan plan = Plan(tags);
  ASSERT_EQ(plan.requests.size(), 2u);
  EXPECT_EQ(plan.requests[0].count, 124);
  EXPECT_EQ(plan.requests[1].start, 124);
  EXPECT_EQ(plan.requests[1].count, 4);
  ExpectConsistent(tags, plan, Limits());
}

TEST(RequestPlanner, HonoursASmallMaxRegistersPerRequest) {
  std::vector<ModbusTag> tags;
  for (uint16_t a = 0; a < 10; a += 2) tags.push_back(Tag(a, ModbusType::kInt32));
  const ReadPlan plan = Plan(tags, Limits(4));
  ASSERT_EQ(plan.requests.size(), 3u);  // 0..3, 4..7, 8..9
  ExpectConsistent(tags, plan, Limits(4));
  config::ModbusDevice device;
  device.max_registers_per_request = 500;
  EXPECT_EQ(LimitsFor(device).max_registers, 125);
}

TEST(RequestPlanner, RejectsATagLargerThanOneRequest) {
  StatusOr<ReadPlan> plan =
      PlanReads(std::vector<ModbusTag>{Tag(0, ModbusType::kFloat64)}, Limits(2));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("'t0'"), std::string::npos);
  EXPECT_FALSE(PlanReads(std::vector<ModbusTag>{StringTag(0, 126)}, Limits()).ok());
  EXPECT_FALSE(PlanReads(std::vector<ModbusTag>{Tag(65535, ModbusType::kFloat32)}, Limits()).ok());
  EXPECT_TRUE(PlanReads(std::vector<ModbusTag>{Tag(65534, ModbusType::kFloat32)}, Limits()).ok());
  EXPECT_TRUE(PlanReads(std::vector<ModbusTag>{Tag(65535)}, Limits()).ok());
  EXPECT_FALSE(PlanReads(std::vector<ModbusTag>{StringTag(0, 0)}, Limits()).ok());
}

TEST(RequestPlanner, BitTablesUseBitLimitsAndAreSeparateFromRegisters) {
  std::vector<ModbusTag> tags;
  for (uint16_t a = 0; a < 2500; a += 5)
    tags.push_back(Tag(a, ModbusType::kBool, ModbusTable::kCoil));
  tags.push_back(Tag(3, ModbusType::kBool, ModbusTable::kDiscreteInput));
  tags.push_back(Tag(0, ModbusType::kUInt16, ModbusTable::kInputRegister));
  const ReadPlan plan = Plan(tags);
  ExpectConsistent(tags, plan, Limits());
  // Coils 0..1996 (400 tags) in one request of 1996 + 1 bits, then 2000..2495; one discrete
  // input request and one input-register request.
  size_t coil_requests = 0;
  for (const ReadRequest& r : plan.requests) coil_requests += r.table == ModbusTable::kCoil;
  EXPECT_EQ(coil_requests, 2u);
  EXPECT_EQ(plan.requests.size(), 4u);
  // Bits bridge 16 * max_gap unused bits.
  EXPECT_EQ(Plan({Tag(0, ModbusType::kBool, ModbusTable::kCoil),
                  Tag(257, ModbusType::kBool, ModbusTable::kCoil)})
                .requests.size(),
            1u);
  EXPECT_EQ(Plan({Tag(0, ModbusType::kBool, ModbusTable::kCoil),
                  Tag(258, ModbusType::kBool, ModbusTable::kCoil)})
                .requests.size(),
            2u);
}

TEST(RequestPlanner, DescribesThePlan) {
  std::vector<ModbusTag> tags = {Tag(0), Tag(1), Tag(0, ModbusType::kBool, ModbusTable::kCoil)};
  tags[2].name = "run";
  const std::string text = DescribePlan("press", Plan(tags), tags);
  EXPECT_EQ(text, "press: 3 tags in 2 requests: holding 0+2 {t0,t1}; coil 0+1 {run}");
}

// The true minimum over every partition of the tags into requests (not only runs of the
// sorted order), by dynamic programming over subsets. A request is valid when its span fits
// and it has no run of more than max_gap addresses that none of its tags covers.
size_t ExhaustiveMinimum(const std::vector<ModbusTag>& tags, const PlanLimits& limits) {
  const size_t n = tags.size();
  const uint32_t full = (1u << n) - 1;
  std::vector<bool> valid(full + 1, false);
  for (uint32_t mask = 1; mask <= full; ++mask) {
    uint32_t lo = 1u << 20, hi = 0;
    std::vector<bool> covered(64, false);  // addresses < 40 + 4
    bool same_table = true;
    for (size_t i = 0; i < n; ++i) {
      if (!(mask & (1u << i))) continue;
      same_table &= tags[i].table == tags[static_cast<size_t>(std::countr_zero(mask))].table;
      const uint32_t end = tags[i].address + config::RegisterCount(tags[i]);
      lo = std::min<uint32_t>(lo, tags[i].address);
      hi = std::max(hi, end);
      for (uint32_t a = tags[i].address; a < end; ++a) covered[a] = true;
    }
    if (!same_table || hi - lo > limits.max_registers) continue;
    uint32_t run = 0, worst = 0;
    for (uint32_t a = lo; a < hi; ++a) {
      run = covered[a] ? 0 : run + 1;
      worst = std::max(worst, run);
    }
    valid[mask] = worst <= limits.max_gap;
  }
  std::vector<size_t> best(full + 1, SIZE_MAX);
  best[0] = 0;
  for (uint32_t mask = 1; mask <= full; ++mask) {
    const uint32_t low = mask & (~mask + 1);  // the lowest tag must be in some request
    for (uint32_t sub = mask; sub != 0; sub = (sub - 1) & mask) {
      if ((sub & low) && valid[sub] && best[mask ^ sub] != SIZE_MAX) {
        best[mask] = std::min(best[mask], best[mask ^ sub] + 1);
      }
    }
  }
  return best[full];
}

TEST(RequestPlanner, GreedyEqualsTheExhaustiveMinimumOnRandomSmallSets) {
  std::mt19937 rng(7);
  const ModbusType types[] = {ModbusType::kUInt16, ModbusType::kFloat32, ModbusType::kFloat64,
                              ModbusType::kBool};
  for (int iteration = 0; iteration < 3000; ++iteration) {
    const size_t n = 1 + rng() % 9;
    const PlanLimits limits =
        Limits(static_cast<uint16_t>(4 + rng() % 12), static_cast<uint16_t>(rng() % 4));
    std::vector<ModbusTag> tags;
    for (size_t i = 0; i < n; ++i) {
      ModbusTag tag = Tag(static_cast<uint16_t>(rng() % 40), types[rng() % 4]);
      if (rng() % 5 == 0) tag.table = ModbusTable::kInputRegister;
      tags.push_back(tag);
    }
    const StatusOr<ReadPlan> plan = PlanReads(tags, limits);
    ASSERT_TRUE(plan.ok());
    ExpectConsistent(tags, *plan, limits);
    ASSERT_EQ(plan->requests.size(), ExhaustiveMinimum(tags, limits))
        << "iteration " << iteration << ": " << DescribePlan("case", *plan, tags);
  }
}

TEST(RequestPlanner, GreedyEqualsTheDynamicProgrammingMinimumOnLargeMaps) {
  std::mt19937 rng(11);
  for (int iteration = 0; iteration < 200; ++iteration) {
    std::vector<ModbusTag> tags;
    for (int i = 0; i < 300; ++i) {
      tags.push_back(Tag(static_cast<uint16_t>(rng() % 3000),
                         rng() % 2 ? ModbusType::kFloat32 : ModbusType::kUInt16));
    }
    const PlanLimits limits =
        Limits(static_cast<uint16_t>(10 + rng() % 116), static_cast<uint16_t>(rng() % 20));
    const StatusOr<ReadPlan> plan = PlanReads(tags, limits);
    ASSERT_TRUE(plan.ok());
    ExpectConsistent(tags, *plan, limits);
    EXPECT_EQ(plan->requests.size(), CountOptimalRequests(tags, limits));
  }
}

}  // namespace
}  // namespace edge::drivers
