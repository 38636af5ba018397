// What model sync reports for each outcome (DESIGN §7): a model installed, refused or rolled
// back, and why. The pipeline publishes it on <prefix>/<gateway>/models/status (its JSON is
// ModelStatusPayload in agent/messages.h). Declared here, beside model sync, so that agent/sync/
// needs nothing from the folder above it.
//
// Thread-safety: plain values.
#pragma once

#include <string>

#include "core/sample.h"

namespace edge::agent {

enum class ModelResult { kInstalled, kRefused, kRolledBack };

struct ModelStatusMessage {
  std::string model;
  std::string version;
  ModelResult result = ModelResult::kInstalled;
  std::string reason;  // empty when installed
  Timestamp ts{};
};

}  // namespace edge::agent
