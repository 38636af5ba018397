#include "agent/cli/predict_command.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "agent/alarm_engine.h"
#include "agent/exit_codes.h"
#include "core/bounded_file.h"
#include "core/quoted.h"
#include "core/status.h"
#include "inference/model_package.h"

namespace edge::agent {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::vector<std::string_view> Split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = line.find(sep, start);
    if (at == std::string_view::npos) {
      out.push_back(Trim(line.substr(start)));
      return out;
    }
    out.push_back(Trim(line.substr(start, at - start)));
    start = at + 1;
  }
}

bool IsTimeColumn(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "datetime" || lower == "timestamp" || lower == "ts";
}

struct CsvData {
  std::string time_column;         // empty when there is none
  std::vector<std::string> times;  // per row, when time_column is set
  std::vector<float> values;       // rows x features, raw
  int64_t rows = 0;
};

// The longest CSV line predict reads: a row of thousands of features fits many times over.
constexpr size_t kMaxCsvLineBytes = size_t{1} << 20;

// Reads the CSV line by line (never the whole text, never twice): what is kept is the parsed
// values, 4 bytes each. Only a regular file; a line over kMaxCsvLineBytes is refused.
Status ReadCsv(const std::string& path, const std::vector<std::string>& features, CsvData& out) {
  StatusOr<FileDescriptor> fd = OpenRegularFile(path, std::numeric_limits<size_t>::max());
  if (!fd.ok()) return Status::InvalidArgument(path + ": cannot be read: " + fd.status().message());
  LineReader reader(std::move(*fd), kMaxCsvLineBytes);
  int line_no = 0;
  std::string current;
  Status read_error = Status::Ok();
  auto next_line = [&](std::string_view& line) {
    StatusOr<bool> more = reader.Next(&current);
    if (!more.ok()) read_error = Status::InvalidArgument(path + ": " + more.status().message());
    if (!more.ok() || !*more) return false;
    line_no = reader.line_number();
    line = current;
    // A UTF-8 byte order mark before the header.
    if (line_no == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    return true;
  };
  std::string header_text;
  std::string_view header_line;
  do {
    if (!next_line(header_line)) {
      if (!read_error.ok()) return read_error;
      return Status::InvalidArgument(path + ": empty file, no header row");
    }
  } while (Trim(header_line).empty());
  // `current` is reused for the rows: the header's fields must outlive it.
  header_text = std::string(header_line);
  header_line = header_text;
  const auto commas = std::count(header_line.begin(), header_line.end(), ',');
  const auto semis = std::count(header_line.begin(), header_line.end(), ';');
  const char sep = semis > commas ? ';' : ',';
  const std::vector<std::string_view> header = Split(header_line, sep);
  if (!header.empty() && IsTimeColumn(header[0])) out.time_column = std::string(header[0]);

  std::vector<size_t> columns;
  for (const std::string& f : features) {
    size_t found = header.size();
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == f) {
        found = i;
        break;
      }
    }
    if (found == header.size()) {
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": column " +
                                     Quoted(f) + " (a feature of the model) is missing from the header");
    }
    columns.push_back(found);
  }

  std::string_view line;
  while (next_line(line)) {
    if (Trim(line).empty()) continue;
    const std::vector<std::string_view> fields = Split(line, sep);
    const std::string where = path + ":" + std::to_string(line_no);
    if (fields.size() != header.size()) {
      return Status::InvalidArgument(where + ": " + std::to_string(fields.size()) +
                                     " fields, the header has " + std::to_string(header.size()));
    }
    for (size_t j = 0; j < columns.size(); ++j) {
      const std::string_view field = fields[columns[j]];
      const std::string col = "column " + Quoted(features[j]);
      if (field.empty()) return Status::InvalidArgument(where + ": " + col + ": empty value");
      float v = 0;
      const char* end = field.data() + field.size();
      const char* begin = field.data();
      if (*begin == '+') ++begin;
      auto [ptr, ec] = std::from_chars(begin, end, v);
      if (ec == std::errc::result_out_of_range) {
        return Status::InvalidArgument(where + ": " + col + ": " + Quoted(field) +
                                       " is out of the float range");
      }
      if (ec != std::errc() || ptr != end) {
        return Status::InvalidArgument(where + ": " + col + ": " + Quoted(field) +
                                       " is not a number");
      }
      if (!std::isfinite(v)) {
        return Status::InvalidArgument(where + ": " + col + ": " + Quoted(field) +
                                       " is not a finite number (NaN and infinity are refused)");
      }
      out.values.push_back(v);
    }
    if (!out.time_column.empty()) out.times.emplace_back(fields[0]);
    ++out.rows;
  }
  return read_error;
}

