// tools/plc-sim, the libmodbus server the driver tests and benchmarks run against, read with a
// plain libmodbus client: its map formats, CSV replay, port file, error exits and SIGTERM.
#include <gtest/gtest.h>
#include <modbus/modbus.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/plc_sim.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct ModbusDeleter {
  void operator()(modbus_t* ctx) const {
    modbus_close(ctx);
    modbus_free(ctx);
  }
};
using Client = std::unique_ptr<modbus_t, ModbusDeleter>;

Client Connect(int port) {
  Client ctx(modbus_new_tcp("127.0.0.1", port));
  if (ctx == nullptr || modbus_connect(ctx.get()) != 0) return nullptr;
  return ctx;
}

float ReadFloat(modbus_t* ctx, int address) {
  uint16_t regs[2] = {};
  if (modbus_read_registers(ctx, address, 2, regs) != 2) return NAN;
  return modbus_get_float_abcd(regs);
}

TEST(PlcSim, ServesAYamlMapAndAcceptsWrites) {
  ScratchDir dir;
  PlcSim sim(dir.Write("map.yaml", R"(tags:
  - {name: speed, table: holding, address: 10, type: float32, value: 1.25}
  - {name: count, table: input, address: 3, type: uint16, value: 42}
  - {name: run, table: coil, address: 7, type: bool, value: 1}
  - {name: ready, table: discrete, address: 9, type: bool, value: 1}
)"));
  ASSERT_NE(sim.port(), 0) << sim.error();
  Client ctx = Connect(sim.port());
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(ReadFloat(ctx.get(), 10), 1.25f);
  uint16_t reg = 0;
  ASSERT_EQ(modbus_read_input_registers(ctx.get(), 3, 1, &reg), 1);
  EXPECT_EQ(reg, 42);
  uint8_t bits[3] = {};
  ASSERT_EQ(modbus_read_bits(ctx.get(), 6, 3, bits), 3);
  EXPECT_EQ(bits[0], 0);
  EXPECT_EQ(bits[1], 1);
  ASSERT_EQ(modbus_read_input_bits(ctx.get(), 9, 1, bits), 1);
  EXPECT_EQ(bits[0], 1);
  ASSERT_EQ(modbus_write_register(ctx.get(), 500, 0xBEEF), 1);
  ASSERT_EQ(modbus_read_registers(ctx.get(), 500, 1, &reg), 1);
  EXPECT_EQ(reg, 0xBEEF);
}

TEST(PlcSim, ServesACsvMapAndWritesThePortFile) {
  ScratchDir dir;
  const std::string port_file = (dir.path() / "port").string();
  PlcSim sim(dir.Write("map.csv",
                       "name,table,address,type,word_order,length,value\n"
                       "t,holding,0,int32,CDAB,,-2\n"
                       "s,holding,2,string,,1,AB\n"),
             {"--port-file", port_file});
  ASSERT_NE(sim.port(), 0) << sim.error();
  std::ifstream in(port_file);
  int port = 0;
  in >> port;
  EXPECT_EQ(port, sim.port());
  Client ctx = Connect(sim.port());
  ASSERT_NE(ctx, nullptr);
  uint16_t regs[2] = {};
  ASSERT_EQ(modbus_read_registers(ctx.get(), 0, 2, regs), 2);
  EXPECT_EQ(regs[0], 0xFFFE);  // CDAB: low word first
  EXPECT_EQ(regs[1], 0xFFFF);
  ASSERT_EQ(modbus_read_registers(ctx.get(), 2, 1, regs), 1);
  EXPECT_EQ(regs[0], 0x4142);
}

TEST(PlcSim, ReplaysACsvStepByStepThenHoldsTheLastRow) {
  ScratchDir dir;
  const std::string map = dir.Write(
      "map.yaml", "tags:\n  - {name: speed, table: holding, address: 0, type: float32}\n");
  const std::string replay = dir.Write("replay.csv", "ts,speed\nx,1\nx,2\nx,3\nx,4\nx,5\n");
  // 400 ms steps at double speed: a new value every 200 ms.
  PlcSim sim(map, {"--replay", replay, "--step", "400ms", "--speed", "2"});
  ASSERT_NE(sim.port(), 0) << sim.error();
  Client ctx = Connect(sim.port());
  ASSERT_NE(ctx, nullptr);
  std::vector<float> seen;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < milliseconds(1600)) {
    const float v = ReadFloat(ctx.get(), 0);
    if (seen.empty() || seen.back() != v) seen.push_back(v);
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(seen, (std::vector<float>{1, 2, 3, 4, 5}));
}

TEST(PlcSim, RejectsABadMapWithExitCode2) {
  ScratchDir dir;
  const std::string map =
      dir.Write("bad.yaml",
                "tags:\n  - {name: a, table: holding, address: 0, type: float32}\n"
                "  - {name: b, table: holdings, address: 1, type: int16}\n");
  const CommandResult r = RunCommand(
      [&] {
        SubprocessOptions o;
        o.argv = {PLC_SIM_BINARY, "--map", map};
        return o;
      }(),
      seconds(10));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.yaml:3: unknown table 'holdings'"), std::string::npos) << r.err;
}

TEST(PlcSim, ExitsCleanlyOnSigterm) {
  ScratchDir dir;
  PlcSim sim(dir.Write("map.yaml", "tags: []\n"));
  ASSERT_NE(sim.port(), 0) << sim.error();
  Client ctx = Connect(sim.port());  // a connected client does not hold it up
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(sim.Terminate(), 0);
}

}  // namespace
}  // namespace edge::testing
