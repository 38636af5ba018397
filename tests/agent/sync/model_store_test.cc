// ModelStore on a real directory: installs, rollbacks, and the states a crash can leave behind.
#include "agent/sync/model_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "core/state_file.h"
#include "tests/support/test_files.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using inference::ModelVersion;

ModelVersion V(const char* text) { return *inference::ParseModelVersion(text); }

class ModelStoreTest : public ::testing::Test {
 protected:
  // Stages and commits a package directory holding one file naming the version.
  void Install(const char* version) {
    StatusOr<fs::path> staging = store_.Stage(V(version));
    ASSERT_TRUE(staging.ok()) << staging.status().message();
    std::ofstream(*staging / "manifest.json") << version;
    const Status s = store_.Commit(*staging, V(version), SystemClockInstance().Now());
    ASSERT_TRUE(s.ok()) << s.message();
  }
  InstalledModel Read() {
    StatusOr<InstalledModel> installed = store_.Read();
    EXPECT_TRUE(installed.ok()) << installed.status().message();
    return installed.ok() ? *installed : InstalledModel{};
  }

  edge::testing::ScratchDir dir_;
  ModelStore store_{dir_.path(), "pump"};
};

TEST_F(ModelStoreTest, NothingInstalledAtFirst) {
  const InstalledModel installed = Read();
  EXPECT_FALSE(installed.current);
  EXPECT_FALSE(installed.previous);
  EXPECT_FALSE(installed.highest);
  EXPECT_EQ(store_.dir(), dir_.path() / "models" / "pump");
}

TEST_F(ModelStoreTest, EachCommitBecomesCurrentAndTheOldOneIsKeptForRollback) {
  Install("1.0.0");
  InstalledModel installed = Read();
  EXPECT_EQ(installed.current, V("1.0.0"));
  EXPECT_FALSE(installed.previous);
  EXPECT_EQ(installed.highest, V("1.0.0"));
  EXPECT_TRUE(installed.installed_at.has_value());
  EXPECT_EQ(edge::testing::ReadFile(store_.dir() / "current" / "manifest.json"), "1.0.0");

  Install("1.1.0");
  Install("1.10.0");
  installed = Read();
  EXPECT_EQ(installed.current, V("1.10.0"));
  EXPECT_EQ(installed.previous, V("1.1.0"));
  EXPECT_EQ(installed.highest, V("1.10.0"));
  // Only current and previous stay on disk; no staging is left.
  EXPECT_FALSE(fs::exists(store_.dir() / "1.0.0"));
  EXPECT_TRUE(fs::is_directory(store_.dir() / "1.1.0"));
  EXPECT_FALSE(fs::exists(store_.dir() / ".staging-1.10.0"));
  EXPECT_EQ(fs::read_symlink(store_.dir() / "current"), fs::path("1.10.0"));  // relative
}

TEST_F(ModelStoreTest, RollBackReturnsToPreviousAndTheBadVersionStaysTheHighest) {
  Install("1.0.0");
  Install("1.1.0");
  StatusOr<std::optional<ModelVersion>> back = store_.RollBack(V("1.1.0"));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, V("1.0.0"));
  const InstalledModel installed = Read();
  EXPECT_EQ(installed.current, V("1.0.0"));
  EXPECT_FALSE(installed.previous);
  EXPECT_EQ(installed.highest, V("1.1.0"));          // so 1.1.0 is never installed again
  EXPECT_FALSE(installed.installed_at.has_value());  // 1.0.0 is not a fresh install
  EXPECT_FALSE(fs::exists(store_.dir() / "1.1.0"));
  EXPECT_EQ(edge::testing::ReadFile(store_.dir() / "current" / "manifest.json"), "1.0.0");
}

TEST_F(ModelStoreTest, RollBackWithoutPreviousLeavesNoCurrent) {
  Install("2.0.0");
  StatusOr<std::optional<ModelVersion>> back = store_.RollBack(V("2.0.0"));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_FALSE(back->has_value());
  const InstalledModel installed = Read();
  EXPECT_FALSE(installed.current);
  EXPECT_EQ(installed.highest, V("2.0.0"));
}

