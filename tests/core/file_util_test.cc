#include "core/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "tests/support/test_files.h"

namespace edge {
namespace {

namespace fs = std::filesystem;
using edge::testing::ReadFile;
using edge::testing::ScratchDir;

TEST(FileUtil, WriteFileDurablyReplacesWholeFilesAndLeavesNoTemporaries) {
  ScratchDir dir;
  const fs::path latest = dir.path() / "latest.json";
  ASSERT_TRUE(WriteFileDurably(latest, R"({"version":"1.0.0"})").ok());
  EXPECT_EQ(ReadFile(latest), R"({"version":"1.0.0"})");
  ASSERT_TRUE(WriteFileDurably(latest, R"({"version":"1.10.0"})", 0600).ok());
  EXPECT_EQ(ReadFile(latest), R"({"version":"1.10.0"})");
  struct stat st {};
  ASSERT_EQ(::stat(latest.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(FileUtil, WriteFileDurablyFailsCleanlyWhereItCannotWrite) {
  ScratchDir dir;
  const Status s = WriteFileDurably(dir.path() / "missing-dir" / "x.json", "{}");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find("missing-dir"), std::string::npos) << s.message();
}

TEST(FileUtil, ReadFileToStringNamesTheFileAndHonoursTheLimit) {
  ScratchDir dir;
  const fs::path f = dir.Write("m.json", std::string(100, 'x'));
  StatusOr<std::string> all = ReadFileToString(f);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 100u);
  const Status big = ReadFileToString(f, 99).status();
  EXPECT_EQ(big.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(big.message().find("m.json: is 100 bytes, more than the limit of 99 bytes"), std::string::npos)
      << big.message();
  const Status missing = ReadFileToString(dir.path() / "nope").status();
  EXPECT_NE(missing.message().find("nope: cannot open"), std::string::npos) << missing.message();
}

}  // namespace
}  // namespace edge
