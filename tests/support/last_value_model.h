// A model package for end-to-end tests and benchmarks whose score is the value of the window's
// last step (feature "pressure"): exported by PyTorch (tests/integration/make_last_value_model.py),
// then keyed, packed and signed by the agent's own `edge-agent model keygen` / `model pack`.
// Driving one register above the threshold and back then raises and clears an alarm.
//
// Thread-safety: no shared state.
#pragma once

#include <filesystem>
#include <string>

namespace edge::testing {

struct LastValueModel {
  std::string agent_binary;  // edge-agent
  std::string python;        // an interpreter with Debian's torch
  std::filesystem::path source_dir;
  int window = 4;
  int step_ms = 100;
  double threshold = 0.5;
};

// Writes the package to `out_dir` (its key pair beside it, as out_dir + ".pem" / ".pub").
// Returns "" on success, otherwise what failed with the tool's output.
std::string MakeLastValuePackage(const LastValueModel& model, const std::filesystem::path& out_dir);

}  // namespace edge::testing
