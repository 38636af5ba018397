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

enum class ModelResult {
  kInstalled,
  kRefused,      // the package is wrong: not downloaded again while latest.json names it
  kRolledBack,
  kFailed,       // the repository, the network or the disk failed: retried at the next poll
  kUnconfirmed,  // latest.json unsigned, badly signed, expired or replayed: the model runs on,
                 // but the gateway cannot confirm it is current
};

struct ModelStatusMessage {
  std::string model;
  std::string version;
  ModelResult result = ModelResult::kInstalled;
  std::string reason;  // empty when installed
  Timestamp ts{};
};

}  // namespace edge::agent
