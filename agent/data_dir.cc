#include "agent/data_dir.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string_view>
#include <system_error>

namespace edge::agent {
namespace {

namespace fs = std::filesystem;

// Directories the system or other users own; the agent never takes one of them as its own.
constexpr std::array<std::string_view, 26> kSystemPaths = {
    "/",         "/bin",      "/boot",     "/dev",      "/etc",     "/home",   "/lib",
    "/lib64",    "/media",    "/mnt",      "/opt",      "/proc",    "/root",   "/run",
    "/sbin",     "/srv",      "/sys",      "/tmp",      "/usr",     "/var",    "/var/lib",
    "/var/tmp",  "/var/log",  "/usr/local", "/var/run", "/dev/shm"};

std::string Quoted(const std::string& path) { return fmt::format("{:?}", path); }

Status Refuse(const std::string& path, const std::string& why) {
  return Status::InvalidArgument(fmt::format(
      "gateway.data_dir {}: {}; the agent keeps its databases and models in a directory of its "
      "own: name a new path (it is created with mode 0750) or one owned by the agent's user and "
      "writable by no one else",
      Quoted(path), why));
}

// `path` without trailing slashes: "link/" would make lstat follow the link.
std::string Trimmed(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string NormalPath(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) p = path;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

// Takes the path's name in the abstract unix socket namespace: -1 and errno on failure.
int BindPathName(const std::string& normal_path) {
  std::string name = "edge-agent-data-dir:" + normal_path;
  sockaddr_un addr{};
  if (name.size() + 1 > sizeof(addr.sun_path)) {
    name = fmt::format("edge-agent-data-dir#{:016x}", std::hash<std::string>{}(normal_path));
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  addr.sun_family = AF_UNIX;
  addr.sun_path[0] = '\0';
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// Creates a missing data directory: parents as the umask says, the directory itself 0750.
Status Create(const std::string& path) {
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (ec) {
    return Status::IoError("gateway.data_dir " + Quoted(path) + ": cannot create " +
                           parent.string() + ": " + ec.message());
  }
  if (mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
    return Status::IoError("gateway.data_dir " + Quoted(path) + ": cannot create: " +
                           std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

std::string DataDirectoryFault(const std::string& given) {
  const std::string path = Trimmed(given);
  const std::string normal = NormalPath(path);
  for (std::string_view system : kSystemPaths) {
    if (normal == system) return "is a system directory";
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    // Missing, or out of reach (a parent that is not a directory, no permission): Create says
    // why, as a runtime failure (exit 1), since the fault may be the machine's, not the file's.
    return "";
  }
  if (S_ISLNK(st.st_mode)) return "is a symbolic link (name the directory it points at)";
  if (!S_ISDIR(st.st_mode)) return "is not a directory";
  if (st.st_uid != geteuid()) {
    return fmt::format("is owned by uid {}, not by the agent's user (uid {})", st.st_uid,
                       geteuid());
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return fmt::format("is writable by {} (mode {:04o})",
                       (st.st_mode & S_IWOTH) != 0 ? "every user" : "its group",
                       st.st_mode & 07777);
  }
  return "";
}

StatusOr<DataDirectory> DataDirectory::Open(const std::string& given) {
  if (given.empty()) return Refuse(given, "is empty");
  const std::string path = Trimmed(given);
  if (const std::string fault = DataDirectoryFault(path); !fault.empty()) {
    return Refuse(path, fault);
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    EDGE_RETURN_IF_ERROR(Create(path));
    // Whatever now stands there (created by us or by a racing process) passes the checks.
    if (const std::string fault = DataDirectoryFault(path); !fault.empty()) {
      return Refuse(path, fault);
    }
  }

  const int path_fd = BindPathName(NormalPath(path));
  if (path_fd < 0) {
    if (errno == EADDRINUSE) {
      return Status::FailedPrecondition(
          "gateway.data_dir " + Quoted(path) +
          " is in use by another edge-agent (it holds the path's name; it may run on a "
          "directory that was deleted and re-created under it)");
    }
    return Status::IoError("gateway.data_dir " + Quoted(path) +
                           ": cannot take the path's lock socket: " + std::strerror(errno));
  }
  const std::string lock_path = path + "/agent.lock";
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) {
    const int err = errno;
    close(path_fd);
    return Status::IoError("gateway.data_dir " + Quoted(path) + ": cannot create " + lock_path +
                           ": " + std::strerror(err));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(fd);
    close(path_fd);
    if (err == EWOULDBLOCK) {
      return Status::FailedPrecondition("gateway.data_dir " + Quoted(path) +
                                        " is in use by another edge-agent (lock " + lock_path +
                                        " is held)");
    }
    return Status::IoError("gateway.data_dir " + Quoted(path) + ": cannot lock " + lock_path +
                           ": " + std::strerror(err));
  }
  // Record who holds the lock, for a technician looking at the directory.
  if (ftruncate(fd, 0) == 0) {
    const std::string pid = std::to_string(getpid()) + "\n";
    [[maybe_unused]] ssize_t n = pwrite(fd, pid.data(), pid.size(), 0);
  }
  return DataDirectory(path, fd, path_fd);
}

DataDirectory::DataDirectory(DataDirectory&& other) noexcept
    : path_(std::move(other.path_)),
      lock_fd_(other.lock_fd_),
      path_lock_fd_(other.path_lock_fd_) {
  other.lock_fd_ = -1;
  other.path_lock_fd_ = -1;
}

DataDirectory& DataDirectory::operator=(DataDirectory&& other) noexcept {
  if (this != &other) {
    Close();
    path_ = std::move(other.path_);
    lock_fd_ = other.lock_fd_;
    path_lock_fd_ = other.path_lock_fd_;
    other.lock_fd_ = -1;
    other.path_lock_fd_ = -1;
  }
  return *this;
}

void DataDirectory::Close() {
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
  if (path_lock_fd_ >= 0) close(path_lock_fd_);  // frees the path's name
  lock_fd_ = -1;
  path_lock_fd_ = -1;
}

DataDirectory::~DataDirectory() { Close(); }

DataDirWatch DataDirWatch::Take(const std::string& dir, const std::vector<std::string>& files) {
  DataDirWatch watch;
  auto add = [&watch](const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) == 0) watch.entries_.push_back({path, st.st_dev, st.st_ino});
  };
  add(dir);
  for (const std::string& f : files) add(f);
  return watch;
}

std::string DataDirWatch::Check() const {
  for (const Entry& e : entries_) {
    struct stat st {};
    if (stat(e.path.c_str(), &st) != 0) {
      return fmt::format("{} was deleted while the agent runs ({}): what it writes now is lost; "
                         "restart the agent",
                         Quoted(e.path), std::strerror(errno));
    }
    if (st.st_dev != e.dev || st.st_ino != e.ino) {
      return fmt::format("{} was replaced while the agent runs (it is another file now): what "
                         "the agent writes goes to the old one; restart the agent",
                         Quoted(e.path));
    }
  }
  return "";
}

}  // namespace edge::agent
