#include "core/bounded_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace edge {
namespace {

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}

Status TooLarge(unsigned long long size, size_t max_bytes) {
  return Status::InvalidArgument((size == 0 ? std::string("is larger")
                                            : "is " + std::to_string(size) + " bytes,") +
                                 " more than the limit of " + DescribeBound(max_bytes));
}

}  // namespace

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ErrnoFault(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

std::string DescribeBound(size_t bytes) {
  std::string exact = std::to_string(bytes) + " bytes";
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) == 0) {
    return std::to_string(bytes / (1024 * 1024)) + " MiB (" + exact + ")";
  }
  if (bytes >= 1024 && bytes % 1024 == 0) {
    return std::to_string(bytes / 1024) + " KiB (" + exact + ")";
  }
  return exact;
}

StatusOr<FileDescriptor> OpenRegularFile(const std::string& path, size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) return Status::InvalidArgument("cannot open: " + ErrnoFault(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::InvalidArgument("cannot stat: " + ErrnoFault(errno));
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(std::string("is ") + KindOf(st.st_mode) +
                                   ", not a regular file");
  }
  if (static_cast<unsigned long long>(st.st_size) > max_bytes) {
    return TooLarge(static_cast<unsigned long long>(st.st_size), max_bytes);
  }
  // Reads of a regular file do not block anyway; clear the flag for readers that expect none.
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags >= 0) (void)::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes) {
  EDGE_ASSIGN_OR_RETURN(FileDescriptor fd, OpenRegularFile(path, max_bytes));
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::InvalidArgument("cannot read: " + ErrnoFault(errno));
    }
    // The size was checked at open; a file that grows since is held to the same bound.
    if (text.size() + static_cast<size_t>(n) > max_bytes) return TooLarge(0, max_bytes);
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

StatusOr<bool> LineReader::Next(std::string* line) {
  line->clear();
  bool any = false;
  while (true) {
    if (pos_ == len_) {
      if (eof_) break;
      const ssize_t n = ::read(fd_.get(), buf_, sizeof buf_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::InvalidArgument("cannot read: " + ErrnoFault(errno));
      pos_ = 0;
      len_ = static_cast<size_t>(n);
      if (n == 0) {
        eof_ = true;
        break;
      }
    }
    any = true;
    const char* start = buf_ + pos_;
    const void* nl = std::memchr(start, '\n', len_ - pos_);
    const size_t take = nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - start)
                                      : len_ - pos_;
    if (line->size() + take > max_line_bytes_) {
      return Status::InvalidArgument("line " + std::to_string(line_number_ + 1) +
                                     " is longer than the limit of " +
                                     DescribeBound(max_line_bytes_));
    }
    line->append(start, take);
    pos_ += take;
    if (nl != nullptr) {
      ++pos_;
      break;
    }
  }
  if (!any) return false;
  ++line_number_;
  return true;
}

}  // namespace edge
