#include "tests/support/proc_status.h"

#include <fstream>
#include <string>

namespace edge::testing {

int64_t ProcStatusKiB(std::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      return std::stoll(line.substr(field.size() + 1));
    }
  }
  return -1;
}

}  // namespace edge::testing
