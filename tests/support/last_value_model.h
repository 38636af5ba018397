// A model package for end-to-end tests and benchmarks whose score is the value of the window's
// last step (feature "pressure"): exported by PyTorch (tests/integration/make_last_value_model.py),
// then keyed, packed and signed by the agent's own `edge-agent model keygen` / `model pack`.
// Driving one register above the threshold and back then raises and clears an alarm.
//
// Thread-safety: no shared state.
#pragma once

#include <array>
#include <cstdint>
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

// What the package is called and how it scores (model sync tests publish several versions).
struct PackageIdentity {
  std::string name = "last-value";
  std::string version = "1.0.0";
  std::string variant = "last";  // see make_last_value_model.py: "last", "sqrt", "log"
  // Signing key, ending in ".pem"; empty: a new pair is made beside the package (out_dir +
  // ".pem" / ".pub"). A missing file is made with its ".pub" beside it; an existing one is used.
  std::string private_key;
};

// The two holding registers of a float32 in word order ABCD (high word first, each big-endian),
// as the test writes the model's input register. (libmodbus 3.1.6's modbus_set_float_abcd swaps
// the bytes as well, so it is not used.)
std::array<uint16_t, 2> Float32AbcdRegisters(float value);

// Writes the package to `out_dir`, signed with `as.private_key` (or a new key pair beside it,
// as out_dir + ".pem" / ".pub").
// Returns "" on success, otherwise what failed with the tool's output.
std::string MakeLastValuePackage(const LastValueModel& model, const std::filesystem::path& out_dir,
                                 const PackageIdentity& as = PackageIdentity());

}  // namespace edge::testing
