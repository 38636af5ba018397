// CPU time and memory of a running process, from /proc: what the footprint figures of the
// end-to-end and uplink benches are made of (CPU % of one core = the difference of cpu_seconds
// between two readings over the wall time between them).
//
// Thread-safety: no shared state.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace edge::bench {

struct ProcUsage {
  double cpu_seconds = 0;  // utime + stime, all threads
  long rss_kb = 0;         // VmRSS
  long hwm_kb = 0;         // VmHWM, the peak RSS
};

// Zeros if the process is gone.
inline ProcUsage ReadProcUsage(pid_t pid) {
  ProcUsage u;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return u;
  // Fields after the command name (which is in parentheses and may hold spaces): utime is field
  // 14, stime 15 of proc(5), i.e. the 12th and 13th after the parenthesis.
  std::istringstream rest(text.substr(paren + 2));
  const std::vector<std::string> fields{std::istream_iterator<std::string>(rest), {}};
  if (fields.size() < 13) return u;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  u.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) u.rss_kb = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) u.hwm_kb = std::stol(line.substr(6));
  }
  return u;
}

}  // namespace edge::bench
