#include "agent/predict_command.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

#include "agent/cli.h"
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

Status ReadCsv(const std::string& path, const std::vector<std::string>& features, CsvData& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path + ": cannot be read");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::string_view rest(text);
  if (rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);  // UTF-8 byte order mark

  int line_no = 0;
  auto next_line = [&](std::string_view& line) {
    if (rest.empty()) return false;
    const size_t nl = rest.find('\n');
    line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    return true;
  };
  std::string_view header_line;
  do {
    if (!next_line(header_line))
      return Status::InvalidArgument(path + ": empty file, no header row");
  } while (Trim(header_line).empty());
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
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": column '" + f +
                                     "' (a feature of the model) is missing from the header");
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
      const std::string col = "column '" + features[j] + "'";
      if (field.empty()) return Status::InvalidArgument(where + ": " + col + ": empty value");
      float v = 0;
      const char* end = field.data() + field.size();
      const char* begin = field.data();
      if (*begin == '+') ++begin;
      auto [ptr, ec] = std::from_chars(begin, end, v);
      if (ec == std::errc::result_out_of_range) {
        return Status::InvalidArgument(where + ": " + col + ": '" + std::string(field) +
                                       "' is out of the float range");
      }
      if (ec != std::errc() || ptr != end) {
        return Status::InvalidArgument(where + ": " + col + ": '" + std::string(field) +
                                       "' is not a number");
      }
      if (!std::isfinite(v)) {
        return Status::InvalidArgument(where + ": " + col + ": '" + std::string(field) +
                                       "' is not a finite number (NaN and infinity are refused)");
      }
      out.values.push_back(v);
    }
    if (!out.time_column.empty()) out.times.emplace_back(fields[0]);
    ++out.rows;
  }
  return Status::Ok();
}

}  // namespace

int RunPredict(const std::string& model_dir, const std::string& input_csv,
               const std::string& output_csv) {
  StatusOr<inference::ModelPackage> loaded = inference::LoadModelPackage(model_dir);
  if (!loaded.ok()) {
    std::fprintf(stderr, "edge-agent predict: %s\n", loaded.status().message().c_str());
    return kExitBadInput;
  }
  inference::ModelPackage& pkg = *loaded;
  inference::Model& model = *pkg.model;
  const inference::Manifest& m = pkg.manifest;

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
