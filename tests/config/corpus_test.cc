// Golden files: every tests/config/bad/NAME.yaml must produce exactly the diagnostics in
// NAME.expected (what `cd tests/config/bad && edge-agent check-config NAME.yaml` prints on
// stderr), and every config/examples/*.yaml must load without a single one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/config_loader.h"
#include "tests/support/test_files.h"

namespace edge::config {
namespace {

namespace fs = std::filesystem;

const fs::path kBadDir = fs::path(EDGE_SOURCE_DIR) / "tests/config/bad";
const fs::path kExamplesDir = fs::path(EDGE_SOURCE_DIR) / "config/examples";
constexpr size_t kMinimumCorpus = 35;

using edge::testing::FilesWithExtension;
using edge::testing::ReadFile;
using edge::testing::ScratchDir;

std::string Joined(const LoadResult& r) {
  std::string out;
  for (const Diagnostic& d : r.errors) out += d.ToString() + "\n";
  return out;
}

// git keeps no file modes but the executable bit, and secret files must not be readable by every
// user: the fixtures get their modes here (tests/config/CMakeLists.txt sets the same ones at
// configure time, for the check-config tests in tests/integration).
class FixtureModes : public ::testing::Environment {
 public:
  void SetUp() override {
    using P = fs::perms;
    const P group = P::owner_read | P::owner_write | P::group_read;
    fs::permissions(kBadDir / "data/mqtt.pass", group);
    fs::permissions(kBadDir / "data/world-readable.pass", group | P::others_read);
    fs::permissions(kBadDir / "data/world-readable.key", group | P::others_read);
  }
};
const ::testing::Environment* const kFixtureModes =
    ::testing::AddGlobalTestEnvironment(new FixtureModes);

TEST(BadCorpus, HasEnoughCases) {
  EXPECT_GE(FilesWithExtension(kBadDir, ".yaml").size(), kMinimumCorpus);
}

TEST(BadCorpus, EveryCaseHasItsExpectedOutput) {
  for (const fs::path& yaml : FilesWithExtension(kBadDir, ".yaml")) {
    EXPECT_TRUE(fs::exists(fs::path(yaml).replace_extension(".expected"))) << yaml;
  }
  for (const fs::path& expected : FilesWithExtension(kBadDir, ".expected")) {
    EXPECT_TRUE(fs::exists(fs::path(expected).replace_extension(".yaml"))) << expected;
  }
}

TEST(BadCorpus, MatchesExpectedDiagnostics) {
  for (const fs::path& yaml : FilesWithExtension(kBadDir, ".yaml")) {
    SCOPED_TRACE(yaml.filename().string());
    const LoadResult r =
        LoadConfigString(ReadFile(yaml), yaml.filename().string(), kBadDir.string());
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.config.has_value());
    EXPECT_EQ(Joined(r), ReadFile(fs::path(yaml).replace_extension(".expected")));
  }
}

// The check-config way: a path relative to the working directory, resolved from there.
TEST(BadCorpus, MatchesExpectedDiagnosticsThroughLoadConfigFile) {
  const fs::path cwd = fs::current_path();
  fs::current_path(kBadDir);
  for (const fs::path& yaml : FilesWithExtension(kBadDir, ".yaml")) {
    SCOPED_TRACE(yaml.filename().string());
    const LoadResult r = LoadConfigFile(yaml.filename().string());
    EXPECT_EQ(Joined(r), ReadFile(fs::path(yaml).replace_extension(".expected")));
  }
  fs::current_path(cwd);
}

TEST(Examples, LoadWithoutErrors) {
  const std::vector<fs::path> examples = FilesWithExtension(kExamplesDir, ".yaml");
  EXPECT_GE(examples.size(), 4u);
  for (const fs::path& yaml : examples) {
    const LoadResult r = LoadConfigFile(yaml.string());
    EXPECT_TRUE(r.ok()) << Joined(r);
    ASSERT_TRUE(r.config.has_value()) << yaml;
    const AgentConfig& c = *r.config;
    EXPECT_FALSE(c.modbus.empty() && c.mqtt_sources.empty()) << yaml << " reads nothing";
  }
}

// A new user runs check-config on an example right after `git clone`: git keeps no modes but
// the executable bit, so every file of the examples is 0644 then (0664 with umask 002), and the
// examples must not depend on a mode git cannot keep. A copy with those modes must load.
TEST(Examples, PassAsAFreshCloneHasThem) {
  ScratchDir dir;
  const fs::path copy = dir.path() / "examples";
  fs::copy(kExamplesDir, copy, fs::copy_options::recursive);
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(copy)) {
    if (!e.is_regular_file()) continue;
    using P = fs::perms;
    fs::permissions(e.path(), P::owner_read | P::owner_write | P::group_read | P::group_write |
                                  P::others_read);
  }
  const std::vector<fs::path> examples = FilesWithExtension(copy, ".yaml");
  EXPECT_GE(examples.size(), 4u);
  for (const fs::path& yaml : examples) {
    const LoadResult r = LoadConfigFile(yaml.string());
    EXPECT_TRUE(r.ok()) << Joined(r);
  }
}

TEST(Examples, FullLineWiresTheSkabPumpModel) {
  const LoadResult r = LoadConfigFile((kExamplesDir / "full-line.yaml").string());
  ASSERT_TRUE(r.ok()) << Joined(r);
  const AgentConfig& c = *r.config;
  ASSERT_TRUE(c.upstream.has_value());
  ASSERT_TRUE(c.models.repository.has_value());
  EXPECT_EQ(c.models.repository->trusted_keys,
            std::vector<std::string>{(kExamplesDir / "keys/repo.pub").lexically_normal().string()});
  ASSERT_EQ(c.models.deployments.size(), 1u);
  const Deployment& pump = c.models.deployments[0];
  std::vector<std::string> features;
  for (const auto& [feature, tag] : pump.inputs) features.push_back(feature);
  EXPECT_EQ(features, (std::vector<std::string>{"Accelerometer1RMS", "Accelerometer2RMS", "Current",
                                                "Pressure", "Temperature", "Thermocouple",
                                                "Voltage", "Volume Flow RateRMS"}));
  EXPECT_EQ(pump.inputs.at("Accelerometer1RMS"), "pump1.acc1");
  EXPECT_EQ(c.http.listen, "127.0.0.1:9108");
}

TEST(Examples, FullLineSendsPumpAggregatesAndAlarmContext) {
  const LoadResult r = LoadConfigFile((kExamplesDir / "full-line.yaml").string());
  ASSERT_TRUE(r.ok()) << Joined(r);
  const UplinkConfig& u = r.config->uplink;
  ASSERT_EQ(u.telemetry.size(), 1u);
  const TelemetryStream& s = u.telemetry[0];
  EXPECT_EQ(s.name, "pump1-10s");
  EXPECT_EQ(s.tags, std::vector<std::string>{"pump1.*"});
  EXPECT_EQ(s.mode, TelemetryStream::Mode::kAggregate);
  EXPECT_EQ(s.period, std::chrono::seconds(10));
  EXPECT_EQ(s.encoding, TelemetryStream::Encoding::kInflux);
  EXPECT_EQ(s.max_rate_bytes, 64u * 1024);
  EXPECT_FALSE(s.start_oldest);
  EXPECT_TRUE(u.alarm_context.enabled);
}

}  // namespace
}  // namespace edge::config
