// `edge-agent predict --model PKG --input CSV [--output CSV]` (DESIGN §4): offline scoring of a
// CSV file with a model package.
//
// The CSV has a header row, `,` or `;` separated (whichever the header uses more), an optional
// first column named datetime, timestamp or ts, and one column per manifest feature (others are
// ignored). Windows of inputs.window rows slide by inputs.stride rows; each is normalised with the
// manifest's mean/std and scored (up to the model's batch limit per call). The output CSV has the
// header `index,<time column>,score` (or score_0,score_1,... when output 0 has several values) and
// one row per window: the 0-based row of the window's last row, its time value as written in the
// input, and the raw first output printed with 9 significant digits.
//
// With `alarm` set ("RAISE,CLEAR" or "RAISE,CLEAR,THRESHOLD") every row also gets an `alarm`
// column: 1 while the alarm is raised after that window, 0 otherwise, decided by the daemon's own
// AlarmEngine (agent/alarm_engine.h) on the first value of output 0, with the given threshold or
// else the manifest's output.threshold. So the alarms of `run` can be replayed offline.
//
// Thread-safety: runs on the calling thread; no shared state.
#pragma once

#include <string>

namespace edge::agent {

struct PredictOptions {
  std::string model_dir;
  std::string input_csv;
  std::string output_csv;  // empty: standard output
  std::string alarm;       // empty: no alarm column; else "RAISE,CLEAR[,THRESHOLD]"
};

// Exit code: 0 success, 2 bad input (package, CSV, --alarm; message on stderr naming the file,
// line and fault), 1 runtime failure (output not writable).
int RunPredict(const PredictOptions& options);

}  // namespace edge::agent
