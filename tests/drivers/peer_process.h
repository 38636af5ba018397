// Real Modbus peers that only the driver tests use, as child processes that die with the test:
// the pymodbus server script and socat pty pairs (plc-sim, which the end-to-end tests use too,
// is tests/support/plc_sim.h). Each wraps a tests/support Subprocess, whose destructor kills and
// reaps the child even when an assertion fails half-way through a test.
//
// Where the programs are: EDGE_SOURCE_DIR is a compile definition
// (tests/drivers/CMakeLists.txt); the Python interpreter that has pymodbus is the environment
// variable EDGE_PYMODBUS_PYTHON if set, else the compile definition EDGE_PYMODBUS_PYTHON
// (CMake cache variable, default /usr/bin/python3, where Debian's python3-pymodbus lives);
// socat is looked up on PATH.
//
// Thread-safety: one owner thread per object.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {

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

}  // namespace edge::testing
