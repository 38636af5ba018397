#include "drivers/request_planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "drivers/modbus_codec.h"

namespace edge::drivers {
namespace {

using config::ModbusTable;
using config::ModbusTag;

constexpr ModbusTable kTables[] = {ModbusTable::kHoldingRegister, ModbusTable::kInputRegister,
                                   ModbusTable::kCoil, ModbusTable::kDiscreteInput};

// A tag's extent [start, end) in its table, in registers or bits.
struct Extent {
  uint32_t start;
  uint32_t end;
};

Extent ExtentOf(const ModbusTag& tag) {
  return {tag.address, static_cast<uint32_t>(tag.address) + config::RegisterCount(tag)};
}

uint32_t MaxSpan(ModbusTable table, const PlanLimits& limits) {
  return IsBitTable(table) ? limits.max_bits : limits.max_registers;
}

uint32_t MaxGap(ModbusTable table, const PlanLimits& limits) {
  return IsBitTable(table) ? 16u * limits.max_gap : limits.max_gap;
}

// Indices of the tags of `table`, sorted by start, then end.
std::vector<size_t> SortedTagsOf(std::span<const ModbusTag> tags, ModbusTable table) {
  std::vector<size_t> order;
  for (size_t i = 0; i < tags.size(); ++i) {
    if (tags[i].table == table) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Extent ea = ExtentOf(tags[a]);
    const Extent eb = ExtentOf(tags[b]);
    return ea.start != eb.start ? ea.start < eb.start : ea.end < eb.end;
  });
  return order;
}

}  // namespace

PlanLimits LimitsFor(const config::ModbusDevice& device) {
  PlanLimits limits;
  limits.max_registers =
      std::clamp<uint16_t>(device.max_registers_per_request, 1, kMaxReadRegisters);
  limits.max_gap = device.max_gap;
  return limits;
}

StatusOr<ReadPlan> PlanReads(std::span<const ModbusTag> tags, const PlanLimits& limits) {
  EDGE_CHECK(limits.max_registers >= 1 && limits.max_registers <= kMaxReadRegisters);
  EDGE_CHECK(limits.max_bits >= 1 && limits.max_bits <= kMaxReadBits);
  for (const ModbusTag& tag : tags) {
    const Extent e = ExtentOf(tag);
    const uint32_t max_span = MaxSpan(tag.table, limits);
    const char* unit = IsBitTable(tag.table) ? "bits" : "registers";
    if (e.end == e.start) {
      return Status::InvalidArgument(fmt::format("tag '{}' occupies no registers", tag.name));
    }
    if (e.end > 65536) {
      return Status::InvalidArgument(fmt::format(
          "tag '{}' ({} at {} address {}) runs past address 65535", tag.name,
          config::ModbusTypeName(tag.type), config::ModbusTableName(tag.table), tag.address));
    }
    if (e.end - e.start > max_span) {
      return Status::InvalidArgument(fmt::format(
          "tag '{}' ({}, {} {}) does not fit in one read request of at most {} {}", tag.name,
          config::ModbusTypeName(tag.type), e.end - e.start, unit, max_span, unit));
    }
  }

  ReadPlan plan;
  plan.placements.resize(tags.size());
  for (const ModbusTable table : kTables) {
    const uint32_t max_span = MaxSpan(table, limits);
    const uint32_t max_gap = MaxGap(table, limits);
    uint32_t start = 0;
    uint32_t end = 0;  // exclusive; the furthest end of the request's tags
    bool open = false;
    std::vector<size_t> members;
    const auto close = [&] {
      const auto index = static_cast<uint32_t>(plan.requests.size());
      plan.requests.push_back(
          {table, static_cast<uint16_t>(start), static_cast<uint16_t>(end - start)});
      for (const size_t m : members) {
        plan.placements[m] = {index, static_cast<uint16_t>(tags[m].address - start)};
      }
      members.clear();
    };
    for (const size_t i : SortedTagsOf(tags, table)) {
      const Extent e = ExtentOf(tags[i]);
      const bool fits =
          open && e.start <= end + max_gap && std::max(end, e.end) - start <= max_span;
      if (!fits) {
        if (open) close();
        start = e.start;
        end = e.end;
        open = true;
      } else {
        end = std::max(end, e.end);
      }
      members.push_back(i);
    }
    if (open) close();
  }
  return plan;
}

std::string DescribePlan(std::string_view device, const ReadPlan& plan,
                         std::span<const ModbusTag> tags) {
  std::string out =
      fmt::format("{}: {} tags in {} requests", device, tags.size(), plan.requests.size());
  for (size_t r = 0; r < plan.requests.size(); ++r) {
    const ReadRequest& req = plan.requests[r];
    out += fmt::format("{} {} {}+{} {{", r == 0 ? ":" : ";", config::ModbusTableName(req.table),
                       req.start, req.count);
    bool first = true;
    for (size_t t = 0; t < tags.size(); ++t) {
      if (plan.placements[t].request != r) continue;
      out += fmt::format("{}{}", first ? "" : ",", tags[t].name);
      first = false;
    }
    out += "}";
  }
  return out;
}

size_t CountOptimalRequests(std::span<const ModbusTag> tags, const PlanLimits& limits) {
  size_t total = 0;
  for (const ModbusTable table : kTables) {
    const std::vector<size_t> order = SortedTagsOf(tags, table);
    const size_t n = order.size();
    if (n == 0) continue;
    // best[j]: fewest requests for the first j tags, each request a contiguous run of them.
    constexpr size_t kInf = std::numeric_limits<size_t>::max();
    std::vector<size_t> best = {0};
    best.resize(n + 1, kInf);
    for (size_t i = 0; i < n; ++i) {
      if (best[i] == kInf) continue;
      const uint32_t start = ExtentOf(tags[order[i]]).start;
      uint32_t end = start;
      for (size_t j = i; j < n; ++j) {
        const Extent e = ExtentOf(tags[order[j]]);
        if (j > i && e.start > end + MaxGap(table, limits)) break;
        end = std::max(end, e.end);
        if (end - start > MaxSpan(table, limits)) break;
        best[j + 1] = std::min(best[j + 1], best[i] + 1);
      }
    }
    total += best[n];
  }
  return total;
}

}  // namespace edge::drivers
