#include "agent/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace edge::agent {

StatusOr<DataDirectory> DataDirectory::Open(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) {
    return Status::IoError("data directory " + path + ": cannot create: " + ec.message());
  }
  if (!fs::is_directory(path, ec)) {
    return Status::IoError("data directory " + path + ": not a directory");
  }
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec,
                  fs::perm_options::replace, ec);  // best effort: the unit may own it instead

  const std::string lock_path = path + "/agent.lock";
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return Status::IoError("data directory " + path + ": cannot create " + lock_path + ": " +
                           std::strerror(errno));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(fd);
    if (err == EWOULDBLOCK) {
      return Status::FailedPrecondition("data directory " + path +
                                        " is in use by another edge-agent (lock " + lock_path +
                                        " is held)");
    }
    return Status::IoError("data directory " + path + ": cannot lock " + lock_path + ": " +
                           std::strerror(err));
  }
  // Record who holds the lock, for a technician looking at the directory.
  if (ftruncate(fd, 0) == 0) {
    const std::string pid = std::to_string(getpid()) + "\n";
    [[maybe_unused]] ssize_t n = pwrite(fd, pid.data(), pid.size(), 0);
  }
  return DataDirectory(path, fd);
}

DataDirectory::DataDirectory(DataDirectory&& other) noexcept
    : path_(std::move(other.path_)), lock_fd_(other.lock_fd_) {
  other.lock_fd_ = -1;
}

DataDirectory& DataDirectory::operator=(DataDirectory&& other) noexcept {
  if (this != &other) {
    if (lock_fd_ >= 0) close(lock_fd_);
    path_ = std::move(other.path_);
    lock_fd_ = other.lock_fd_;
    other.lock_fd_ = -1;
  }
  return *this;
}

DataDirectory::~DataDirectory() {
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

}  // namespace edge::agent
