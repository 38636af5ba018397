// The end-to-end rig: what the tests of tests/integration and tests/reliability need to run the
// edge-agent binary against real peers, in one place (as mosquitto's broker tests share
// test/mosq_test.py). EndToEndRig owns a scratch directory, a mosquitto broker, plc-sim, the
// last-value model package and a mosquitto_sub subscriber, each started by the step that names
// it, so that a scenario starts what it needs and puts proxies or faults in between; Config()
// is the agent configuration for those peers, which the scenario changes and writes.
//
// Where this build's programs are: EDGE_AGENT_BINARY, EDGE_TEST_PYTHON and EDGE_SOURCE_DIR,
// compile definitions of edge_e2e_rig (tests/support/CMakeLists.txt).
//
// Thread-safety: one owner thread per EndToEndRig; the free functions share no state.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/agent_config_writer.h"
#include "tests/support/last_value_model.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/plc_sim.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {

const std::string& AgentBinary();
const std::filesystem::path& SourceDir();
const std::string& TestPython();  // an interpreter with Debian's torch, onnx and jsonschema

// `edge-agent <args>` run to completion (in `cwd` if not empty).
CommandResult RunAgent(std::vector<std::string> args, const std::string& cwd = "");

// How `edge-agent run --config <file>` is started: its further arguments and environment.
struct AgentRun {
  std::vector<std::string> args = {"--status-interval", "1s"};
  std::vector<std::pair<std::string, std::string>> env = {};
  std::vector<std::string> unset_env = {};
};

// Starts the daemon; does not wait for it (callers wait for the output their scenario needs).
std::unique_ptr<Subprocess> StartAgent(const std::filesystem::path& config,
                                       const AgentRun& run = {});

// The last-value model (score = the window's last "pressure"; window 4, step 100 ms, threshold
// 0.5), exported by PyTorch and packed into `out_dir`, signed as `as` says. "" or what failed.
std::string MakeRigPackage(const std::filesystem::path& out_dir,
                           const PackageIdentity& as = PackageIdentity());

// EXPECTs that every document validates against docs/schemas/<schema> (python3-jsonschema);
// the documents are written to `dir` for the validator.
void ExpectValidJson(const std::string& schema, const std::vector<nlohmann::json>& documents,
                     const ScratchDir& dir);

// plc-sim's map with one float32 register, "pressure" at holding 0.
inline constexpr char kPressureMap[] =
    "tags:\n  - {name: pressure, table: holding, address: 0, type: float32}\n";

class EndToEndRig {
 public:
  EndToEndRig() = default;
  EndToEndRig(const EndToEndRig&) = delete;
  EndToEndRig& operator=(const EndToEndRig&) = delete;

  // Each step returns "" once its peer is up, otherwise what failed.
  std::string StartBroker(const MosquittoBroker::Options& options = {});
  // plc-sim serving the map `map_text`, written to <scratch>/<map_name> (.yaml or .csv).
  std::string StartPlcSim(const std::string& map_name = "plc.yaml",
                          const std::string& map_text = kPressureMap,
                          std::vector<std::string> args = {});
  // MakeRigPackage into <scratch>/<name>.
  std::string MakePackage(const std::string& name = "pkg",
                          const PackageIdentity& as = PackageIdentity());
  // mosquitto_sub on the broker; `args` e.g. {"-q", "1"}.
  void Subscribe(const std::string& filter, std::vector<std::string> args);

  // The configuration of an agent on these peers: gateway line3-pc1, data in <scratch>/data,
  // upstream to the broker (if started) with topic prefix plant1, and plc-sim (if started)
  // polled every 100 ms with a 300 ms timeout for pump1.pressure (float32 at holding 0). No
  // deployments: the scenario adds them.
  AgentYaml Config() const;
  // Writes `yaml` to <scratch>/<name>; returns its path.
  std::filesystem::path WriteConfig(const AgentYaml& yaml,
                                    const std::string& name = "agent.yaml") const;

  // <scratch>/<name>.
  std::string Path(const std::string& name) const { return (dir_.path() / name).string(); }
  const ScratchDir& dir() const { return dir_; }
  MosquittoBroker& broker() { return *broker_; }
  PlcSim& plc() { return *plc_; }
  MosquittoSub& sub() { return *sub_; }
  const MosquittoSub& sub() const { return *sub_; }

 private:
  ScratchDir dir_;
  std::unique_ptr<MosquittoBroker> broker_;
  std::unique_ptr<PlcSim> plc_;
  std::unique_ptr<MosquittoSub> sub_;
};

}  // namespace edge::testing
