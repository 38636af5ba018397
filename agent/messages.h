// The MQTT messages an alarm subscriber reads (DESIGN §8): their topics and JSON payloads. The
// JSON Schemas in docs/schemas/ describe exactly what these functions produce, and the tests
// validate their output against them.
//
//   <prefix>/<gateway>/alarms/<asset>   QoS 1, not retained   AlarmMessage
//   <prefix>/<gateway>/status           QoS 1, retained       StatusMessage (online / offline)
//   <prefix>/<gateway>/models/status    QoS 1, not retained   ModelStatusMessage
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/alarm_engine.h"
#include "agent/sync/model_status.h"
#include "core/sample.h"

namespace edge::agent {

std::string AlarmTopic(std::string_view prefix, std::string_view gateway, std::string_view asset);
std::string StatusTopic(std::string_view prefix, std::string_view gateway);
std::string ModelStatusTopic(std::string_view prefix, std::string_view gateway);
std::string ModelNotifyTopic(std::string_view prefix, std::string_view gateway);

struct AlarmMessage {
  std::string gateway;
  std::string asset;
  std::string model;
  std::string model_version;
  AlarmState state = AlarmState::kNormal;  // kRaised -> "raised", kNormal -> "cleared"
  double score = 0.0;       // the window that completed the transition; REQUIRES: finite
  double peak_score = 0.0;  // the highest score of the episode; REQUIRES: finite
  double threshold = 0.0;
  Timestamp ts{};          // when the agent decided
  Timestamp window_end{};  // end of the window that completed the transition
  uint64_t seq = 0;        // strictly increasing per gateway, survives restarts (the outbox's)
};

std::string AlarmPayload(const AlarmMessage& message);

struct ActiveModel {
  std::string asset;
  std::string model;
  std::string version;
};

struct StatusMessage {
  std::string gateway;
  std::string agent_version;
  Timestamp started{};
  Timestamp ts{};
  std::vector<ActiveModel> models;
};

// {"state":"online", ...}: the retained birth message, published on every connect.
std::string OnlinePayload(const StatusMessage& message);
// {"state":"offline","gateway":...}: the Last Will, set at connect, retained.
std::string OfflinePayload(std::string_view gateway);

// ModelStatusMessage: agent/sync/model_status.h.
std::string ModelStatusPayload(const ModelStatusMessage& message);

}  // namespace edge::agent
