// The checks on the files a configuration names (password files, TLS files, trusted keys, model
// packages, the configuration file itself), without YAML: whether the agent can read them, and
// whether a file holding a secret is readable by every user.
//
// Errors are InvalidArgument Statuses whose message describes the fault of the file only
// ("cannot read 'ca.pem': no such file or directory"); the loader prefixes the key path and
// position. `given` is the path as written in the configuration (messages quote it), `path` the
// same path resolved against the configuration file's directory (ResolvePath).
//
// Thread-safety: functions without shared state; concurrent calls are safe.
#pragma once

#include <filesystem>
#include <string>

#include "core/status.h"

namespace edge::config {

// `path` made absolute against `base_dir` (itself absolute) and normalised.
std::string ResolvePath(const std::filesystem::path& base_dir, const std::string& path);

// strerror(err) as a message fragment, first letter lowercased: "no such file or directory".
std::string ErrnoText(int err);

// The largest file a configuration may name for the agent to read (a password, a key, a
// certificate or CA bundle; /etc/ssl/certs/ca-certificates.crt is about 200 KiB).
inline constexpr size_t kMaxReferencedFileBytes = size_t{1} << 20;

// A regular file the agent can open for reading, of at most kMaxReferencedFileBytes (not a
// directory, a device or a FIFO).
[[nodiscard]] Status CheckReadableFile(const std::string& given, const std::string& path);

// A file holding a secret (a password, a private key): readable, and not by every user.
// Group-readable stays allowed (a service group may share it).
[[nodiscard]] Status CheckSecretFile(const std::string& given, const std::string& path);

// The fault of a secret file whose mode lets every user read it: "is readable by every user
// (mode 0644); chmod 600 or 640 it"; "" when it is not world-readable (or cannot be stat'ed:
// opening it reports that). Shared with `edge-agent model pack` (its private key).
std::string WorldReadableFault(const std::string& path);

// A model package directory: readable and holding a readable manifest.json.
[[nodiscard]] Status CheckPackageDir(const std::string& given, const std::string& path);

// A readable file that holds a PEM public key; catches the private key given by mistake.
// REQUIRES: CheckReadableFile(given, path) passed.
[[nodiscard]] Status CheckPublicKeyFile(const std::string& given, const std::string& path);

}  // namespace edge::config
