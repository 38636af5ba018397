// `edge-agent predict` (DESIGN §4) on models really exported by PyTorch: parity with PyTorch eager
// on every reference model of tests/inference/make_models.py (run with Debian's python3-torch and
// python3-onnx), and the bad inputs a user can hand it, each exit 2 with a message naming the file
// and the fault. The quick model set by default; the full set when EDGE_FULL_TESTS=1 or CI=true.
//
// Tolerance: |ours - torch| <= 1e-4 * |torch| + 1e-6 (the absolute floor is for scores near 0,
// such as the forecaster's errors or heads without a sigmoid).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/e2e_rig.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;

const std::string kAgent = AgentBinary();
const fs::path kSourceDir = SourceDir();
constexpr const char* kPython = "/usr/bin/python3";

bool FullSet() {
  const char* full = std::getenv("EDGE_FULL_TESTS");
  const char* ci = std::getenv("CI");
  return (full != nullptr && std::string(full) == "1") ||
         (ci != nullptr && std::string(ci) == "true");
}

// The reference models, generated once for all tests of this file.
class PredictTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScratchDir();
    std::vector<std::string> argv = {kPython,
                                     (kSourceDir / "tests/inference/make_models.py").string(),
                                     (dir_->path() / "models").string()};
    if (!FullSet()) argv.push_back("--quick");
    const CommandResult r = RunCommand({.argv = argv}, std::chrono::seconds(240));
    generated_ = r.exit_code == 0;
    generator_output_ = r.out + r.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(generated_) << "make_models.py failed (needs python3-torch and python3-onnx in "
                            << kPython << "):\n"
                            << generator_output_;
  }

  static fs::path Models() { return dir_->path() / "models"; }
  static std::vector<fs::path> ModelDirs() {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(Models())) {
      if (e.is_directory()) out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static ScratchDir* dir_;
  static bool generated_;
  static std::string generator_output_;
};

ScratchDir* PredictTest::dir_ = nullptr;
bool PredictTest::generated_ = false;
std::string PredictTest::generator_output_;

CommandResult Predict(const fs::path& model, const fs::path& input,
                      const std::string& output = "") {
  std::vector<std::string> argv = {kAgent,         "predict", "--model",
                                   model.string(), "--input", input.string()};
  if (!output.empty()) {
    argv.push_back("--output");
    argv.push_back(output);
  }
  return RunCommand({.argv = argv});
}

std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::stringstream ls(line);
    std::string f;
    while (std::getline(ls, f, ',')) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

// Compares our CSV with expected.csv: same header, index and ts columns, scores within tolerance.
void ExpectMatches(const std::string& name, const std::string& expected, const std::string& ours) {
  const auto want = ParseCsv(expected);
  const auto got = ParseCsv(ours);
  ASSERT_FALSE(want.empty()) << name;
  ASSERT_EQ(got.size(), want.size()) << name << ": row count";
  EXPECT_EQ(got[0], want[0]) << name << ": header";
  double worst = 0;
  for (size_t r = 1; r < want.size(); ++r) {
    ASSERT_EQ(got[r].size(), want[r].size()) << name << " row " << r;
    EXPECT_EQ(got[r][0], want[r][0]) << name << " row " << r << ": index";
    EXPECT_EQ(got[r][1], want[r][1]) << name << " row " << r << ": ts";
    for (size_t c = 2; c < want[r].size(); ++c) {
      const double w = std::stod(want[r][c]);
      const double g = std::stod(got[r][c]);
      EXPECT_LE(std::fabs(g - w), 1e-4 * std::fabs(w) + 1e-6)
          << name << " row " << r << " " << want[0][c] << ": ours " << got[r][c] << ", torch "
          << want[r][c];
      worst = std::max(worst, std::fabs(g - w) / std::max(std::fabs(w), 1e-6));
    }
  }
  std::printf("  %-24s %zu windows, worst relative difference %.2e\n", name.c_str(),
              want.size() - 1, worst);
  std::fflush(stdout);  // before the next fork, so that children do not repeat it
}

TEST_F(PredictTest, MatchesPyTorchOnEveryReferenceModel) {
  const std::vector<fs::path> models = ModelDirs();
  ASSERT_GE(models.size(), FullSet() ? 11u : 6u);
  for (const fs::path& m : models) {
    const CommandResult r = Predict(m, m / "input.csv");
    ASSERT_EQ(r.exit_code, 0) << m << ": " << r.err;
    ExpectMatches(m.filename().string(), ReadFile(m / "expected.csv"), r.out);
  }
}

