#include "tests/support/last_value_model.h"

#include <chrono>
#include <cstring>

#include "tests/support/subprocess.h"

namespace edge::testing {

std::array<uint16_t, 2> Float32AbcdRegisters(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return {static_cast<uint16_t>(bits >> 16), static_cast<uint16_t>(bits)};
}

std::string MakeLastValuePackage(const LastValueModel& model, const std::filesystem::path& out_dir,
                                 const PackageIdentity& as) {
  const std::string onnx = out_dir.string() + ".onnx";
  const std::string key = as.private_key.empty() ? out_dir.string() + ".pem" : as.private_key;
  std::vector<std::vector<std::string>> steps = {
      {model.python, (model.source_dir / "tests/integration/make_last_value_model.py").string(),
       onnx, std::to_string(model.window), "1", as.variant}};
  if (!std::filesystem::exists(key)) {
    steps.push_back({model.agent_binary, "model", "keygen", "--private", key, "--public",
                     key.substr(0, key.size() - 4) + ".pub"});
  }
  steps.push_back({model.agent_binary,
                   "model",
                   "pack",
                   "--onnx",
                   onnx,
                   "--name",
                   as.name,
                   "--version",
                   as.version,
                   "--features",
                   "pressure",
                   "--window",
                   std::to_string(model.window),
                   "--step-ms",
                   std::to_string(model.step_ms),
                   "--threshold",
                   std::to_string(model.threshold),
                   "--key",
                   key,
                   "--out",
                   out_dir.string()});
  for (const std::vector<std::string>& argv : steps) {
    const CommandResult r = RunCommand({.argv = argv}, std::chrono::minutes(2));
    if (r.exit_code != 0) return argv[0] + " " + argv[1] + " failed: " + r.out + r.err;
  }
  return "";
}

}  // namespace edge::testing
