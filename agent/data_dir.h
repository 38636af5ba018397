// The agent's data directory (gateway.data_dir): created on first start, checked for write
// access, and locked for the life of the process so that two agents never share one database.
//
// The lock is an flock(2) on <data_dir>/agent.lock, released by the kernel when the process
// dies, so a crashed agent never leaves a stale lock behind.
//
// Thread-safety: owned by the main thread; path() may be read from any thread.
#pragma once

#include <string>

#include "core/status.h"

namespace edge::agent {

class DataDirectory {
 public:
  // Creates `path` (and its parents, mode 0750) if missing, checks that files can be created
  // in it, and takes the lock. FailedPrecondition if another process holds the lock.
  static StatusOr<DataDirectory> Open(const std::string& path);

  DataDirectory(DataDirectory&& other) noexcept;
  DataDirectory& operator=(DataDirectory&& other) noexcept;
  DataDirectory(const DataDirectory&) = delete;
  DataDirectory& operator=(const DataDirectory&) = delete;
  ~DataDirectory();

  const std::string& path() const { return path_; }

 private:
  DataDirectory(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}

  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace edge::agent
