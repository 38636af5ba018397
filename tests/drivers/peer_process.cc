#include "tests/drivers/peer_process.h"

#include <stdlib.h>

#include <chrono>
#include <cstdio>

#include "tests/support/eventually.h"

namespace edge::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

SubprocessOptions Argv(std::vector<std::string> argv) {
  SubprocessOptions options;
  options.argv = std::move(argv);
  return options;
}

std::string FirstLine(const std::string& text) {
  const size_t end = text.find('\n');
  return end == std::string::npos ? "" : text.substr(0, end);
}

}  // namespace

std::string PymodbusPython() {
  if (const char* env = std::getenv("EDGE_PYMODBUS_PYTHON"); env != nullptr && *env != '\0') {
    return env;
  }
  return EDGE_PYMODBUS_PYTHON;
}

std::string PymodbusVersion() {
  const CommandResult r = RunCommand(
      Argv({PymodbusPython(), "-c", "import pymodbus; print(pymodbus.__version__)"}), seconds(30));
  return r.exit_code == 0 ? FirstLine(r.out) : "";
}

PymodbusServer::PymodbusServer(std::vector<std::string> args) {
  std::vector<std::string> argv = {
      PymodbusPython(), std::string(EDGE_SOURCE_DIR) + "/tests/drivers/pymodbus_server.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  process_ = std::make_unique<Subprocess>(Argv(argv));
  // The manifest is the first stdout line, printed once the server listens.
  if (Eventually([&] { return !FirstLine(process_->Stdout()).empty() || !process_->running(); },
                 seconds(20))) {
    manifest_ = FirstLine(process_->Stdout());
  }
}

std::unique_ptr<PymodbusServer> PymodbusServer::Tcp() {
  return std::unique_ptr<PymodbusServer>(new PymodbusServer({"tcp"}));
}

std::unique_ptr<PymodbusServer> PymodbusServer::Rtu(const std::string& serial_device) {
  return std::unique_ptr<PymodbusServer>(new PymodbusServer({"rtu", serial_device}));
}

PtyPair::PtyPair(const std::filesystem::path& dir) : dir_(dir) {
  process_ = std::make_unique<Subprocess>(Argv(
      {"socat", "-d", "-d", "pty,raw,echo=0,link=" + end_a(), "pty,raw,echo=0,link=" + end_b()}));
  ok_ = process_->WaitForOutput("starting data transfer loop", seconds(10)) &&
        std::filesystem::exists(end_a()) && std::filesystem::exists(end_b());
}

}  // namespace edge::testing
