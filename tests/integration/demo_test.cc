// The README's demo (scripts/demo.sh), shortened: the same script, the same broker, plc-sim replay
// and reference model (models/skab-pump/), with the binaries of this build instead of installing
// and building, ending after the first alarm message. It asserts that the subscriber received and
// printed an alarm raised by the reference model, about a minute into the replay.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "tests/support/e2e_rig.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;

TEST(DemoTest, ShortenedDemoPrintsAnAlarmFromTheReferenceModel) {
  ScratchDir dir;
  const fs::path build = fs::path(AgentBinary()).parent_path().parent_path();
  ASSERT_TRUE(fs::exists(build / "tools/plc-sim/plc-sim")) << build;
  const auto start = std::chrono::steady_clock::now();
  const CommandResult r =
      RunCommand({.argv = {"bash", (fs::path(SourceDir()) / "scripts/demo.sh").string()},
                  .env = {{"EDGE_DEMO_BUILD_DIR", build.string()},
                          {"EDGE_DEMO_DIR", (dir.path() / "demo").string()},
                          {"EDGE_DEMO_EXIT_AFTER", "1"},
                          {"EDGE_DEMO_TIMEOUT", "240"}}},
                 std::chrono::seconds(300));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string agent_log = ReadFile(dir.path() / "demo/agent.log");
  ASSERT_EQ(r.exit_code, 0) << "stdout:\n"
                            << r.out << "\nstderr:\n"
                            << r.err << "\nagent log:\n"
                            << agent_log;
  EXPECT_NE(r.out.find("is online"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ALARM RAISED  pump1 on demo-line-pc"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model skab-pump 1.0.0"), std::string::npos) << r.out;
  EXPECT_NE(agent_log.find("alarm raised for pump1"), std::string::npos) << agent_log;
  std::printf("  first alarm after %.0f s (demo start to subscriber)\n", seconds);
}

}  // namespace
}  // namespace edge::testing
