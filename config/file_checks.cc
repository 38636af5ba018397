#include "config/file_checks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "core/bounded_file.h"
#include "core/quoted.h"

namespace edge::config {
namespace {

std::string FileError(const std::string& given, const std::string& what) {
  std::string msg = "cannot read " + Quoted(given) + ": " + what;
  if (!std::filesystem::path(given).is_absolute()) {
    msg += " (relative paths start at the configuration file's directory)";
  }
  return msg;
}

}  // namespace

std::string ResolvePath(const std::filesystem::path& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (base_dir / p).lexically_normal().string();
}

std::string ErrnoText(int err) { return ErrnoFault(err); }

Status CheckReadableFile(const std::string& given, const std::string& path) {
  // A regular file within the bound (core/bounded_file.h): a FIFO named by mistake must not
  // hang the load, /dev/zero must not be read by whoever reads the file next.
  StatusOr<FileDescriptor> fd = OpenRegularFile(path, kMaxReferencedFileBytes);
  if (!fd.ok()) {
    std::string_view fault = fd.status().message();
    if (fault.rfind("cannot open: ", 0) == 0) fault.remove_prefix(13);
    return Status::InvalidArgument(FileError(given, std::string(fault)));
  }
  return Status::Ok();
}

Status CheckSecretFile(const std::string& given, const std::string& path) {
  EDGE_RETURN_IF_ERROR(CheckReadableFile(given, path));
  if (std::string fault = WorldReadableFault(path); !fault.empty()) {
    return Status::InvalidArgument(Quoted(given) + " " + fault);
  }
  return Status::Ok();
}

std::string WorldReadableFault(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || (st.st_mode & S_IROTH) == 0) return "";
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return std::string("is readable by every user (mode ") + mode + "); chmod 600 or 640 it";
}

Status CheckPackageDir(const std::string& given, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (fd < 0) {
    return Status::InvalidArgument(
        FileError(given, errno == ENOTDIR ? "not a directory" : ErrnoText(errno)));
  }
  ::close(fd);
  if (::access((path + "/manifest.json").c_str(), R_OK) != 0) {
    return Status::InvalidArgument(Quoted(given) +
                                   " has no readable manifest.json; is it a model package?");
  }
  return Status::Ok();
}

Status CheckPublicKeyFile(const std::string& given, const std::string& path) {
  std::ifstream in(path);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.find("PRIVATE KEY-----") != std::string::npos) {
    return Status::InvalidArgument(Quoted(given) +
                                   " is a private key; give the public key (keep the private "
                                   "one off the line PC)");
  }
  if (head.find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
    return Status::InvalidArgument(Quoted(given) +
                                   " is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  return Status::Ok();
}

}  // namespace edge::config
