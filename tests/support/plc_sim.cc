#include "tests/support/plc_sim.h"

#include <modbus.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <regex>

#include "tests/support/last_value_model.h"  // Float32AbcdRegisters

namespace edge::testing {

PlcSim::PlcSim(const std::string& map_path, std::vector<std::string> extra_args, int port) {
  std::vector<std::string> argv = {PLC_SIM_BINARY, "--map", map_path, "--port",
                                   std::to_string(port)};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Subprocess>(SubprocessOptions{.argv = argv});
  if (!process_->WaitForOutput("listening on", std::chrono::seconds(10))) return;
  static const std::regex kPort(R"(listening on [^\s]+:(\d+))");
  std::smatch m;
  const std::string out = process_->Stdout();
  if (std::regex_search(out, m, kPort)) port_ = std::stoi(m[1]);
}

PlcSim::~PlcSim() {
  if (client_ != nullptr) {
    modbus_close(client_);
    modbus_free(client_);
  }
}

std::optional<int> PlcSim::Terminate() {
  process_->Signal(SIGCONT);  // a paused process cannot handle SIGTERM
  process_->Signal(SIGTERM);
  return process_->Wait(std::chrono::seconds(10));
}

bool PlcSim::WriteFloat32(int address, float value) {
  if (client_ == nullptr) {
    client_ = modbus_new_tcp("127.0.0.1", port_);
    if (client_ == nullptr) {
      write_error_ = "modbus_new_tcp: " + std::string(modbus_strerror(errno));
      return false;
    }
    if (modbus_connect(client_) != 0) {
      write_error_ = "modbus_connect: " + std::string(modbus_strerror(errno));
      modbus_free(client_);
      client_ = nullptr;
      return false;
    }
  }
  const std::array<uint16_t, 2> regs = Float32AbcdRegisters(value);
  if (modbus_write_registers(client_, address, 2, regs.data()) != 2) {
    write_error_ = modbus_strerror(errno);
    return false;
  }
  return true;
}

}  // namespace edge::testing
