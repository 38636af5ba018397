// Loads the agent's YAML configuration file into an AgentConfig and validates every value.
//
// All faults of a file are reported in one run, each as a Diagnostic with the line and column
// of the offending node (the value for a bad value, the key for an unknown or duplicate key,
// the enclosing mapping for a missing required key), sorted by position. A YAML syntax error
// stops parsing and is the single diagnostic. The key set, defaults and ranges are documented
// in config/REFERENCE.md, which is kept in step with this loader.
//
// Paths in the file (password_file, tls files, trusted_keys, package, data_dir) that are
// relative are resolved against the directory of the configuration file; the AgentConfig
// holds the resolved absolute paths. Files the agent reads must exist and be readable when
// the configuration is loaded. Files holding secrets (every password_file, every tls.key_file)
// must not be readable by every user (S_IROTH): such a file is refused; group-readable is fine.
//
// How the loader is built: config_loader.cc reads the stream (config/yaml_diagnostics.h explains
// a syntax error) and hands the document to one reader per section (config/section_readers.h),
// which share a LoaderContext (config/loader_context.h) and check referenced files with
// config/file_checks.h. Only the config library sees yaml-cpp; the structs (config/config.h)
// are a target of their own, edge_config_types, that does not link it.
//
// Thread-safety: the functions share no state; concurrent calls are safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/file_checks.h"  // WorldReadableFault, which `edge-agent model pack` shares

namespace edge::config {

struct Diagnostic {
  std::string file;  // the display path
  int line = 1;      // 1-based
  int column = 1;    // 1-based
  std::string message;

  // "FILE:LINE:COL: error: MESSAGE", as `edge-agent check-config` prints it.
  std::string ToString() const;
};

struct LoadResult {
  std::optional<AgentConfig> config;  // set exactly when errors is empty
  std::vector<Diagnostic> errors;     // sorted by position

  bool ok() const { return errors.empty(); }
};

// The largest configuration file the loader reads. A site of a thousand tags is about 100 KiB;
// yaml-cpp needs some 80 times a file's size in memory, so this bound keeps a load (and a
// reload next to a running agent) under about 100 MiB. Larger files, and files that are not
// regular (a device, a FIFO), are refused before they are parsed.
inline constexpr size_t kMaxConfigBytes = size_t{1} << 20;

// Reads and validates `path`; diagnostics name the file as `path` was given.
LoadResult LoadConfigFile(const std::string& path);

// Validates `yaml` as if read from a file shown as `display_path` that lives in `base_dir`
// (for relative paths inside it; "" means the current directory).
LoadResult LoadConfigString(std::string_view yaml, const std::string& display_path,
                            const std::string& base_dir);

}  // namespace edge::config
