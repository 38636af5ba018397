// The agent's data directory (gateway.data_dir): created on first start, refused when it is not
// plausibly the agent's own, locked for the life of the process so that two agents never share
// one database, and watched for being deleted or replaced while the agent runs (issue #23 items
// 11 and 12).
//
// Ownership. A directory that does not exist is created (parents as the umask says, the
// directory itself 0750) and is the agent's. An existing one is used as it is (never chmod'ed:
// that would change whatever the path points at) if it is plausibly the agent's: a real
// directory, not a symlink; owned by the agent's user; writable by no one else (neither group
// nor others); and not a system path (/, /etc, /usr, /var, /tmp, /home, ...). Anything else is
// refused with InvalidArgument (exit code 2) naming gateway.data_dir, the path and the fault.
//
// Locks, two of them, both released by the kernel when the process dies (a crashed agent never
// leaves a stale lock):
//  - flock(2) on <data_dir>/agent.lock: two agents on one directory, however it is named;
//  - an abstract unix socket named after the absolute configured path: a file lock lives in the
//    directory and disappears with it, so a second agent started on a path that was deleted and
//    re-created under the first would find a fresh, unlocked file. The socket name belongs to
//    the path, not the directory, and stays taken while the first agent runs. (Abstract sockets
//    are per network namespace: agents in different namespaces are told apart by the flock only.)
//
// Watching. DataDirWatch records the device and inode of the directory and of the files the
// agent keeps open in it; Check() re-stats them (three stat calls, on each /health and status
// log) and names the first that is gone or replaced: the agent would otherwise go on writing to
// deleted files, and its readings would be lost at the next start.
//
// Thread-safety: DataDirectory is owned by the main thread; path() may be read from any thread.
// DataDirWatch::Check() is const and may run on any thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/status.h"

namespace edge::agent {

class DataDirectory {
 public:
  // Creates `path` if missing, refuses it if it is not plausibly ours (see above), checks that
  // files can be created in it, and takes both locks. FailedPrecondition if another agent holds
  // either lock.
  static StatusOr<DataDirectory> Open(const std::string& path);

  DataDirectory(DataDirectory&& other) noexcept;
  DataDirectory& operator=(DataDirectory&& other) noexcept;
  DataDirectory(const DataDirectory&) = delete;
  DataDirectory& operator=(const DataDirectory&) = delete;
  ~DataDirectory();

  const std::string& path() const { return path_; }

 private:
  DataDirectory(std::string path, int lock_fd, int path_lock_fd)
      : path_(std::move(path)), lock_fd_(lock_fd), path_lock_fd_(path_lock_fd) {}
  void Close();

  std::string path_;
  int lock_fd_ = -1;       // <path>/agent.lock, flock'ed
  int path_lock_fd_ = -1;  // the abstract socket bound to the path's name
};

// Why `path` cannot be the data directory ("" if it can), without creating or changing
// anything: the checks of DataDirectory::Open on an existing directory.
std::string DataDirectoryFault(const std::string& path);

class DataDirWatch {
 public:
  // Records the identity of `dir` and of each of `files` (paths inside it) that exists now.
  static DataDirWatch Take(const std::string& dir, const std::vector<std::string>& files);

  // "" while every recorded path still names the same file; otherwise which one was deleted or
  // replaced.
  std::string Check() const;

 private:
  struct Entry {
    std::string path;
    dev_t dev = 0;
    ino_t ino = 0;
  };
  std::vector<Entry> entries_;
};

}  // namespace edge::agent
