// tools/train/train.py (issue #9) end to end, with Debian's python3-torch and python3-onnx: it
// trains a small GRU autoencoder on normal rows of a real pump recording, packs and signs it with
// `edge-agent model pack`, and checks inside that `edge-agent predict` gives PyTorch's scores. The
// test adds: the package verifies with the public key, has the threshold and normalisation the
// script calibrated, the same seed gives the same model bytes, and bad input exits 2.
#include <gtest/gtest.h>

#include <filesystem>
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

CommandResult Train(const fs::path& key, const fs::path& out, const std::string& rows,
                    const std::string& seed = "0") {
  const std::string csv = (kSourceDir / "tools/demo/skab/valve1-13.csv").string();
  return RunCommand(
      {.argv = {"/usr/bin/python3",
                (kSourceDir / "tools/train/train.py").string(),
                "--train",
                csv + "@" + rows,
                "--calibrate",
                csv + "@10:20",
                "--features",
                "pump1.acc1,pump1.acc2,pump1.current,pump1.pressure,pump1.voltage,pump1.flow",
                "--window",
                "8",
                "--hidden",
                "4",
                "--epochs",
                "2",
                "--seed",
                seed,
                "--name",
                "train-test",
                "--version",
                "0.1.0",
                "--edge-agent",
                kAgent,
                "--key",
                key.string(),
                "--out",
                out.string()}},
      std::chrono::seconds(240));
}

TEST(TrainTest, TrainsPacksAndReproducesTheModel) {
  ScratchDir dir;
  const CommandResult keygen =
      RunCommand({.argv = {kAgent, "model", "keygen", "--private", (dir.path() / "k.key").string(),
                           "--public", (dir.path() / "k.pub").string()}});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;

  const CommandResult first = Train(dir.path() / "k.key", dir.path() / "a", "0:20");
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("13 training windows"), std::string::npos) << first.out;
  const CommandResult verify =
      RunCommand({.argv = {kAgent, "model", "verify", (dir.path() / "a").string(), "--key",
                           (dir.path() / "k.pub").string()}});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const std::string manifest = ReadFile(dir.path() / "a/manifest.json");
  EXPECT_NE(manifest.find("\"threshold\""), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"normalize\""), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("\"window\": 8"), std::string::npos) << manifest;

  // The same seed: the same bytes. Another seed: another model.
  const CommandResult again = Train(dir.path() / "k.key", dir.path() / "b", "0:20");
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(ReadFile(dir.path() / "a/model.onnx"), ReadFile(dir.path() / "b/model.onnx"));
  const CommandResult other = Train(dir.path() / "k.key", dir.path() / "c", "0:20", "1");
  ASSERT_EQ(other.exit_code, 0) << other.out << other.err;
  EXPECT_NE(ReadFile(dir.path() / "a/model.onnx"), ReadFile(dir.path() / "c/model.onnx"));
}

TEST(TrainTest, BadInputIsRefused) {
  ScratchDir dir;
  const CommandResult r = Train(dir.path() / "absent.key", dir.path() / "a", "0:5");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("shorter than the window of 8"), std::string::npos) << r.err;
  const CommandResult rows = Train(dir.path() / "absent.key", dir.path() / "a", "x:5");
  EXPECT_EQ(rows.exit_code, 2);
  EXPECT_NE(rows.err.find("rows must be START:END"), std::string::npos) << rows.err;
}

}  // namespace
}  // namespace edge::testing
