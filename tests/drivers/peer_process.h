// Real Modbus peers for the driver tests, as child processes that die with the test: plc-sim
// (our libmodbus server), the pymodbus server script, and socat pty pairs. Each wraps a
// tests/support Subprocess, whose destructor kills and reaps the child even when an assertion
// fails half-way through a test.
//
// Where the programs are: PLC_SIM_BINARY and EDGE_SOURCE_DIR are compile definitions
// (tests/drivers/CMakeLists.txt); the Python interpreter that has pymodbus is the environment
// variable EDGE_PYMODBUS_PYTHON if set, else the compile definition EDGE_PYMODBUS_PYTHON
// (CMake cache variable, default /usr/bin/python3, where Debian's python3-pymodbus lives);
// socat is looked up on PATH.
//
// Thread-safety: one owner thread per object.
#pragma once

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {

// plc-sim serving `map_path` on 127.0.0.1.
class PlcSim {
 public:
  // port 0: an ephemeral port. Waits (up to 10 s) until it listens; port() is 0 if it failed
  // (its stderr is in error()).
  PlcSim(const std::string& map_path, std::vector<std::string> extra_args = {}, int port = 0);

  int port() const { return port_; }
  bool running() { return process_->running(); }
  std::string error() const { return process_->Stderr(); }
  void Pause() { process_->Signal(SIGSTOP); }
  void Resume() { process_->Signal(SIGCONT); }
  // SIGTERM, and waits for a clean exit; returns the exit status (nullopt: did not exit).
  std::optional<int> Terminate();

 private:
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

// The interpreter that has pymodbus (see above), and its pymodbus version ("" if it has none).
std::string PymodbusPython();
std::string PymodbusVersion();

// tests/drivers/pymodbus_server.py: a pymodbus server in TCP mode on an ephemeral port, or in
// RTU mode on a serial device. `Manifest()` is the JSON document it prints on its first stdout
// line, describing every value it encoded.
class PymodbusServer {
 public:
  static std::unique_ptr<PymodbusServer> Tcp();
  static std::unique_ptr<PymodbusServer> Rtu(const std::string& serial_device);

  bool ok() const { return !manifest_.empty(); }
  const std::string& manifest() const { return manifest_; }
  std::string error() const { return process_->Stderr(); }

 private:
  explicit PymodbusServer(std::vector<std::string> args);
  std::unique_ptr<Subprocess> process_;
  std::string manifest_;
};

// A pair of connected pseudo-terminals made by socat: bytes written to one end come out of the
// other. ends() are symlinks inside a private directory.
class PtyPair {
 public:
  explicit PtyPair(const std::filesystem::path& dir);
  bool ok() const { return ok_; }
  std::string end_a() const { return (dir_ / "pty-a").string(); }
  std::string end_b() const { return (dir_ / "pty-b").string(); }
  std::string error() const { return process_->Stderr(); }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Subprocess> process_;
  bool ok_ = false;
};

// Polls `predicate` every 10 ms until it holds or `timeout` passes; returns its last value.
template <typename Predicate>
bool Eventually(Predicate predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() >= deadline) return predicate();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace edge::testing
