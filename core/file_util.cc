#include "core/file_util.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/bounded_file.h"

namespace edge {
namespace {

Status Errno(std::string_view what, const std::filesystem::path& path) {
  return Status::IoError(fmt::format("{}: {}: {}", path.string(), what, std::strerror(errno)));
}

}  // namespace

StatusOr<std::string> ReadFileToString(const std::filesystem::path& path, size_t max_bytes) {
  // Bounded, and only a regular file: /dev/zero or a FIFO named by mistake must not hang or
  // exhaust memory (core/bounded_file.h).
  StatusOr<std::string> text = ReadBoundedFile(path.string(), max_bytes);
  if (!text.ok()) {
    return Status::InvalidArgument(fmt::format("{}: {}", path.string(), text.status().message()));
  }
  return text;
}

Status FsyncDirectory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open directory", dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("fsync", dir);
  return Status::Ok();
}

Status WriteFileDurably(const std::filesystem::path& path, std::string_view bytes, int mode) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  const std::filesystem::path tmp =
      dir / fmt::format(".{}.tmp-{}", path.filename().string(), ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Errno("cannot create", tmp);
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const Status s = Errno("write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const Status s = Errno("fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const Status s = Errno("rename into place", path);
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDirectory(dir);
}

}  // namespace edge
