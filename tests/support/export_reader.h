// Reading the CSV of `edge-agent export` (DESIGN §4: "ts,tag,value,quality", ts in RFC 3339 with
// milliseconds): the reliability and CLI tests check what the agent stored from it (the first
// good sample after a fault, each device's poll period, samples across a reload).
//
// Thread-safety: functions of their arguments only.
#pragma once

#include <string>
#include <vector>

#include "core/sample.h"

namespace edge::testing {

struct ExportedSample {
  Timestamp ts;
  std::string tag;
  std::string value;  // as printed ("1.5", "nan")
  bool good = false;  // quality "good"
};

struct ExportedCsv {
  std::string header;                   // the first line
  std::vector<ExportedSample> samples;  // the rows, in order
  std::vector<std::string> unreadable;  // rows that are not ts,tag,value,quality
};

ExportedCsv ParseExportCsv(const std::string& csv);

// How many of `csv`'s samples are of `tag`.
int CountSamplesOf(const ExportedCsv& csv, const std::string& tag);

}  // namespace edge::testing
