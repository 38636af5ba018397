// The fault-injection suite's common parts (issue #11): the profile and the figures.
//
// Profile: EDGE_RELIABILITY_PROFILE=quick (the default; what CI runs) or full (run by hand,
// scripts/reliability.sh full). Each scenario picks its sizes with Pick(quick, full).
//
// Figures: each scenario records what it measured with RecordFigure(). A figure is printed on
// stdout ("FIGURE scenario | measure | value | target | ok") and, when EDGE_RELIABILITY_REPORT
// names a file, appended to it as one JSON line; scripts/reliability.sh turns those lines into
// the table that docs/RELIABILITY.md keeps. Recording a figure asserts nothing: the scenario's
// own EXPECTs do, and a figure whose `ok` is false is also reported as a test failure.
//
// Thread-safety: RecordFigure appends with O_APPEND, one write per line; callable from any thread.
#pragma once

#include <string>

namespace edge::testing {

enum class Profile { kQuick, kFull };

// The profile of this run; an unknown value of EDGE_RELIABILITY_PROFILE aborts the run.
Profile CurrentProfile();

template <typename T>
T Pick(T quick, T full) {
  return CurrentProfile() == Profile::kFull ? full : quick;
}

// Records one figure; `ok` false also fails the current test (naming the figure).
void RecordFigure(const std::string& scenario, const std::string& measure, const std::string& value,
                  const std::string& target, bool ok);

}  // namespace edge::testing