TEST_F(ModelStoreTest, CrashBeforeStateIsWrittenStillBoundsTheHighestByCurrent) {
  Install("1.0.0");
  // What a crash right after the link swap of 1.2.0 leaves: current moved, state.json not.
  fs::create_directory(store_.dir() / "1.2.0");
  fs::remove(store_.dir() / "current");
  fs::create_directory_symlink("1.2.0", store_.dir() / "current");
  const InstalledModel installed = Read();
  EXPECT_EQ(installed.current, V("1.2.0"));
  EXPECT_EQ(installed.highest, V("1.2.0"));
  EXPECT_FALSE(installed.installed_at.has_value());  // state.json speaks of 1.0.0
}

TEST_F(ModelStoreTest, LinksToMissingOrForeignTargetsCountAsAbsent) {
  fs::create_directories(store_.dir());
  fs::create_directory_symlink("1.0.0", store_.dir() / "current");  // no such directory
  fs::create_directory_symlink("../../etc", store_.dir() / "previous");
  std::ofstream(store_.dir() / "state.json") << "{not json";
  const InstalledModel installed = Read();
  EXPECT_FALSE(installed.current);
  EXPECT_FALSE(installed.previous);
  EXPECT_FALSE(installed.highest);
}

TEST_F(ModelStoreTest, ADamagedStateFileIsMovedAsideAndCurrentStillBoundsTheHighest) {
  Install("1.0.0");
  for (const char* text : {R"({"highest": 2})", R"({"highest": "1.0.0", "installed_at": 5})",
                           R"({"highest": "not a version"})", R"({"rolled_back": "1.1.0"})", "[]",
                           "{\"highest\": \"1."}) {
    SCOPED_TRACE(text);
    std::ofstream(store_.dir() / "state.json") << text;
    const uint64_t before = DamagedStateFiles();
    const InstalledModel installed = Read();
    EXPECT_EQ(installed.current, V("1.0.0"));
    EXPECT_EQ(installed.highest, V("1.0.0"));
    EXPECT_FALSE(installed.installed_at.has_value());
    EXPECT_FALSE(fs::exists(store_.dir() / "state.json"));
    EXPECT_EQ(DamagedStateFiles(), before + 1);
  }
  size_t aside = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(store_.dir())) {
    aside += e.path().filename().string().rfind("state.json.damaged-", 0) == 0;
  }
  EXPECT_EQ(aside, 6u);
  Install("1.1.0");  // the next install writes a good one; Clean() leaves the damaged ones
  EXPECT_EQ(Read().highest, V("1.1.0"));
  EXPECT_TRUE(Read().installed_at.has_value());
}

TEST_F(ModelStoreTest, CleanRemovesInterruptedWorkAndKeepsWhatIsNotOurs) {
  Install("1.0.0");
  fs::create_directories(store_.dir() / ".staging-1.1.0");
  std::ofstream(store_.dir() / ".staging-1.1.0" / "model.onnx") << "partial";
  fs::create_directories(store_.dir() / "0.9.0");  // an old version left by a crash
  fs::create_directories(store_.dir() / "notes");  // a technician's folder
  store_.Clean();
  EXPECT_FALSE(fs::exists(store_.dir() / ".staging-1.1.0"));
  EXPECT_FALSE(fs::exists(store_.dir() / "0.9.0"));
  EXPECT_TRUE(fs::exists(store_.dir() / "notes"));
  EXPECT_TRUE(fs::exists(store_.dir() / "1.0.0" / "manifest.json"));
  EXPECT_EQ(Read().current, V("1.0.0"));
}

TEST_F(ModelStoreTest, AStaleDirectoryOfTheSameVersionIsReplacedByTheCompleteOne) {
  Install("1.0.0");
  // A crash after the rename of 1.1.0 but before its link swap, then an install of 1.1.0 again.
  fs::create_directories(store_.dir() / "1.1.0");
  std::ofstream(store_.dir() / "1.1.0" / "stale") << "x";
  Install("1.1.0");
  EXPECT_FALSE(fs::exists(store_.dir() / "1.1.0" / "stale"));
  EXPECT_EQ(edge::testing::ReadFile(store_.dir() / "current" / "manifest.json"), "1.1.0");
  EXPECT_EQ(Read().previous, V("1.0.0"));
}

}  // namespace
}  // namespace edge::agent
