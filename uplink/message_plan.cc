#include "uplink/message_plan.h"

#include <nlohmann/json.hpp>

namespace edge::uplink {
namespace {

using json = nlohmann::json;

json Binary(const std::string& bytes) {
  return json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

std::string FromBinary(const json& value) {
  const json::binary_t& bytes = value.get_binary();
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

std::string SavePlan(const MessagePlan& plan) {
  json j = {{"v", 1}, {"k", static_cast<int>(plan.kind)}};
  json ranges = json::array();
  for (const TagRange& r : plan.ranges) {
    ranges.push_back({r.tag_id, r.from_ord, r.to_ord, Binary(r.start_state), Binary(r.end_state),
                      r.clock_flush});
  }
  j["r"] = std::move(ranges);
  j["f"] = plan.flush_us;
  j["t"] = plan.topic;
  j["p"] = Binary(plan.payload);
  const std::vector<uint8_t> cbor = json::to_cbor(j);
  return std::string(cbor.begin(), cbor.end());
}

StatusOr<MessagePlan> LoadPlan(std::string_view bytes) {
  const json j = json::from_cbor(bytes.begin(), bytes.end(), true, false);
  auto damaged = [](std::string_view why) {
    return Status::DataLoss("uplink message plan: " + std::string(why));
  };
  if (j.is_discarded() || !j.is_object()) return damaged("not a CBOR object");
  try {
    if (j.at("v").get<int>() != 1) return damaged("unknown version");
    MessagePlan plan;
    const int kind = j.at("k").get<int>();
    if (kind < 1 || kind > 3) return damaged("unknown kind");
    plan.kind = static_cast<MessagePlan::Kind>(kind);
    for (const json& r : j.at("r")) {
      TagRange range{r.at(0).get<int64_t>(), r.at(1).get<int64_t>(), r.at(2).get<int64_t>(),
                     FromBinary(r.at(3)), FromBinary(r.at(4)), r.at(5).get<bool>()};
      if (range.to_ord < range.from_ord) return damaged("range ends before it starts");
      plan.ranges.push_back(std::move(range));
    }
    plan.flush_us = j.at("f").get<int64_t>();
    plan.topic = j.at("t").get<std::string>();
    plan.payload = FromBinary(j.at("p"));
    return plan;
  } catch (const json::exception& e) {
    return damaged(e.what());
  }
}

}  // namespace edge::uplink
