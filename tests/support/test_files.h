// Files for tests: a private scratch directory, and reading files and directory listings
// (golden files, the bad-config corpus, the examples).
//
// Thread-safety: ScratchDir is owned by one test; the functions share no state.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace edge::testing {

// A fresh directory under /tmp, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `text` to path()/relative (creating its parent directories); returns the full path.
  std::filesystem::path Write(const std::string& relative, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

// The whole file; empty if it cannot be read (the caller's comparison then fails).
std::string ReadFile(const std::filesystem::path& path);

// The regular files in `dir` whose extension is `extension` (".yaml"), sorted by name.
std::vector<std::filesystem::path> FilesWithExtension(const std::filesystem::path& dir,
                                                      const std::string& extension);

}  // namespace edge::testing
