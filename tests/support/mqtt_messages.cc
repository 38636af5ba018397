#include "tests/support/mqtt_messages.h"

#include <sstream>

namespace edge::testing {

using nlohmann::json;

std::vector<json> PayloadsOn(const std::string& received, const std::string& topic) {
  const std::string prefix = topic + " ";
  std::vector<json> payloads;
  std::istringstream lines(received);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) payloads.push_back(json::parse(line.substr(prefix.size())));
  }
  return payloads;
}

std::vector<json> AlarmsOnAnyTopic(const std::string& received) {
  std::vector<json> alarms;
  std::istringstream lines(received);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t space = line.find(' ');
    if (space == std::string::npos || line.find("/alarms/") > space) continue;
    json alarm = json::parse(line.substr(space + 1), nullptr, false);
    if (alarm.is_object()) alarms.push_back(std::move(alarm));
  }
  return alarms;
}

int CountMessagesUnder(const std::string& received, const std::string& prefix) {
  std::istringstream lines(received);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) n += line.rfind(prefix, 0) == 0;
  return n;
}

std::vector<json> UniqueBySeq(const std::vector<json>& alarms, uint64_t after_seq) {
  std::vector<json> unique;
  uint64_t last_seq = after_seq;
  for (const json& a : alarms) {
    const uint64_t seq = a["seq"].get<uint64_t>();
    if (seq <= last_seq) continue;
    last_seq = seq;
    unique.push_back(a);
  }
  return unique;
}

}  // namespace edge::testing
