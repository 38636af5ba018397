// ReadStateFile on a real directory: a good file is read, an absent one is absent, and a damaged
// one is moved aside, counted, and never fails the caller.
#include "core/state_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/test_files.h"

namespace edge {
namespace {

namespace fs = std::filesystem;

Status AcceptOnlyOk(std::string_view text) {
  return text == "ok" ? Status::Ok() : Status::InvalidArgument("not ok");
}

std::vector<std::string> AsideFiles(const fs::path& dir, const std::string& name) {
  std::vector<std::string> found;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string file = e.path().filename().string();
    if (file.rfind(name + ".damaged-", 0) == 0) found.push_back(file);
  }
  return found;
}

TEST(StateFile, AnAbsentFileIsNotDamaged) {
  edge::testing::ScratchDir dir;
  const uint64_t before = DamagedStateFiles();
  EXPECT_EQ(ReadStateFile(dir.path() / "state", 100, AcceptOnlyOk), StateFileRead::kAbsent);
  EXPECT_EQ(DamagedStateFiles(), before);
}

TEST(StateFile, AGoodFileStaysADamagedOneIsMovedAsideAndCounted) {
  edge::testing::ScratchDir dir;
  const uint64_t before = DamagedStateFiles();
  const fs::path path = dir.Write("state", "ok");
  EXPECT_EQ(ReadStateFile(path, 100, AcceptOnlyOk), StateFileRead::kRead);
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(DamagedStateFiles(), before);

  dir.Write("state", "garbage");
  EXPECT_EQ(ReadStateFile(path, 100, AcceptOnlyOk), StateFileRead::kDamaged);
  EXPECT_FALSE(fs::exists(path));
  const std::vector<std::string> aside = AsideFiles(dir.path(), "state");
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(edge::testing::ReadFile(dir.path() / aside[0]), "garbage");  // kept for a technician
  EXPECT_EQ(DamagedStateFiles(), before + 1);

  dir.Write("state", "garbage again");  // a second damaged copy never replaces the first
  EXPECT_EQ(ReadStateFile(path, 100, AcceptOnlyOk), StateFileRead::kDamaged);
  EXPECT_EQ(AsideFiles(dir.path(), "state").size(), 2u);
}

TEST(StateFile, AFileOverTheSizeCapIsDamagedWithoutParsing) {
  edge::testing::ScratchDir dir;
  const fs::path path = dir.Write("state", std::string(200, 'x'));
  bool parsed = false;
  EXPECT_EQ(ReadStateFile(path, 100,
                          [&parsed](std::string_view) {
                            parsed = true;
                            return Status::Ok();
                          }),
            StateFileRead::kDamaged);
  EXPECT_FALSE(parsed);
  EXPECT_EQ(AsideFiles(dir.path(), "state").size(), 1u);
}

}  // namespace
}  // namespace edge
