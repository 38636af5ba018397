// Reading a file the user named (a configuration, a password file, a CSV to score) without
// trusting it: it must be a regular file, and what is read of it is bounded.
//
// `check-config /dev/zero` once read until memory ran out, a FIFO blocked the reader forever,
// and a 50 MB configuration made the YAML parser take more than 4 GiB. Every input file goes
// through OpenRegularFile (streaming readers) or ReadBoundedFile (whole-file readers): a
// directory, a device, a FIFO or a socket is refused before a byte is read, as is a file larger
// than its bound (by its size, and again while reading, should it grow).
//
// Statuses are InvalidArgument whose message is the fault of the file only ("is a character
// device, not a regular file"; "is 52428800 bytes, more than the limit of 1048576 bytes"); the
// caller names the file in its own format (FILE:LINE:COL for check-config).
//
// Thread-safety: functions without shared state.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

namespace edge {

// An open descriptor that closes itself.
class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// "no such file or directory": strerror(err), first letter lowercased.
std::string ErrnoFault(int err);

// Opens `path` for reading if it is a regular file of at most `max_bytes` (symbolic links are
// followed). Never blocks on a FIFO.
[[nodiscard]] StatusOr<FileDescriptor> OpenRegularFile(const std::string& path, size_t max_bytes);

// The whole content of the regular file `path`, if it has at most `max_bytes`.
[[nodiscard]] StatusOr<std::string> ReadBoundedFile(const std::string& path, size_t max_bytes);

// "1 MiB (1048576 bytes)": a bound in a message.
std::string DescribeBound(size_t bytes);

}  // namespace edge
