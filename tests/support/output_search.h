// Searching what a program printed: the agent's log, a broker's log, /metrics in Prometheus
// text. The end-to-end tests count log lines ("alarm raised for pump1"), quote the lines that
// matter in their failure messages, and read one series of /metrics.
//
// Thread-safety: functions of their arguments only.
#pragma once

#include <string>

namespace edge::testing {

// How often `needle` occurs in `text` (overlapping occurrences counted).
int CountOf(const std::string& text, const std::string& needle);

bool Contains(const std::string& text, const std::string& needle);

// The lines of `text` that contain `needle`, each ending in '\n'.
std::string LinesWith(const std::string& text, const std::string& needle);

// The value of one series (name and labels as the agent prints them, e.g.
// `edge_modbus_connected{device="plc"}`) in Prometheus text; NaN if it is not there.
double MetricValue(const std::string& text, const std::string& series);

}  // namespace edge::testing
