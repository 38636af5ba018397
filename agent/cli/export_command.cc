#include "agent/cli/export_command.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <vector>

#include "agent/exit_codes.h"
#include "config/config_loader.h"
#include "config/units.h"
#include "core/time_format.h"
#include "storage/sample_db.h"
#include "storage/sample_reader.h"

namespace edge::agent {
namespace {

std::vector<std::string> SplitTags(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string tag = text.substr(start, comma - start);
    while (!tag.empty() && tag.front() == ' ') tag.erase(tag.begin());
    while (!tag.empty() && tag.back() == ' ') tag.pop_back();
    if (!tag.empty()) out.push_back(std::move(tag));
    start = comma + 1;
  }
  return out;
}

void AppendValue(double v, std::string& out) {
  if (std::isnan(v)) {
    out += "nan";
  } else if (std::isinf(v)) {
    out += v > 0 ? "inf" : "-inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);  // shortest round-trip form
  }
}

}  // namespace

StatusOr<Timestamp> ParseExportTime(const std::string& text, Timestamp now) {
  if (!text.empty() && text[0] == '-') {
    StatusOr<config::Duration> d = config::ParseDuration(std::string_view(text).substr(1));
    if (!d.ok()) {
      return Status::InvalidArgument("'" + text + "': not RFC 3339 and not a relative time like " +
                                     "-10m: " + d.status().message());
    }
    return now - std::chrono::duration_cast<std::chrono::microseconds>(*d);
  }
  StatusOr<Timestamp> t = ParseRfc3339(text);
  if (!t.ok()) {
    return Status::InvalidArgument("'" + text + "': not RFC 3339 and not a relative time like " +
                                   "-10m: " + t.status().message());
  }
  return t;
}

int RunExport(const ExportOptions& options) {
  const config::LoadResult loaded = config::LoadConfigFile(options.config_path);
  if (!loaded.ok()) {
    for (const config::Diagnostic& d : loaded.errors)
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
    return kExitBadInput;
  }
  const Timestamp now =
      std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  // Without --from: from the oldest sample. Far enough back for any data, far enough from the
  // int64 limits that the reader's index bounds cannot overflow.
  Timestamp from = Timestamp(std::chrono::microseconds(std::numeric_limits<int64_t>::min() / 4));
  Timestamp to = now;
  // An empty flag keeps `out`; a bad one is reported and refused.
  const auto parse_flag = [now](const char* flag, const std::string& text, Timestamp& out) {
    if (text.empty()) return true;
    StatusOr<Timestamp> t = ParseExportTime(text, now);
    if (!t.ok()) {
      std::fprintf(stderr, "edge-agent export: %s %s\n", flag, t.status().message().c_str());
      return false;
    }
    out = *t;
    return true;
  };
  if (!parse_flag("--from", options.from, from) || !parse_flag("--to", options.to, to)) {
    return kExitBadInput;
  }
  if (to < from) {
    std::fprintf(stderr, "edge-agent export: --from %s is after --to %s\n",
                 FormatRfc3339Millis(from).c_str(), FormatRfc3339Millis(to).c_str());
    return kExitBadInput;
  }

  const std::string path =
      (std::filesystem::path(loaded.config->gateway.data_dir) / storage::kSamplesFile).string();
  StatusOr<storage::SampleReader> reader = storage::SampleReader::Open(path);
  if (!reader.ok()) {
    std::fprintf(stderr, "edge-agent export: %s\n", reader.status().message().c_str());
    return kExitRuntimeFailure;
  }
  StatusOr<std::vector<std::string>> stored = reader->TagNames();
  if (!stored.ok()) {
    std::fprintf(stderr, "edge-agent export: %s\n", stored.status().message().c_str());
    return kExitRuntimeFailure;
  }
  std::vector<std::string> tags = options.tags.empty() ? *stored : SplitTags(options.tags);
  for (const std::string& tag : tags) {
    if (!std::binary_search(stored->begin(), stored->end(), tag)) {
      std::fprintf(stderr, "edge-agent export: --tags: no tag '%s' in %s\n", tag.c_str(),
                   path.c_str());
      return kExitBadInput;
    }
  }

  std::string out = "ts,tag,value,quality\n";
  out.reserve(1 << 20);
  bool write_failed = false;
  auto flush = [&] {
    if (!out.empty() && std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      write_failed = true;
    }
    out.clear();
  };
  for (const std::string& tag : tags) {
    Status s = reader->Scan(tag, from, to, 0, [&](std::span<const Sample> samples) {
      for (const Sample& sample : samples) {
        AppendRfc3339Millis(sample.ts, out);
        out += ',';
        out += tag;
        out += ',';
        AppendValue(sample.value, out);
        out += ',';
        out += QualityName(sample.quality);
        out += '\n';
      }
      if (out.size() > (1 << 20) - 4096) flush();
    });
    if (!s.ok()) {
      flush();
      std::fprintf(stderr, "edge-agent export: %s\n", s.message().c_str());
      return kExitRuntimeFailure;
    }
    if (write_failed) break;
  }
  flush();
  if (write_failed || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "edge-agent export: cannot write to standard output\n");
    return kExitRuntimeFailure;
  }
  return 0;
}

}  // namespace edge::agent