TEST_F(PredictTest, OutputFileAndSemicolonInputGiveTheSameScores) {
  const fs::path m = ModelDirs().front();
  ScratchDir work;
  // The same CSV with ';' separators and an extra column the model does not use.
  std::istringstream in(ReadFile(m / "input.csv"));
  std::string line, semi;
  bool header = true;
  while (std::getline(in, line)) {
    std::replace(line.begin(), line.end(), ',', ';');
    semi += line + (header ? ";unused\n" : ";42\n");
    header = false;
  }
  const fs::path input = work.Write("semicolon.csv", semi);
  const fs::path out = work.path() / "scores.csv";
  const CommandResult r = Predict(m, input, out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  ExpectMatches(m.filename().string(), ReadFile(m / "expected.csv"), ReadFile(out));
}

// A copy of a generated package whose files the test may change.
fs::path CopyPackage(const fs::path& from, const ScratchDir& work) {
  const fs::path to = work.path() / "pkg";
  fs::copy(from, to, fs::copy_options::recursive);
  return to;
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::string Sha256(const fs::path& file) {
  const CommandResult r = RunCommand({.argv = {"sha256sum", file.string()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, 64);
}

// Replaces the run of characters after the first `key` that `keep` accepts (a number, a hash).
std::string ReplaceValueAfter(std::string text, const std::string& key, const std::string& value,
                              bool (*keep)(char)) {
  const size_t at = text.find(key);
  EXPECT_NE(at, std::string::npos) << key;
  if (at == std::string::npos) return text;
  size_t end = at + key.size();
  while (end < text.size() && keep(text[end])) ++end;
  text.replace(at + key.size(), end - at - key.size(), value);
  return text;
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

std::string ReplaceFirst(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// Rewrites the manifest's artifact size and sha256 to match the (changed) model.onnx, so that the
// change reaches the ONNX parser instead of being caught by the hash check.
void ResealManifest(const fs::path& pkg) {
  std::string manifest = ReadFile(pkg / "manifest.json");
  manifest = ReplaceValueAfter(manifest, "\"sha256\": \"", Sha256(pkg / "model.onnx"), IsHex);
  manifest = ReplaceValueAfter(
      manifest, "\"size\": ", std::to_string(fs::file_size(pkg / "model.onnx")), IsDigit);
  WriteFile(pkg / "manifest.json", manifest);
}

void ExpectBadInput(const CommandResult& r, const std::string& file, const std::string& fault,
                    const std::string& what) {
  EXPECT_EQ(r.exit_code, 2) << what << "\nstdout: " << r.out << "\nstderr: " << r.err;
  EXPECT_NE(r.err.find(file), std::string::npos) << what << ": names the file? " << r.err;
  EXPECT_NE(r.err.find(fault), std::string::npos) << what << ": says '" << fault << "'? " << r.err;
  EXPECT_EQ(r.out, "") << what;
}

TEST_F(PredictTest, DamagedModelFilesAreRefused) {
  const fs::path source = ModelDirs().front();
  const std::string onnx = ReadFile(source / "model.onnx");
  {
    ScratchDir work;
    const fs::path pkg = CopyPackage(source, work);
    WriteFile(pkg / "model.onnx", onnx.substr(0, onnx.size() / 2));
    ExpectBadInput(Predict(pkg, pkg / "input.csv"), (pkg / "model.onnx").string(), "size is",
                   "truncated, manifest unchanged");
    ResealManifest(pkg);
    ExpectBadInput(Predict(pkg, pkg / "input.csv"), (pkg / "model.onnx").string(),
                   "not a valid ONNX model", "truncated, manifest resealed");
  }
  {
    ScratchDir work;
    const fs::path pkg = CopyPackage(source, work);
    std::string flipped = onnx;
    flipped[flipped.size() / 3] ^= 0x04;
    WriteFile(pkg / "model.onnx", flipped);
    ExpectBadInput(Predict(pkg, pkg / "input.csv"), (pkg / "model.onnx").string(), "sha256 is",
                   "bit flip, manifest unchanged");
    // A flipped bit in an operator name ("GRU" -> "GRW") gets past the parser to the loader. The
    // name is found by its protobuf encoding: NodeProto.op_type is field 4 (tag 0x22), length 3.
    std::string renamed = onnx;
    const size_t at = renamed.find(std::string("\x22\x03GRU", 5));
    ASSERT_NE(at, std::string::npos);
    renamed[at + 4] ^= 0x02;
    WriteFile(pkg / "model.onnx", renamed);
    ResealManifest(pkg);
    ExpectBadInput(Predict(pkg, pkg / "input.csv"), (pkg / "model.onnx").string(),
                   "unsupported operator 'GRW'", "bit flip in an op name, manifest resealed");
  }
  {
    ScratchDir work;
    const fs::path pkg = CopyPackage(source, work);
    std::string manifest = ReadFile(pkg / "manifest.json");
    const std::string sha = Sha256(pkg / "model.onnx");
    manifest.replace(manifest.find(sha), 64, std::string(64, '0'));
    WriteFile(pkg / "manifest.json", manifest);
    ExpectBadInput(Predict(pkg, pkg / "input.csv"), (pkg / "model.onnx").string(),
                   "says " + std::string(64, '0'), "wrong sha256 in the manifest");
  }
}

TEST_F(PredictTest, ManifestDisagreeingWithTheModelIsRefused) {
  const fs::path source = ModelDirs().front();
  {
    ScratchDir work;
    const fs::path pkg = CopyPackage(source, work);
    std::string manifest = ReadFile(pkg / "manifest.json");
    manifest = ReplaceValueAfter(manifest, "\"window\": ", "7", IsDigit);
    WriteFile(pkg / "manifest.json", manifest);
    ExpectBadInput(Predict(pkg, pkg / "input.csv"), (pkg / "model.onnx").string(),
                   "window 7 disagrees with the model's input shape", "window");
  }
  {
    ScratchDir work;
    const fs::path pkg = CopyPackage(source, work);
    std::string manifest = ReadFile(pkg / "manifest.json");
    // One feature more than the model takes (mean/std grow with it).
    manifest = ReplaceFirst(manifest, "\"f0\",", "\"f0\", \"extra\",");
    manifest = ReplaceFirst(manifest, "\"mean\": [", "\"mean\": [0.0,");
    manifest = ReplaceFirst(manifest, "\"std\": [", "\"std\": [1.0,");
    WriteFile(pkg / "manifest.json", manifest);
    std::string csv = ReadFile(pkg / "input.csv");
    ExpectBadInput(Predict(pkg, pkg / "input.csv"), (pkg / "model.onnx").string(),
                   "features disagree with the model's input shape", "features");
  }
}

TEST_F(PredictTest, BadCsvInputIsRefusedWithFileLineAndColumn) {
  const fs::path pkg = ModelDirs().front();
  const std::string csv = ReadFile(pkg / "input.csv");
  ScratchDir work;
  // Missing column: drop f1 from the header and every row.
  {
    std::istringstream in(csv);
    std::string line, out;
    while (std::getline(in, line)) {
      auto fields = ParseCsv(line)[0];
      fields.erase(fields.begin() + 2);
      std::string joined;
      for (size_t i = 0; i < fields.size(); ++i) joined += (i ? "," : "") + fields[i];
      out += joined + "\n";
    }
    const fs::path file = work.Write("missing.csv", out);
    ExpectBadInput(Predict(pkg, file), file.string() + ":1", "column 'f1'", "missing column");
  }
  auto replace_field = [&](const std::string& value) {
    std::istringstream in(csv);
    std::string line, out;
    int n = 0;
    while (std::getline(in, line)) {
      if (++n == 5) {
        auto fields = ParseCsv(line)[0];
        fields[2] = value;
        line.clear();
        for (size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + fields[i];
      }
      out += line + "\n";
    }
    return out;
  };
  {
    const fs::path file = work.Write("text.csv", replace_field("abc"));
    ExpectBadInput(Predict(pkg, file), file.string() + ":5", "column 'f1': 'abc' is not a number",
                   "text in a number column");
  }
  {
    const fs::path file = work.Write("nan.csv", replace_field("NaN"));
    ExpectBadInput(Predict(pkg, file), file.string() + ":5", "'NaN' is not a finite number", "NaN");
  }
  {
    const fs::path file = work.path() / "absent.csv";
    ExpectBadInput(Predict(pkg, file), file.string(), "cannot be read", "no such file");
  }
}

// The alarm column of `--alarm RAISE,CLEAR[,THRESHOLD]`, recomputed here from the printed scores
// with the rule of DESIGN §3 (raised after RAISE consecutive scores strictly above the threshold,
// cleared after CLEAR consecutive scores at or below it).
std::vector<int> ExpectedAlarms(const std::vector<double>& scores, double threshold, int raise,
                                int clear) {
  std::vector<int> out;
  bool raised = false;
  int above = 0, below = 0;
  for (double s : scores) {
    if (s > threshold) {
      ++above;
      below = 0;
    } else {
      ++below;
      above = 0;
    }
    if (!raised && above >= raise) raised = true;
    if (raised && below >= clear) raised = false;
    out.push_back(raised ? 1 : 0);
  }
  return out;
}

struct ScoredRows {
  std::vector<double> scores;
  std::vector<int> alarms;
};

// The column of the score the alarm rule reads: `score`, or `score_0` when output 0 has several.
size_t FirstScoreColumn(const std::vector<std::string>& header) {
  for (size_t c = 0; c < header.size(); ++c) {
    if (header[c] == "score" || header[c] == "score_0") return c;
  }
  ADD_FAILURE() << "no score column";
  return 0;
}

ScoredRows ParseAlarmOutput(const std::string& text) {
  const auto rows = ParseCsv(text);
  ScoredRows out;
  EXPECT_FALSE(rows.empty());
  if (rows.empty()) return out;
  EXPECT_EQ(rows[0].back(), "alarm");
  const size_t column = FirstScoreColumn(rows[0]);
  for (size_t r = 1; r < rows.size(); ++r) {
    out.scores.push_back(std::stod(rows[r][column]));
    out.alarms.push_back(std::stoi(rows[r].back()));
  }
  return out;
}

TEST_F(PredictTest, AlarmColumnFollowsTheDaemonsRule) {
  const fs::path m = ModelDirs().front();
  // The reference input forwards, backwards and forwards again, so that the scores rise and fall.
  ScratchDir work;
  std::vector<std::string> lines;
  {
    std::istringstream in(ReadFile(m / "input.csv"));
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) lines.push_back(line);
    }
  }
  ASSERT_GE(lines.size(), 2u);
  std::string text = lines[0] + "\n";
  for (size_t i = 1; i < lines.size(); ++i) text += lines[i] + "\n";
  for (size_t i = lines.size() - 1; i >= 1; --i) text += lines[i] + "\n";
  for (size_t i = 1; i < lines.size(); ++i) text += lines[i] + "\n";
  const fs::path input = work.Write("there-and-back.csv", text);
  // The threshold: halfway between the two middle scores, so that the alarm both rises and clears
  // and no score equals it.
  const CommandResult plain = Predict(m, input);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  std::vector<double> sorted;
  const auto plain_rows = ParseCsv(plain.out);
  ASSERT_FALSE(plain_rows.empty());
  const size_t column = FirstScoreColumn(plain_rows[0]);
  for (size_t r = 1; r < plain_rows.size(); ++r) sorted.push_back(std::stod(plain_rows[r][column]));
  ASSERT_GE(sorted.size(), 20u);
  std::sort(sorted.begin(), sorted.end());
  const double threshold = (sorted[sorted.size() / 2 - 1] + sorted[sorted.size() / 2]) / 2;
  ASSERT_LT(sorted[sorted.size() / 2 - 1], sorted[sorted.size() / 2]);
  char spec[64];
  std::snprintf(spec, sizeof spec, "2,3,%.9g", threshold);

  const CommandResult r = RunCommand({.argv = {kAgent, "predict", "--model", m.string(), "--input",
                                               input.string(), "--alarm", spec}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ScoredRows got = ParseAlarmOutput(r.out);
  ASSERT_EQ(got.scores.size(), sorted.size());
  const std::vector<int> want = ExpectedAlarms(got.scores, threshold, 2, 3);
  EXPECT_EQ(got.alarms, want);
  int raises = 0, clears = 0;
  for (size_t i = 1; i < want.size(); ++i) {
    raises += want[i] == 1 && want[i - 1] == 0;
    clears += want[i] == 0 && want[i - 1] == 1;
  }
  EXPECT_GE(raises, 1) << "the test data should raise the alarm at least once";
  EXPECT_GE(clears, 1) << "the test data should clear the alarm at least once";
  // The score columns are those of the run without --alarm.
  EXPECT_EQ(r.out.substr(r.out.find('\n')), [&] {
    std::string expected;
    std::istringstream in(plain.out);
    std::string line;
    std::getline(in, line);
    size_t i = 0;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      expected += "\n" + line + "," + std::to_string(want[i++]);
    }
    return expected + "\n";
  }());
}

TEST_F(PredictTest, AlarmThresholdDefaultsToTheManifests) {
  const fs::path m = ModelDirs().front();
  ASSERT_NE(ReadFile(m / "manifest.json").find("\"threshold\": 0.5"), std::string::npos);
  auto run = [&](const std::string& spec) {
    return RunCommand({.argv = {kAgent, "predict", "--model", m.string(), "--input",
                                (m / "input.csv").string(), "--alarm", spec}});
  };
  const CommandResult from_manifest = run("1,1");
  ASSERT_EQ(from_manifest.exit_code, 0) << from_manifest.err;
  const ScoredRows got = ParseAlarmOutput(from_manifest.out);
  EXPECT_EQ(got.alarms, ExpectedAlarms(got.scores, 0.5, 1, 1));
  const CommandResult given = run("1,1,0.5");
  ASSERT_EQ(given.exit_code, 0) << given.err;
  EXPECT_EQ(from_manifest.out, given.out);

  // No threshold anywhere: refused, naming the manifest. With one given: fine.
  ScratchDir work;
  const fs::path pkg = CopyPackage(m, work);
  WriteFile(pkg / "manifest.json",
            ReplaceFirst(ReadFile(pkg / "manifest.json"), "\"threshold\": 0.5", ""));
  auto run_copy = [&](const std::string& spec) {
    return RunCommand({.argv = {kAgent, "predict", "--model", pkg.string(), "--input",
                                (pkg / "input.csv").string(), "--alarm", spec}});
  };
  ExpectBadInput(run_copy("1,1"), (pkg / "manifest.json").string(), "has no output.threshold",
                 "no threshold");
  const CommandResult with_threshold = run_copy("1,1,0.5");
  ASSERT_EQ(with_threshold.exit_code, 0) << with_threshold.err;
  EXPECT_EQ(with_threshold.out, given.out);
}

TEST_F(PredictTest, BadAlarmSpecIsRefused) {
  const fs::path m = ModelDirs().front();
  for (const std::string spec : {"3", "0,10", "3,-1", "a,10", "3,10,x", "3,10,nan", "3,10,1,2"}) {
    const CommandResult r =
        RunCommand({.argv = {kAgent, "predict", "--model", m.string(), "--input",
                             (m / "input.csv").string(), "--alarm", spec}});
    EXPECT_EQ(r.exit_code, 2) << spec << ": " << r.err;
    EXPECT_NE(r.err.find("--alarm '" + spec + "'"), std::string::npos) << spec << ": " << r.err;
    EXPECT_EQ(r.out, "") << spec;
  }
}

// Hostile input files (issue 23): `--input /dev/zero` once ran out of memory and a 1 GiB line
// took 2 GiB (the CSV was read whole, then copied). Only regular files are read, line by line,
// each line bounded; a huge bad field is quoted short and escaped.
TEST_F(PredictTest, HostileInputFilesAreRefusedWithTheFileAndTheBound) {
  const fs::path pkg = ModelDirs().front();
  ScratchDir work;
  ExpectBadInput(Predict(pkg, "/dev/zero"), "/dev/zero", "is a character device, not a regular file",
                 "/dev/zero");
  const fs::path fifo = work.path() / "input.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  ExpectBadInput(Predict(pkg, fifo), fifo.string(), "is a FIFO, not a regular file", "a FIFO");
  const std::string csv = ReadFile(pkg / "input.csv");
  const std::string header = csv.substr(0, csv.find('\n') + 1);
  {
    // A 64 MiB line after the header: refused at the 1 MiB bound, not read whole.
    const fs::path file = work.path() / "long-line.csv";
    {
      std::ofstream out(file, std::ios::binary);
      out << header;
      const std::string block(1 << 20, '7');
      for (int i = 0; i < 64; ++i) out << block;
      out << "\n";
    }
    ExpectBadInput(Predict(pkg, file), file.string(),
                   "line 2 is longer than the limit of 1 MiB (1048576 bytes)", "a 64 MiB line");
  }
  {
    // A 512 KiB field holding an ESC sequence and a carriage return: one short line of message.
    std::string data = csv.substr(header.size());
    auto fields = ParseCsv(data.substr(0, data.find('\n')))[0];
    fields[2] = std::string(256 << 10, 'x') + "\x1b[2J\r" + std::string(256 << 10, 'y');
    std::string row;
    for (size_t i = 0; i < fields.size(); ++i) row += (i ? "," : "") + fields[i];
    const fs::path file = work.Write("bad-field.csv", header + row + "\n");
    const CommandResult r = Predict(pkg, file);
    EXPECT_EQ(r.exit_code, 2) << r.err.substr(0, 300);
    EXPECT_LT(r.err.size(), 512u) << r.err.substr(0, 300);
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find("column 'f1': 'xxxxxxxx"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("...' (524293 bytes) is not a number"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace edge::testing
