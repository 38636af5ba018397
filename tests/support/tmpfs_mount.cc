#include "tests/support/tmpfs_mount.h"

#include <sys/mount.h>

#include <string>

namespace edge::testing {

TmpfsMount::TmpfsMount(const std::filesystem::path& dir, size_t size) : dir_(dir) {
  std::filesystem::create_directories(dir);
  // A fresh tmpfs is mode 1777, which the agent refuses as a data directory (agent/data_dir.h).
  const std::string opts = "size=" + std::to_string(size) + ",mode=0750";
  mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
}

TmpfsMount::~TmpfsMount() {
  if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
}

bool TmpfsMount::Resize(size_t size) {
  const std::string opts = "size=" + std::to_string(size);
  return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, opts.c_str()) == 0;
}

}  // namespace edge::testing
