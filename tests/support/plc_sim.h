// plc-sim (tools/plc-sim, our libmodbus server) as a child process that dies with the test, and
// a Modbus client of the test's own that writes its registers (to drive a value into a fault
// range and back). The process is a tests/support Subprocess, whose destructor kills and reaps
// it even when an assertion fails half-way through a test.
//
// Where the program is: PLC_SIM_BINARY, a compile definition of edge_test_support
// (tests/support/CMakeLists.txt).
//
// Thread-safety: one owner thread per object.
#pragma once

#include <signal.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

// libmodbus's client handle, kept out of this header so that users need not include modbus.h.
typedef struct _modbus modbus_t;

namespace edge::testing {

// plc-sim serving `map_path` (its YAML or CSV register map) on 127.0.0.1.
class PlcSim {
 public:
  // port 0: an ephemeral port. Waits (up to 10 s) until it listens; port() is 0 if it failed
  // (its stderr is in error()).
  PlcSim(const std::string& map_path, std::vector<std::string> extra_args = {}, int port = 0);
  ~PlcSim();
  PlcSim(const PlcSim&) = delete;
  PlcSim& operator=(const PlcSim&) = delete;

  int port() const { return port_; }
  bool running() { return process_->running(); }
  std::string error() const { return process_->Stderr(); }
  void Pause() { process_->Signal(SIGSTOP); }
  void Resume() { process_->Signal(SIGCONT); }
  // SIGTERM, and waits for a clean exit; returns the exit status (nullopt: did not exit).
  std::optional<int> Terminate();

  // Writes `value` as a float32 (word order ABCD) to the two holding registers at `address`,
  // over a Modbus connection of the test's own (opened on first use, straight to plc-sim: no
  // proxy the test puts between the agent and plc-sim is in its way). False on failure, with
  // libmodbus's reason in write_error().
  bool WriteFloat32(int address, float value);
  const std::string& write_error() const { return write_error_; }

 private:
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  modbus_t* client_ = nullptr;
  std::string write_error_;
};

}  // namespace edge::testing
