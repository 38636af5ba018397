// The cloud side's tooling as a data scientist runs it (DESIGN §4, §5, §7): keygen, pack a model
// really exported by PyTorch (tests/inference/make_models.py), verify, publish into a repository
// tree; and every way a package can be wrong refused with exit code 2 and the file named.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/time_format.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;

const std::string kAgent = AgentBinary();
const fs::path kSourceDir = SourceDir();

// One PyTorch export for the whole suite (torch takes seconds to import).
class ModelTool : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    models_ = new ScratchDir();
    const CommandResult r =
        RunCommand({.argv = {TestPython(), (kSourceDir / "tests/inference/make_models.py").string(),
                             models_->path().string(), "--quick"}},
                   std::chrono::minutes(3));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  static void TearDownTestSuite() {
    delete models_;
    models_ = nullptr;
  }
  // A GRU exported by PyTorch; its feature names and window are read from its manifest.
  static fs::path Reference() { return models_->path() / "gru_1x16_last"; }
  static nlohmann::json ReferenceManifest() {
    return nlohmann::json::parse(ReadFile(Reference() / "manifest.json"));
  }
  static std::string Features() {
    std::string list;
    const nlohmann::json manifest = ReferenceManifest();  // outlives the loop over its features
    for (const auto& f : manifest["inputs"]["features"]) {
      list += (list.empty() ? "" : ",") + f.get<std::string>();
    }
    return list;
  }
  std::vector<std::string> PackArgs(const std::string& version, const fs::path& out) const {
    const nlohmann::json m = ReferenceManifest();
    return {"model",       "pack",
            "--onnx",      (Reference() / "model.onnx").string(),
            "--name",      "pump-anomaly",
            "--version",   version,
            "--features",  Features(),
            "--window",    std::to_string(m["inputs"]["window"].get<int>()),
            "--threshold", "0.42",
            "--key",       (dir_.path() / "repo.key").string(),
            "--out",       out.string()};
  }
  std::vector<std::string> PublishArgs(const fs::path& pkg, const fs::path& repo,
                                       const std::vector<std::string>& more = {}) const {
    std::vector<std::string> args = {"model",       "publish", pkg.string(), "--repo",
                                     repo.string(), "--key",   (dir_.path() / "repo.key").string()};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  void Keygen() {
    const CommandResult r =
        RunAgent({"model", "keygen", "--private", (dir_.path() / "repo.key").string(), "--public",
                  (dir_.path() / "repo.pub").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  static ScratchDir* models_;
  ScratchDir dir_;
};
ScratchDir* ModelTool::models_ = nullptr;

TEST_F(ModelTool, KeygenPackVerifyPublish) {
  Keygen();
  const fs::path pkg = dir_.path() / "pkg";
  CommandResult r = RunAgent(PackArgs("1.4.0", pkg));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("packed pump-anomaly 1.4.0"), std::string::npos) << r.out;

  const nlohmann::json m = nlohmann::json::parse(ReadFile(pkg / "manifest.json"));
  EXPECT_EQ(m["name"], "pump-anomaly");
  EXPECT_EQ(m["version"], "1.4.0");
  EXPECT_EQ(m["format"], "onnx");
  EXPECT_EQ(m["artifact"]["file"], "model.onnx");
  EXPECT_EQ(m["artifact"]["size"].get<uint64_t>(), fs::file_size(pkg / "model.onnx"));
  EXPECT_EQ(m["artifact"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_DOUBLE_EQ(m["output"]["threshold"].get<double>(), 0.42);
  EXPECT_EQ(m["inputs"]["stride"], 1);
  EXPECT_EQ(m["inputs"]["step_ms"], 1000);

  // The signature is checked by openssl as well, not only by us.
  ASSERT_EQ(RunCommand({.argv = {"openssl", "base64", "-d", "-A", "-in",
                                 (pkg / "manifest.json.sig").string(), "-out",
                                 (dir_.path() / "sig.bin").string()}})
                .exit_code,
            0);
  r = RunCommand(
      {.argv = {"openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey",
                (dir_.path() / "repo.pub").string(), "-in", (pkg / "manifest.json").string(),
                "-sigfile", (dir_.path() / "sig.bin").string()}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  r = RunAgent({"model", "verify", pkg.string(), "--key", (dir_.path() / "repo.pub").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(": ok (pump-anomaly 1.4.0; signature verified"), std::string::npos) << r.out;

  const fs::path repo = dir_.path() / "repo";
  r = RunAgent(PublishArgs(pkg, repo));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"manifest.json", "manifest.json.sig", "model.onnx"}) {
    EXPECT_EQ(ReadFile(repo / "pump-anomaly/1.4.0" / f), ReadFile(pkg / f)) << f;
  }
  // latest.json: signed (latest.json.sig, checked with openssl), a serial, an expiry.
  const nlohmann::json latest = nlohmann::json::parse(ReadFile(repo / "pump-anomaly/latest.json"));
  EXPECT_EQ(latest["version"], "1.4.0");
  EXPECT_EQ(latest["serial"], 1);
  ASSERT_TRUE(latest["expires"].is_string());
  const StatusOr<Timestamp> expires = ParseRfc3339(latest["expires"].get<std::string>());
  ASSERT_TRUE(expires.ok());
  const auto lifetime = *expires - std::chrono::system_clock::now();
  EXPECT_GT(lifetime, std::chrono::days(29));
  EXPECT_LT(lifetime, std::chrono::days(31));
  ASSERT_EQ(RunCommand({.argv = {"openssl", "base64", "-d", "-A", "-in",
                                 (repo / "pump-anomaly/latest.json.sig").string(), "-out",
                                 (dir_.path() / "latest.sig.bin").string()}})
                .exit_code,
            0);
  r = RunCommand({.argv = {"openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey",
                           (dir_.path() / "repo.pub").string(), "-in",
                           (repo / "pump-anomaly/latest.json").string(), "-sigfile",
                           (dir_.path() / "latest.sig.bin").string()}});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // The published copy verifies too.
  EXPECT_EQ(RunAgent({"model", "verify", (repo / "pump-anomaly/1.4.0").string(), "--key",
                      (dir_.path() / "repo.pub").string()})
                .exit_code,
            0);
  // Publishing the same package again is harmless, and renews latest.json (the next serial).
  EXPECT_EQ(RunAgent(PublishArgs(pkg, repo, {"--expires-in", "2h"})).exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(ReadFile(repo / "pump-anomaly/latest.json"))["serial"], 2);
  // A lifetime out of range, or no key, is refused.
  r = RunAgent(PublishArgs(pkg, repo, {"--expires-in", "10m"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--expires-in 10m: a duration from 1h to 366d"), std::string::npos) << r.err;
  EXPECT_NE(RunAgent({"model", "publish", pkg.string(), "--repo", repo.string()}).exit_code, 0);
}

TEST_F(ModelTool, LatestOnlyMovesForwardAndPublishedVersionsAreImmutable) {
  Keygen();
  const fs::path repo = dir_.path() / "repo";
  for (const char* v : {"1.10.0", "1.9.3"}) {
    const fs::path pkg = dir_.path() / v;
    ASSERT_EQ(RunAgent(PackArgs(v, pkg)).exit_code, 0);
    const CommandResult r = RunAgent(PublishArgs(pkg, repo));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // 1.10.0 is newer than 1.9.3 (numeric order, not text order).
  EXPECT_EQ(nlohmann::json::parse(ReadFile(repo / "pump-anomaly/latest.json"))["version"],
            "1.10.0");
  EXPECT_TRUE(fs::exists(repo / "pump-anomaly/1.9.3/model.onnx"));

  // A different package under a version already published is refused.
  const fs::path other = dir_.path() / "other";
  ASSERT_EQ(RunAgent(PackArgs("1.10.0", other)).exit_code, 0);  // new timestamp: other bytes
  CommandResult r = RunAgent(PublishArgs(other, repo));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already published with other contents"), std::string::npos) << r.err;

  // --pin names an older version, signed: the way back from a bad one.
  r = RunAgent(PublishArgs(dir_.path() / "1.9.3", repo, {"--pin"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json pinned =
      nlohmann::json::parse(ReadFile(repo / "pump-anomaly/latest.json"));
  EXPECT_EQ(pinned["version"], "1.9.3");
  EXPECT_EQ(pinned["pin"], true);
  EXPECT_EQ(pinned["serial"], 3);
}

TEST_F(ModelTool, VerifyRefusesTamperedPackagesNamingTheFault) {
  Keygen();
  const fs::path pkg = dir_.path() / "pkg";
  ASSERT_EQ(RunAgent(PackArgs("1.0.0", pkg)).exit_code, 0);
  const std::string pub = (dir_.path() / "repo.pub").string();
  const auto verify = [&] { return RunAgent({"model", "verify", pkg.string(), "--key", pub}); };

  // Manifest edited after signing (the threshold raised, say).
  const std::string manifest = ReadFile(pkg / "manifest.json");
  std::string edited = manifest;
  edited.replace(edited.find("0.42"), 4, "0.99");
  std::ofstream(pkg / "manifest.json", std::ios::trunc) << edited;
  CommandResult r = verify();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("manifest.json: the signature does not verify with 1 trusted key"),
            std::string::npos)
      << r.err;
  std::ofstream(pkg / "manifest.json", std::ios::trunc) << manifest;
  ASSERT_EQ(verify().exit_code, 0);

  // Signed with another key.
  ASSERT_EQ(RunAgent({"model", "keygen", "--private", (dir_.path() / "evil.key").string(),
                      "--public", (dir_.path() / "evil.pub").string()})
                .exit_code,
            0);
  r = RunAgent({"model", "verify", pkg.string(), "--key", (dir_.path() / "evil.pub").string()});
  EXPECT_EQ(r.exit_code, 2);

  // Artifact replaced (the signature over the manifest still holds; the hash does not).
  const std::string artifact = ReadFile(pkg / "model.onnx");
  std::string flipped = artifact;
  flipped[flipped.size() / 2] ^= 0x01;
  std::ofstream(pkg / "model.onnx", std::ios::trunc | std::ios::binary) << flipped;
  r = verify();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("sha256"), std::string::npos) << r.err;

  // Signature missing.
  std::ofstream(pkg / "model.onnx", std::ios::trunc | std::ios::binary) << artifact;
  fs::remove(pkg / "manifest.json.sig");
  r = verify();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("manifest.json.sig: cannot open"), std::string::npos) << r.err;
}

TEST_F(ModelTool, PackRefusesBadInputBeforeWritingAnything) {
  Keygen();
  const auto pack_with = [&](const std::string& flag, const std::string& value) {
    std::vector<std::string> args = PackArgs("1.0.0", dir_.path() / "out");
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == flag) args[i + 1] = value;
    }
    return RunAgent(args);
  };
  struct Case {
    std::string flag, value, message;
  };
  const nlohmann::json m = ReferenceManifest();
  const int window = m["inputs"]["window"].get<int>();
  const std::vector<Case> cases = {
      {"--version", "1.4", "--version: version \"1.4\" is not MAJOR.MINOR.PATCH"},
      {"--name", "pump anomaly", "--name \"pump anomaly\""},
      {"--features", "a,,b", "--features: empty feature name at position 2"},
      {"--features", "a,b,a,c", "--features: \"a\" is listed twice"},
      {"--features", "a,b", "model.onnx"},  // the model takes more features than that
      {"--window", std::to_string(window + 1), "model.onnx"},
      {"--onnx", (dir_.path() / "missing.onnx").string(), "missing.onnx: cannot open"},
      {"--key", (dir_.path() / "repo.pub").string(), "repo.pub: not an Ed25519 private key"},
  };
  for (const Case& c : cases) {
    const CommandResult r = pack_with(c.flag, c.value);
    EXPECT_EQ(r.exit_code, 2) << c.flag << " " << c.value << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos)
        << c.flag << " " << c.value << ": " << r.err;
    EXPECT_FALSE(fs::exists(dir_.path() / "out")) << c.flag;
  }
  // --normalize with the wrong number of values.
  std::ofstream(dir_.path() / "norm.json") << R"({"mean":[0],"std":[1]})";
  std::vector<std::string> args = PackArgs("1.0.0", dir_.path() / "out");
  args.insert(args.end(), {"--normalize", (dir_.path() / "norm.json").string()});
  const CommandResult r = RunAgent(args);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("norm.json: \"mean\" has 1 values for"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace edge::testing
