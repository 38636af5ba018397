#include "core/bounded_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/support/test_files.h"

namespace edge {
namespace {

namespace fs = std::filesystem;
using edge::testing::ScratchDir;

std::string Fault(const StatusOr<std::string>& r) { return r.ok() ? "ok" : r.status().message(); }

TEST(BoundedFile, ReadsARegularFileWithinItsBound) {
  ScratchDir dir;
  const fs::path f = dir.Write("a.yaml", "gateway: {id: x}\n");
  StatusOr<std::string> text = ReadBoundedFile(f.string(), 17);
  ASSERT_TRUE(text.ok()) << text.status().message();
  EXPECT_EQ(*text, "gateway: {id: x}\n");
  EXPECT_EQ(Fault(ReadBoundedFile(f.string(), 16)),
            "is 17 bytes, more than the limit of 16 bytes");
}

TEST(BoundedFile, RefusesDevicesDirectoriesAndFifosWithoutReading) {
  ScratchDir dir;
  EXPECT_EQ(Fault(ReadBoundedFile("/dev/zero", 1 << 20)),
            "is a character device, not a regular file");
  EXPECT_EQ(Fault(ReadBoundedFile(dir.path().string(), 1 << 20)),
            "is a directory, not a regular file");
  const fs::path fifo = dir.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Would block forever waiting for a writer if it were opened or read as a file.
  EXPECT_EQ(Fault(ReadBoundedFile(fifo.string(), 1 << 20)), "is a FIFO, not a regular file");
  EXPECT_EQ(Fault(ReadBoundedFile((dir.path() / "none").string(), 1 << 20)),
            "cannot open: no such file or directory");
}

TEST(BoundedFile, AHugeSparseFileIsRefusedByItsSize) {
  ScratchDir dir;
  const fs::path f = dir.Write("big.yaml", "");
  ASSERT_EQ(::truncate(f.c_str(), off_t{50} << 30), 0);  // 50 GiB, no disk used
  EXPECT_EQ(Fault(ReadBoundedFile(f.string(), size_t{1} << 20)),
            "is 53687091200 bytes, more than the limit of 1 MiB (1048576 bytes)");
  StatusOr<FileDescriptor> fd = OpenRegularFile(f.string(), size_t{1} << 20);
  EXPECT_FALSE(fd.ok());
}

TEST(BoundedFile, DescribeBound) {
  EXPECT_EQ(DescribeBound(1048576), "1 MiB (1048576 bytes)");
  EXPECT_EQ(DescribeBound(4096), "4 KiB (4096 bytes)");
  EXPECT_EQ(DescribeBound(99), "99 bytes");
}

}  // namespace
}  // namespace edge
