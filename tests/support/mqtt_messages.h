// Reading what a subscriber received: mosquitto_sub -v prints one "topic payload" line per
// message (tests/support/mosquitto_broker.h, MosquittoSub::Received()). The end-to-end tests
// read alarms, statuses and model statuses from it, and drop repeated alarms by seq as the
// README tells subscribers to (delivery is at least once).
//
// Thread-safety: functions of their arguments only.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace edge::testing {

// The payloads of the messages on exactly `topic`, in order, parsed as JSON (a payload that is
// not JSON throws, failing the test).
std::vector<nlohmann::json> PayloadsOn(const std::string& received, const std::string& topic);

// The JSON objects received on any ".../alarms/..." topic, in order; other payloads are skipped.
std::vector<nlohmann::json> AlarmsOnAnyTopic(const std::string& received);

// How many messages arrived on topics starting with `prefix`.
int CountMessagesUnder(const std::string& received, const std::string& prefix);

// `alarms` with the repeats dropped the way subscribers drop them: each alarm whose seq is not
// above the highest seen so far (starting from `after_seq`) is left out.
std::vector<nlohmann::json> UniqueBySeq(const std::vector<nlohmann::json>& alarms,
                                        uint64_t after_seq = 0);

}  // namespace edge::testing
