// A size-limited tmpfs mounted over a directory for disk-full tests, unmounted on destruction.
// mounted() is false when this process may not mount (not root, or no CAP_SYS_ADMIN in a
// container); a test then says so rather than passing.
//
// Thread-safety: one owner thread.
#pragma once

#include <cstddef>
#include <filesystem>

namespace edge::testing {

class TmpfsMount {
 public:
  TmpfsMount(const std::filesystem::path& dir, size_t size);
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  // Remounts with a new size (space comes back, or goes away, under the running process).
  bool Resize(size_t size);
  bool mounted() const { return mounted_; }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

}  // namespace edge::testing
