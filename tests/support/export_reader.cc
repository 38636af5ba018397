#include "tests/support/export_reader.h"

#include <sstream>

#include "core/time_format.h"

namespace edge::testing {

ExportedCsv ParseExportCsv(const std::string& csv) {
  ExportedCsv out;
  std::istringstream lines(csv);
  std::getline(lines, out.header);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t c1 = line.find(',');
    const size_t c2 = c1 == std::string::npos ? c1 : line.find(',', c1 + 1);
    const size_t c3 = line.rfind(',');
    StatusOr<Timestamp> ts = ParseRfc3339(line.substr(0, c1));
    if (c2 == std::string::npos || c3 <= c2 || !ts.ok()) {
      out.unreadable.push_back(line);
      continue;
    }
    out.samples.push_back({*ts, line.substr(c1 + 1, c2 - c1 - 1), line.substr(c2 + 1, c3 - c2 - 1),
                           line.substr(c3 + 1) == "good"});
  }
  return out;
}

int CountSamplesOf(const ExportedCsv& csv, const std::string& tag) {
  int n = 0;
  for (const ExportedSample& s : csv.samples) n += s.tag == tag;
  return n;
}

}  // namespace edge::testing
