#include "tests/support/e2e_rig.h"

#include <gtest/gtest.h>

namespace edge::testing {

namespace fs = std::filesystem;

const std::string& AgentBinary() {
  static const std::string binary = EDGE_AGENT_BINARY;
  return binary;
}

const fs::path& SourceDir() {
  static const fs::path dir = EDGE_SOURCE_DIR;
  return dir;
}

const std::string& TestPython() {
  static const std::string python = EDGE_TEST_PYTHON;
  return python;
}

CommandResult RunAgent(std::vector<std::string> args, const std::string& cwd) {
  args.insert(args.begin(), AgentBinary());
  return RunCommand({.argv = args, .cwd = cwd});
}

std::unique_ptr<Subprocess> StartAgent(const fs::path& config, const AgentRun& run) {
  std::vector<std::string> argv = {AgentBinary(), "run", "--config", config.string()};
  argv.insert(argv.end(), run.args.begin(), run.args.end());
  return std::make_unique<Subprocess>(
      SubprocessOptions{.argv = argv, .env = run.env, .unset_env = run.unset_env});
}

std::string MakeRigPackage(const fs::path& out_dir, const PackageIdentity& as) {
  return MakeLastValuePackage({.agent_binary = AgentBinary(),
                               .python = TestPython(),
                               .source_dir = SourceDir(),
                               .window = 4,
                               .step_ms = 100,
                               .threshold = 0.5},
                              out_dir, as);
}

void ExpectValidJson(const std::string& schema, const std::vector<nlohmann::json>& documents,
                     const ScratchDir& dir) {
  std::vector<std::string> argv = {TestPython(),
                                   (SourceDir() / "tests/support/validate_json.py").string(),
                                   (SourceDir() / "docs/schemas" / schema).string()};
  for (size_t i = 0; i < documents.size(); ++i) {
    argv.push_back(dir.Write("doc" + std::to_string(i) + ".json", documents[i].dump()).string());
  }
  const CommandResult r = RunCommand({.argv = argv});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

std::string EndToEndRig::StartBroker(const MosquittoBroker::Options& options) {
  broker_ = std::make_unique<MosquittoBroker>(options);
  return broker_->ok() ? "" : "broker: " + broker_->error();
}

std::string EndToEndRig::StartPlcSim(const std::string& map_name, const std::string& map_text,
                                     std::vector<std::string> args) {
  plc_ = std::make_unique<PlcSim>(dir_.Write(map_name, map_text).string(), std::move(args));
  return plc_->port() != 0 ? "" : "plc-sim: " + plc_->error();
}

std::string EndToEndRig::MakePackage(const std::string& name, const PackageIdentity& as) {
  const std::string made = MakeRigPackage(dir_.path() / name, as);
  return made.empty() ? "" : "model package: " + made;
}

void EndToEndRig::Subscribe(const std::string& filter, std::vector<std::string> args) {
  sub_ = std::make_unique<MosquittoSub>(broker_->port(), filter, std::move(args));
}

AgentYaml EndToEndRig::Config() const {
  AgentYaml yaml;
  yaml.gateway_id = "line3-pc1";
  yaml.data_dir = Path("data");
  if (broker_ != nullptr) {
    yaml.upstream =
        AgentYaml::Upstream{.broker = "tcp://127.0.0.1:" + std::to_string(broker_->port())};
  }
  if (plc_ != nullptr) {
    yaml.modbus.push_back({.port = plc_->port(),
                           .timeout = "300ms",
                           .tags = {{.name = "pump1.pressure", .address = 0}}});
  }
  return yaml;
}

fs::path EndToEndRig::WriteConfig(const AgentYaml& yaml, const std::string& name) const {
  return dir_.Write(name, yaml.Text());
}

}  // namespace edge::testing
