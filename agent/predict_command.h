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
// Thread-safety: runs on the calling thread; no shared state.
#pragma once

#include <string>

namespace edge::agent {

// Exit code: 0 success, 2 bad input (package, CSV; message on stderr naming the file, line and
// fault), 1 runtime failure (output not writable).
int RunPredict(const std::string& model_dir, const std::string& input_csv,
               const std::string& output_csv);

}  // namespace edge::agent
