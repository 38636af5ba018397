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
#include <utility>

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

// The lines of an open file, each of at most a bound: a 1 GiB line (or /dev/zero, which has
// none) is refused after the bound, not held. Reads in blocks; one reader per thread.
class LineReader {
 public:
  LineReader(FileDescriptor fd, size_t max_line_bytes)
      : fd_(std::move(fd)), max_line_bytes_(max_line_bytes) {}

  // The next line, without its '\n', into `line`: true, or false at the end of the file.
  // InvalidArgument "line N is longer than the limit of ..." past the bound.
  [[nodiscard]] StatusOr<bool> Next(std::string* line);
  // The 1-based number of the line Next returned last.
  int line_number() const { return line_number_; }

 private:
  FileDescriptor fd_;
  size_t max_line_bytes_;
  char buf_[65536];
  size_t pos_ = 0;
  size_t len_ = 0;
  bool eof_ = false;
  int line_number_ = 0;
};

// "1 MiB (1048576 bytes)": a bound in a message.
std::string DescribeBound(size_t bytes);

}  // namespace edge