// --alarm RAISE,CLEAR[,THRESHOLD]. The threshold is left alone when the spec has none.
Status ParseAlarmSpec(const std::string& spec, AlarmSettings& settings, bool& has_threshold) {
  const std::vector<std::string_view> parts = Split(spec, ',');
  const std::string where = "--alarm '" + spec + "': ";
  if (parts.size() != 2 && parts.size() != 3) {
    return Status::InvalidArgument(where + "expected RAISE,CLEAR or RAISE,CLEAR,THRESHOLD");
  }
  int* counts[2] = {&settings.raise_after, &settings.clear_after};
  const char* names[2] = {"RAISE", "CLEAR"};
  for (int i = 0; i < 2; ++i) {
    const std::string_view p = parts[static_cast<size_t>(i)];
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), *counts[i]);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || *counts[i] < 1) {
      return Status::InvalidArgument(where + names[i] + " '" + std::string(p) +
                                     "' is not a whole number of windows >= 1");
    }
  }
  has_threshold = parts.size() == 3;
  if (has_threshold) {
    const std::string_view p = parts[2];
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), settings.threshold);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() ||
        !std::isfinite(settings.threshold)) {
      return Status::InvalidArgument(where + "THRESHOLD '" + std::string(p) +
                                     "' is not a finite number");
    }
  }
  return Status::Ok();
}

}  // namespace

int RunPredict(const PredictOptions& options) {
  const std::string& input_csv = options.input_csv;
  const std::string& output_csv = options.output_csv;
  AlarmSettings alarm_settings;
  bool alarm_threshold_given = false;
  if (!options.alarm.empty()) {
    if (Status s = ParseAlarmSpec(options.alarm, alarm_settings, alarm_threshold_given); !s.ok()) {
      std::fprintf(stderr, "edge-agent predict: %s\n", s.message().c_str());
      return kExitBadInput;
    }
  }
  StatusOr<inference::ModelPackage> loaded = inference::LoadModelPackage(options.model_dir);
  if (!loaded.ok()) {
    std::fprintf(stderr, "edge-agent predict: %s\n", loaded.status().message().c_str());
    return kExitBadInput;
  }
  inference::ModelPackage& pkg = *loaded;
  inference::Model& model = *pkg.model;
  const inference::Manifest& m = pkg.manifest;
  std::optional<AlarmEngine> alarm;
  if (!options.alarm.empty()) {
    if (!alarm_threshold_given) {
      if (!m.has_threshold) {
        std::fprintf(stderr,
                     "edge-agent predict: --alarm '%s': no THRESHOLD given, and %s/manifest.json "
                     "has no output.threshold\n",
                     options.alarm.c_str(), options.model_dir.c_str());
        return kExitBadInput;
      }
      alarm_settings.threshold = m.threshold;
    }
    alarm.emplace(alarm_settings);
  }

  CsvData csv;
  if (Status s = ReadCsv(input_csv, m.features, csv); !s.ok()) {
    std::fprintf(stderr, "edge-agent predict: %s\n", s.message().c_str());
    return kExitBadInput;
  }
  const int64_t f = static_cast<int64_t>(m.features.size());
  pkg.Normalize(csv.values.data(), csv.values.data(), csv.rows);

  const int64_t k = model.outputs()[0].sample_size;
  std::string out = "index,";
  if (!csv.time_column.empty()) out += csv.time_column + ",";
  if (k == 1) {
    out += "score";
  } else {
    for (int64_t i = 0; i < k; ++i) out += (i > 0 ? ",score_" : "score_") + std::to_string(i);
  }
  if (alarm) out += ",alarm";
  out += "\n";

  std::vector<int64_t> ends;
  for (int64_t end = m.window - 1; end < csv.rows; end += m.stride) ends.push_back(end);
  if (ends.empty()) {
    std::fprintf(stderr, "edge-agent predict: %s: %lld data rows, fewer than the window of %d\n",
                 input_csv.c_str(), static_cast<long long>(csv.rows), m.window);
  }
  const int64_t window_floats = int64_t{m.window} * f;
  std::vector<float> batch_input(static_cast<size_t>(model.max_batch() * window_floats));
  char number[64];
  for (size_t first = 0; first < ends.size(); first += static_cast<size_t>(model.max_batch())) {
    const int batch = static_cast<int>(
        std::min<size_t>(static_cast<size_t>(model.max_batch()), ends.size() - first));
    for (int b = 0; b < batch; ++b) {
      const int64_t start_row = ends[first + b] - m.window + 1;
      std::copy(csv.values.begin() + start_row * f,
                csv.values.begin() + start_row * f + window_floats,
                batch_input.begin() + b * window_floats);
    }
    model.Run(batch_input.data(), batch);
    const float* scores = model.output(0);
    for (int b = 0; b < batch; ++b) {
      const int64_t row = ends[first + b];
      out += std::to_string(row);
      if (!csv.time_column.empty()) out += "," + csv.times[static_cast<size_t>(row)];
      for (int64_t i = 0; i < k; ++i) {
        std::snprintf(number, sizeof number, ",%.9g", static_cast<double>(scores[b * k + i]));
        out += number;
      }
      if (alarm) {
        // The daemon's rule on the daemon's score (the first value of output 0). The window end
        // is not needed here: only the state is printed.
        alarm->OnScore(static_cast<double>(scores[b * k]), Timestamp{});
        out += alarm->state() == AlarmState::kRaised ? ",1" : ",0";
      }
      out += "\n";
    }
  }

  if (output_csv.empty()) {
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
      std::fprintf(stderr, "edge-agent predict: writing standard output failed\n");
      return kExitRuntimeFailure;
    }
    return 0;
  }
  std::ofstream file(output_csv, std::ios::binary | std::ios::trunc);
  file << out;
  file.close();
  if (!file) {
    std::fprintf(stderr, "edge-agent predict: %s: cannot be written\n", output_csv.c_str());
    return kExitRuntimeFailure;
  }
  return 0;
}

}  // namespace edge::agent
