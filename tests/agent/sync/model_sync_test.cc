// ModelSync against a real repository: tests/support/http_test_server.py serving a tree made by
// `edge-agent model publish`, packages of models exported by PyTorch and signed by `edge-agent
// model pack`, a real data directory. The host side records what the pipeline would be given
// (the pipeline itself is exercised end to end in tests/integration/model_sync_e2e_test.cc).
#include "agent/sync/model_sync.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/sync/latest_document.h"
#include "agent/sync/model_store.h"
#include "inference/package_signature.h"
#include "tests/agent/test_packages.h"
#include "tests/support/http_servers.h"
#include "tests/support/proc_status.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using edge::testing::ReadFile;
using edge::testing::RunCommand;
using edge::testing::ScratchDir;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

const std::string kAgent = EDGE_AGENT_BINARY;

// Packages made once per build tree and shared by every test process
// (tests/agent/test_packages.h).
struct Packages {
  fs::path root;
  std::string error;
  fs::path Pkg(const std::string& name) const { return root / name; }
  std::string trusted_key() const { return (root / "repo.pub").string(); }
  std::string signing_key() const { return (root / "repo.pem").string(); }
};
Packages* packages = nullptr;

class RecordingHost : public ModelSync::Host {
 public:
  Status CheckFits(const std::string&, const inference::Manifest& manifest) override {
    if (manifest.features != std::vector<std::string>{"pressure"}) {
      return Status::InvalidArgument("deployment pump1: needs exactly the input \"pressure\"");
    }
    return Status::Ok();
  }
  void InstallModel(const std::string& model, LoadedModel loaded) override {
    std::lock_guard lock(mu_);
    installs_.push_back(model + " " + loaded.package.manifest.version +
                        (loaded.probation_until ? " probation" : ""));
    cv_.notify_all();
  }
  void ReportModel(const ModelStatusMessage& message) override {
    std::lock_guard lock(mu_);
    reports_.push_back(message);
    cv_.notify_all();
  }
  std::vector<std::string> installs() {
    std::lock_guard lock(mu_);
    return installs_;
  }
  std::vector<ModelStatusMessage> reports() {
    std::lock_guard lock(mu_);
    return reports_;
  }
  // Waits until there are `n` reports; returns the last one (or an empty one on timeout).
  ModelStatusMessage WaitReport(size_t n, std::chrono::milliseconds timeout = seconds(30)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return reports_.size() >= n; });
    return reports_.size() >= n ? reports_[n - 1] : ModelStatusMessage{};
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> installs_;
  std::vector<ModelStatusMessage> reports_;
};

class ModelSyncTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    packages = new Packages;
    packages->root = fs::path(EDGE_TEST_CACHE_DIR) / "model-sync-packages";
    packages->error = testing::MakeTestPackagesOnce(
        packages->root, {{"v1.0.0", "1.0.0", "last", "repo.pem"},
                         {"v1.1.0", "1.1.0", "last", "repo.pem"},
                         {"v1.2.0-log", "1.2.0", "log", "repo.pem"},
                         {"v1.2.0-rogue", "1.2.0", "last", "rogue.pem"}});
  }
  static void TearDownTestSuite() {
    delete packages;
    packages = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(packages->error, "");
    ASSERT_EQ(server_.error(), "");
  }

  // Used by the fault table too.
 public:
  // `edge-agent model publish` into the server's tree.
  void Publish(const std::string& package) {
    PublishDir(packages->Pkg(package).string());
  }
  void PublishDir(const std::string& dir, const std::vector<std::string>& more = {}) {
    std::vector<std::string> argv = {kAgent,   "model", "publish",
                                     dir,      "--repo", server_.root().string(),
                                     "--key",  packages->signing_key()};
    argv.insert(argv.end(), more.begin(), more.end());
    const edge::testing::CommandResult r = RunCommand({.argv = argv});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // A signed latest.json as `model publish` writes it (the next serial), or with other fields.
  struct Latest {
    std::chrono::seconds expires_in = std::chrono::hours(1);
    std::optional<uint64_t> serial;  // default: the next one
    bool pin = false;
    std::string key;  // default: the repository's key
  };
  static Latest ExpiresIn(std::chrono::seconds lifetime) {
    Latest how;
    how.expires_in = lifetime;
    return how;
  }
  static Latest SignedWith(const std::string& key) {
    Latest how;
    how.key = key;
    return how;
  }
  static Latest Serial(uint64_t serial) {
    Latest how;
    how.serial = serial;
    return how;
  }
  static Latest Pin() {
    Latest how;
    how.pin = true;
    return how;
  }
  void SetLatest(const std::string& version) { SetLatest(version, Latest{}); }
  void SetLatest(const std::string& version, const Latest& how) {
    const fs::path path = server_.root() / "pump/latest.json";
    uint64_t serial = 0;
    if (fs::exists(path)) serial = nlohmann::json::parse(ReadFile(path)).value("serial", 0ull);
    LatestDocument doc;
    doc.version = *inference::ParseModelVersion(version);
    doc.serial = how.serial.value_or(serial + 1);
    doc.pin = how.pin;
    doc.expires = std::chrono::time_point_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now() + how.expires_in);
    const std::string text = FormatLatestDocument(doc);
    StatusOr<inference::SigningKey> key =
        inference::SigningKey::Load(how.key.empty() ? packages->signing_key() : how.key);
    ASSERT_TRUE(key.ok()) << key.status().message();
    server_.Put("pump/latest.json.sig", key->SignBase64(text));
    server_.Put("pump/latest.json", text);
  }
  // v1.1.0's files as version `version` in the repository, the manifest edited by `edit` and
  // signed again with the repository key (a package the repository's owner signed).
  void PutEditedPackage(const std::string& version,
                        const std::function<void(nlohmann::json&)>& edit = {}) {
    const fs::path dir = server_.root() / "pump" / version;
    fs::create_directories(dir);
    nlohmann::json manifest = nlohmann::json::parse(ReadFile(packages->Pkg("v1.1.0") / "manifest.json"));
    manifest["version"] = version;
    if (edit) edit(manifest);
    const std::string text = manifest.dump(2) + "\n";
    StatusOr<inference::SigningKey> key = inference::SigningKey::Load(packages->signing_key());
    ASSERT_TRUE(key.ok()) << key.status().message();
    std::ofstream(dir / "manifest.json", std::ios::binary) << text;
    std::ofstream(dir / "manifest.json.sig", std::ios::binary) << key->SignBase64(text);
    fs::copy_file(packages->Pkg("v1.1.0") / "model.onnx", dir / "model.onnx",
                  fs::copy_options::overwrite_existing);
  }

 protected:
  std::unique_ptr<ModelSync> MakeSync(std::chrono::milliseconds poll = std::chrono::hours(1),
                                      std::chrono::milliseconds stall = seconds(1),
                                      bool allow_unsigned_latest = false) {
    config::RepositoryConfig repo;
    repo.allow_unsigned_latest = allow_unsigned_latest;
    repo.url = server_.Url("/");
    repo.poll_interval = poll;
    repo.trusted_keys = {packages->trusted_key()};
    ModelSyncOptions options;
    options.http.connect_timeout = seconds(2);
    options.http.stall_timeout = stall;
    options.http.total_timeout = seconds(60);
    StatusOr<std::unique_ptr<ModelSync>> sync =
        ModelSync::Create(repo, data_dir_, {{"pump", 1}}, host_, options);
    EXPECT_TRUE(sync.ok()) << sync.status().message();
    return sync.ok() ? std::move(*sync) : nullptr;
  }

  std::optional<inference::ModelVersion> Current() {
    StatusOr<InstalledModel> installed = ModelStore(data_dir_, "pump").Read();
    return installed.ok() ? installed->current : std::nullopt;
  }

  // 1.0.0 published, installed and running.
  std::unique_ptr<ModelSync> StartWithFirstVersion() {
    Publish("v1.0.0");
    std::unique_ptr<ModelSync> sync = MakeSync();
    if (sync == nullptr) return nullptr;
    EXPECT_FALSE(sync->LoadInstalled("pump").has_value());
    sync->Start();
    const ModelStatusMessage first = host_.WaitReport(1);
    EXPECT_EQ(first.result, ModelResult::kInstalled) << first.reason;
    EXPECT_EQ(first.version, "1.0.0");
    return sync;
  }

  ScratchDir data_;
  fs::path data_dir_ = data_.path();
  edge::testing::HttpTestServer server_{EDGE_TEST_PYTHON};
  RecordingHost host_;
};

TEST_F(ModelSyncTest, InstallsTheLatestVersionAndThenANewerOneOnNotify) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  EXPECT_EQ(host_.installs(), std::vector<std::string>{"pump 1.0.0 probation"});
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));

  Publish("v1.1.0");
  sync->Notify(R"({"model":"pump"})");
  const ModelStatusMessage second = host_.WaitReport(2);
  EXPECT_EQ(second.result, ModelResult::kInstalled) << second.reason;
  EXPECT_EQ(second.version, "1.1.0");
  EXPECT_EQ(second.reason, "");
  EXPECT_EQ(host_.installs().back(), "pump 1.1.0 probation");
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.1.0"));
  EXPECT_TRUE(fs::is_directory(data_.path() / "models/pump/1.0.0"));  // kept for rollback

  // Nothing new: the next check is answered 304, and nothing is installed or reported.
  sync->Notify("");
  std::this_thread::sleep_for(milliseconds(500));
  sync->Stop();
  EXPECT_EQ(host_.reports().size(), 2u);
  const std::vector<ModelSyncStats> stats = sync->stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].installed_version, "1.1.0");
  EXPECT_EQ(stats[0].installed, 2u);
  EXPECT_GE(stats[0].not_modified, 1u);
  EXPECT_NE(server_.Requests().find("GET /pump/latest.json \""), std::string::npos)
      << "no If-None-Match sent:\n"
      << server_.Requests();
}

TEST_F(ModelSyncTest, PollingPicksUpANewVersionWithinOneInterval) {
  Publish("v1.0.0");
  std::unique_ptr<ModelSync> sync = MakeSync(seconds(2));
  ASSERT_NE(sync, nullptr);
  sync->Start();
  ASSERT_EQ(host_.WaitReport(1).version, "1.0.0");
  const auto published = steady_clock::now();
  Publish("v1.1.0");
  const ModelStatusMessage second = host_.WaitReport(2, seconds(10));
  EXPECT_EQ(second.version, "1.1.0") << second.reason;
  EXPECT_EQ(second.result, ModelResult::kInstalled);
  EXPECT_LT(steady_clock::now() - published, seconds(4));  // interval 2 s, +10 % jitter, slack
}

size_t CountOf(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A refusal leaves the running model alone: nothing handed to the pipeline, current unchanged.
struct Fault {
  const char* name;
  std::function<void(ModelSyncTest&, edge::testing::HttpTestServer&)> apply;
  const char* reason;  // part of the reported reason
  // refused: the package is wrong; failed: the repository or the network failed (retried).
  ModelResult result = ModelResult::kRefused;
};

class ModelSyncRefusal : public ModelSyncTest, public ::testing::WithParamInterface<Fault> {};

TEST_P(ModelSyncRefusal, IsReportedAndLeavesTheRunningModelUntouched) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  GetParam().apply(*this, server_);
  sync->Notify("");
  const ModelStatusMessage refusal = host_.WaitReport(2, seconds(20));
  EXPECT_EQ(refusal.result, GetParam().result) << refusal.reason;
  EXPECT_NE(refusal.reason.find(GetParam().reason), std::string::npos) << refusal.reason;
  EXPECT_FALSE(refusal.version.empty());
  EXPECT_EQ(host_.installs(), std::vector<std::string>{"pump 1.0.0 probation"});
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
  // The same refusal is not reported again at the next check, and a refused package is not
  // fetched again.
  const size_t manifest_gets = CountOf(server_.Requests(), "GET /pump/1.1.0/manifest.json ");
  sync->Notify("");
  std::this_thread::sleep_for(milliseconds(300));
  sync->Stop();
  EXPECT_EQ(host_.reports().size(), 2u);
  if (GetParam().result == ModelResult::kRefused) {
    EXPECT_EQ(CountOf(server_.Requests(), "GET /pump/1.1.0/manifest.json "), manifest_gets)
        << server_.Requests();
  }
  EXPECT_FALSE(fs::exists(data_.path() / "models/pump/.staging-1.1.0"));
  EXPECT_FALSE(fs::exists(data_.path() / "models/pump/1.1.0"));
}

void Append(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

// v1.1.0 signed by the repository's key, its manifest naming the artifact `file`.
Fault ArtifactNamed(const char* name, std::string file, const char* reason) {
  return Fault{name,
               [file](ModelSyncTest& t, edge::testing::HttpTestServer&) {
                 t.PutEditedPackage("1.1.0",
                                    [&file](nlohmann::json& m) { m["artifact"]["file"] = file; });
                 t.SetLatest("1.1.0");
               },
               reason};
}

std::vector<Fault> Faults() {
  return {Fault{"Unsigned",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  fs::remove(s.root() / "pump/1.1.0/manifest.json.sig");
                },
                "manifest.json.sig: HTTP 404", ModelResult::kFailed},
          Fault{"UntrustedKey",
                [](ModelSyncTest& t, edge::testing::HttpTestServer&) { t.Publish("v1.2.0-rogue"); },
                "the signature does not verify with 1 trusted key"},
          Fault{"ManifestEditedAfterSigning",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  const fs::path m = s.root() / "pump/1.1.0/manifest.json";
                  std::string text = ReadFile(m);
                  text.replace(text.find("\"threshold\": 0.5"), 16, "\"threshold\": 9.5");
                  std::ofstream(m, std::ios::binary | std::ios::trunc) << text;
                },
                "the signature does not verify"},
          Fault{"ArtifactHashMismatch",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  const fs::path a = s.root() / "pump/1.1.0/model.onnx";
                  std::string bytes = ReadFile(a);
                  bytes[bytes.size() / 2] ^= 0x55;  // same size, other content
                  std::ofstream(a, std::ios::binary | std::ios::trunc) << bytes;
                },
                "sha256"},
          Fault{"OversizedArtifact",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  Append(s.root() / "pump/1.1.0/model.onnx", std::string(4096, 'x'));
                },
                "larger than the"},
          Fault{"TruncatedDownload",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  s.SetFault("/pump/1.1.0/model.onnx", "truncated");
                },
                "truncated", ModelResult::kFailed},
          Fault{"StalledDownload",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  s.SetFault("/pump/1.1.0/model.onnx", "stall");
                },
                "no data for 1000 ms", ModelResult::kFailed},
          Fault{"ServerErrorOnTheArtifact",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  s.SetFault("/pump/1.1.0/model.onnx", "status/500");
                },
                "HTTP 500", ModelResult::kFailed},
          Fault{"SmokeTestFails",
                [](ModelSyncTest& t, edge::testing::HttpTestServer&) { t.Publish("v1.2.0-log"); },
                "smoke test: output \"score\"[0] is -inf"},
          Fault{"OlderVersion",
                [](ModelSyncTest& t, edge::testing::HttpTestServer&) { t.SetLatest("0.9.0"); },
                "version 0.9.0 is not newer than 1.0.0, the highest installed"},
          Fault{"ManifestOfAnotherVersion",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  // A validly signed 1.0.0 manifest served as 1.3.0 (a replay under a new name).
                  fs::copy(s.root() / "pump/1.0.0", s.root() / "pump/1.3.0");
                  t.SetLatest("1.3.0");
                },
                "is for pump 1.0.0, not pump 1.3.0"},
          // A manifest signed by the repository's own key, naming a file that would escape the
          // package or overwrite its manifest: refused once, never downloaded.
          ArtifactNamed("ArtifactNamedManifestJson", "manifest.json",
                        "artifact.file \"manifest.json\" is the name of the package's own"),
          ArtifactNamed("ArtifactNamedManifestSignature", "manifest.json.sig",
                        "is the name of the package's own manifest.json.sig"),
          ArtifactNamed("ArtifactPathUp", "../x", "not a path"),
          ArtifactNamed("ArtifactHidden", ".model\x1b[2J\n.onnx",
                        "artifact.file \".model\\u001b[2J\\n.onnx\" is not a plain file name")};
}

std::string FaultName(const ::testing::TestParamInfo<Fault>& fault) { return fault.param.name; }

INSTANTIATE_TEST_SUITE_P(Faults, ModelSyncRefusal, ::testing::ValuesIn(Faults()), FaultName);

TEST_F(ModelSyncTest, RepositoryFailuresAreCountedAndTheModelKeepsRunning) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  server_.SetFault("/pump/latest.json", "status/500");
  sync->Notify("");
  std::this_thread::sleep_for(milliseconds(400));
  // Garbage does not verify with latest.json.sig: the gateway cannot confirm it is current.
  server_.SetFault("", "");
  server_.SetFault("/pump/latest.json", "garbage");
  sync->Notify("");
  const ModelStatusMessage garbage = host_.WaitReport(2);
  EXPECT_EQ(garbage.result, ModelResult::kUnconfirmed) << garbage.reason;
  EXPECT_EQ(garbage.version, "1.0.0");  // the one running
  server_.SetFault("", "");
  fs::remove(server_.root() / "pump/latest.json");  // 404
  sync->Notify("");
  std::this_thread::sleep_for(milliseconds(400));
  sync->Stop();
  const std::vector<ModelSyncStats> stats = sync->stats();
  EXPECT_EQ(stats[0].fetch_errors, 2u);
  EXPECT_NE(stats[0].last_error.find("HTTP 404"), std::string::npos) << stats[0].last_error;
  EXPECT_EQ(host_.reports().size(), 2u);  // a fetch error has no version: log and counters only
  EXPECT_EQ(host_.installs().size(), 1u);
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
}

TEST_F(ModelSyncTest, RetriesAfterATransientFailureWithoutAChangeInTheRepository) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  Publish("v1.1.0");
  server_.SetFault("/pump/1.1.0/model.onnx", "truncated");  // the connection dropped halfway
  sync->Notify("");
  const ModelStatusMessage failed = host_.WaitReport(2);
  EXPECT_EQ(failed.result, ModelResult::kFailed) << failed.reason;
  EXPECT_NE(failed.reason.find("truncated"), std::string::npos) << failed.reason;
  server_.SetFault("", "");
  sync->Notify("");
  const ModelStatusMessage third = host_.WaitReport(3);
  EXPECT_EQ(third.result, ModelResult::kInstalled) << third.reason;
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.1.0"));
}

TEST_F(ModelSyncTest, RollbackReturnsToThePreviousVersionAndNeverRetriesTheBadOne) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  Publish("v1.1.0");
  sync->Notify("");
  ASSERT_EQ(host_.WaitReport(2).version, "1.1.0");

  sync->RequestRollback("pump", "1.1.0", "the model scored NaN for deployment pump1");
  const ModelStatusMessage back = host_.WaitReport(3);
  EXPECT_EQ(back.result, ModelResult::kRolledBack);
  EXPECT_EQ(back.version, "1.1.0");
  EXPECT_EQ(back.reason, "the model scored NaN for deployment pump1; back to 1.0.0");
  EXPECT_EQ(host_.installs().back(), "pump 1.0.0");  // no probation for the known-good one
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));

  // After a restart (no ETag remembered), latest.json still naming 1.1.0 is refused.
  sync.reset();
  sync = MakeSync();
  ASSERT_EQ(sync->LoadInstalled("pump")->package.manifest.version, "1.0.0");
  sync->Start();
  const ModelStatusMessage refused = host_.WaitReport(4);
  EXPECT_EQ(refused.result, ModelResult::kRefused);
  EXPECT_NE(refused.reason.find("not newer than 1.1.0"), std::string::npos) << refused.reason;
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
  EXPECT_EQ(host_.installs().size(), 3u);
}

TEST_F(ModelSyncTest, AtStartAnInstalledVersionThatNoLongerLoadsIsRolledBack) {
  {
    std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
    ASSERT_NE(sync, nullptr);
    Publish("v1.1.0");
    sync->Notify("");
    ASSERT_EQ(host_.WaitReport(2).version, "1.1.0");
  }
  // The installed artifact changes on disk (a disk fault, or someone editing it).
  Append(data_.path() / "models/pump/1.1.0/model.onnx", "x");
  std::unique_ptr<ModelSync> sync = MakeSync();
  ASSERT_NE(sync, nullptr);
  std::optional<LoadedModel> loaded = sync->LoadInstalled("pump");
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->package.manifest.version, "1.0.0");
  const ModelStatusMessage back = host_.WaitReport(3);
  EXPECT_EQ(back.result, ModelResult::kRolledBack);
  EXPECT_NE(back.reason.find("installed version 1.1.0 no longer loads"), std::string::npos)
      << back.reason;
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
}

TEST_F(ModelSyncTest, StopAbandonsAStalledDownloadAtOnce) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  sync.reset();
  sync = MakeSync(std::chrono::hours(1), std::chrono::minutes(5));  // the stall would hold 5 min
  ASSERT_TRUE(sync->LoadInstalled("pump").has_value());
  Publish("v1.1.0");
  server_.SetFault("/pump/1.1.0/model.onnx", "stall");
  sync->Start();
  const auto deadline = steady_clock::now() + seconds(20);
  while (server_.Requests().find("GET /pump/1.1.0/model.onnx") == std::string::npos &&
         steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_NE(server_.Requests().find("GET /pump/1.1.0/model.onnx"), std::string::npos);
  const auto stop = steady_clock::now();
  sync->Stop();
  EXPECT_LT(steady_clock::now() - stop, seconds(10));
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
}

// ---- latest.json signed, with an expiry and a serial (DESIGN §7) ----

struct LatestFault {
  const char* name;
  std::function<void(ModelSyncTest&, edge::testing::HttpTestServer&)> apply;
  const char* reason;
};

class UnconfirmedLatest : public ModelSyncTest,
                          public ::testing::WithParamInterface<LatestFault> {};

// latest.json names 1.1.0 (published and valid), but latest.json itself cannot be trusted:
// nothing is installed, the running model keeps running, and the gateway says why.
TEST_P(UnconfirmedLatest, IsReportedAndNothingIsInstalled) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  GetParam().apply(*this, server_);
  sync->Notify("");
  const ModelStatusMessage report = host_.WaitReport(2, seconds(20));
  EXPECT_EQ(report.result, ModelResult::kUnconfirmed) << report.reason;
  EXPECT_NE(report.reason.find("cannot confirm the model is current"), std::string::npos)
      << report.reason;
  EXPECT_NE(report.reason.find(GetParam().reason), std::string::npos) << report.reason;
  EXPECT_FALSE(report.version.empty());
  const std::vector<ModelSyncStats> stats = sync->stats();
  EXPECT_EQ(stats[0].unconfirmed, report.reason);
  EXPECT_EQ(stats[0].installed_version, "1.0.0");
  // Said once, however often it is seen.
  sync->Notify("");
  std::this_thread::sleep_for(milliseconds(300));
  sync->Stop();
  EXPECT_EQ(host_.reports().size(), 2u);
  EXPECT_EQ(host_.installs().size(), 1u);
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
  EXPECT_EQ(CountOf(server_.Requests(), "GET /pump/1.1.0/manifest.json"), 0u);
}

std::vector<LatestFault> LatestFaults() {
  return {LatestFault{"Unsigned",
                      [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                        t.Publish("v1.1.0");
                        fs::remove(s.root() / "pump/latest.json.sig");
                      },
                      "not signed (no latest.json.sig)"},
          LatestFault{"Expired",
                      [](ModelSyncTest& t, edge::testing::HttpTestServer&) {
                        t.Publish("v1.1.0");
                        t.SetLatest("1.1.0", ModelSyncTest::ExpiresIn(-std::chrono::minutes(1)));
                      },
                      "expired at"},
          LatestFault{"SignedByAnUntrustedKey",
                      [](ModelSyncTest& t, edge::testing::HttpTestServer&) {
                        t.Publish("v1.1.0");
                        t.SetLatest("1.1.0", ModelSyncTest::SignedWith((packages->root / "rogue.pem").string()));
                      },
                      "the signature does not verify with 1 trusted key"},
          LatestFault{"EditedAfterSigning",
                      [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                        t.Publish("v1.1.0");
                        const fs::path p = s.root() / "pump/latest.json";
                        std::string text = ReadFile(p);
                        text.replace(text.find("1.1.0"), 5, "1.2.0");
                        std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
                      },
                      "the signature does not verify"},
          LatestFault{"SerialZero",
                      [](ModelSyncTest& t, edge::testing::HttpTestServer&) {
                        t.Publish("v1.1.0");
                        t.SetLatest("1.1.0", ModelSyncTest::Serial(0));
                      },
                      "\"serial\" must be an integer 1.."},
          LatestFault{"NoExpiry",
                      [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                        t.Publish("v1.1.0");
                        const std::string text = R"({"version":"1.1.0","serial":9})";
                        StatusOr<inference::SigningKey> key =
                            inference::SigningKey::Load(packages->signing_key());
                        s.Put("pump/latest.json.sig", key->SignBase64(text));
                        s.Put("pump/latest.json", text);
                      },
                      "\"expires\" (an RFC 3339 time) is missing"}};
}

std::string LatestFaultName(const ::testing::TestParamInfo<LatestFault>& fault) {
  return fault.param.name;
}

INSTANTIATE_TEST_SUITE_P(Faults, UnconfirmedLatest, ::testing::ValuesIn(LatestFaults()),
                         LatestFaultName);

TEST_F(ModelSyncTest, AnUnsignedLatestIsReadOnlyWhenTheConfigurationAllowsIt) {
  Publish("v1.0.0");
  fs::remove(server_.root() / "pump/latest.json.sig");
  server_.Put("pump/latest.json", R"({"version":"1.0.0"})");  // an old repository's file
  std::unique_ptr<ModelSync> sync = MakeSync(std::chrono::hours(1), seconds(1), true);
  ASSERT_NE(sync, nullptr);
  sync->Start();
  const ModelStatusMessage first = host_.WaitReport(1);
  EXPECT_EQ(first.result, ModelResult::kInstalled) << first.reason;
  // Unsigned, it cannot pin.
  server_.Put("pump/latest.json", R"({"version":"0.9.0","pin":true})");
  sync->Notify("");
  const ModelStatusMessage pin = host_.WaitReport(2);
  EXPECT_EQ(pin.result, ModelResult::kUnconfirmed);
  EXPECT_NE(pin.reason.find("\"pin\" needs a signed latest.json"), std::string::npos)
      << pin.reason;
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
}

TEST_F(ModelSyncTest, AnOlderSerialIsAReplayEvenAfterARestart) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();  // serial 1 names 1.0.0
  ASSERT_NE(sync, nullptr);
  const std::string old_text = ReadFile(server_.root() / "pump/latest.json");
  const std::string old_sig = ReadFile(server_.root() / "pump/latest.json.sig");
  Publish("v1.1.0");  // serial 2 names 1.1.0
  sync->Notify("");
  ASSERT_EQ(host_.WaitReport(2).version, "1.1.0");
  sync.reset();
  // A mirror serves the old, validly signed, unexpired latest.json again.
  server_.Put("pump/latest.json", old_text);
  server_.Put("pump/latest.json.sig", old_sig);
  sync = MakeSync();
  ASSERT_EQ(sync->LoadInstalled("pump")->package.manifest.version, "1.1.0");
  sync->Start();
  const ModelStatusMessage replay = host_.WaitReport(3);
  EXPECT_EQ(replay.result, ModelResult::kUnconfirmed);
  EXPECT_NE(replay.reason.find("serial 1 is older than serial 2"), std::string::npos)
      << replay.reason;
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.1.0"));
}

TEST_F(ModelSyncTest, AnUnchangedLatestThatExpiresMakesTheGatewayUnconfirmed) {
  Publish("v1.0.0");
  SetLatest("1.0.0", ExpiresIn(std::chrono::seconds(2)));
  std::unique_ptr<ModelSync> sync = MakeSync();
  ASSERT_NE(sync, nullptr);
  sync->Start();
  ASSERT_EQ(host_.WaitReport(1).result, ModelResult::kInstalled);
  EXPECT_EQ(sync->stats()[0].unconfirmed, "");
  std::this_thread::sleep_for(milliseconds(2100));
  sync->Notify("");  // answered 304: the same document, now expired
  const ModelStatusMessage expired = host_.WaitReport(2);
  EXPECT_EQ(expired.result, ModelResult::kUnconfirmed);
  EXPECT_NE(expired.reason.find("expired at"), std::string::npos) << expired.reason;
  // Renewed by the publisher: confirmed again.
  SetLatest("1.0.0");
  sync->Notify("");
  const auto deadline = steady_clock::now() + seconds(10);
  while (!sync->stats()[0].unconfirmed.empty() && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_EQ(sync->stats()[0].unconfirmed, "");
}

// The highest possible version installs, and nothing can be newer: a signed pin is the way back,
// obeyed once; versions above the pinned one install again; the old pin cannot be replayed.
TEST_F(ModelSyncTest, ASignedPinRecoversFromTheHighestPossibleVersion) {
  const std::string max = "4294967295.4294967295.4294967295";
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  PutEditedPackage(max);
  SetLatest(max);
  sync->Notify("");
  ASSERT_EQ(host_.WaitReport(2).version, max);
  Publish("v1.1.0");  // latest.json stays at the maximum
  EXPECT_EQ(nlohmann::json::parse(ReadFile(server_.root() / "pump/latest.json"))["version"], max);

  // `model publish --pin` with the repository's own copy of 1.0.0.
  PublishDir((server_.root() / "pump/1.0.0").string(), {"--pin"});
  const std::string pin_text = ReadFile(server_.root() / "pump/latest.json");
  const std::string pin_sig = ReadFile(server_.root() / "pump/latest.json.sig");
  sync->Notify("");
  const ModelStatusMessage pinned = host_.WaitReport(3);
  EXPECT_EQ(pinned.result, ModelResult::kInstalled) << pinned.reason;
  EXPECT_EQ(pinned.version, "1.0.0");
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));

  Publish("v1.1.0");  // newer than the pinned floor: installs
  sync->Notify("");
  const ModelStatusMessage newer = host_.WaitReport(4);
  EXPECT_EQ(newer.result, ModelResult::kInstalled) << newer.reason;
  EXPECT_EQ(newer.version, "1.1.0");

  // The pin, replayed by a mirror, is refused, also after a restart.
  server_.Put("pump/latest.json", pin_text);
  server_.Put("pump/latest.json.sig", pin_sig);
  sync.reset();
  sync = MakeSync();
  ASSERT_TRUE(sync->LoadInstalled("pump").has_value());
  sync->Start();
  const ModelStatusMessage replay = host_.WaitReport(5);
  EXPECT_EQ(replay.result, ModelResult::kUnconfirmed) << replay.reason;
  EXPECT_NE(replay.reason.find("is older than serial"), std::string::npos) << replay.reason;
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.1.0"));
}

// A pin is obeyed once per serial: a pinned version that is rolled back is not installed again
// while the same latest.json names it.
TEST_F(ModelSyncTest, APinIsObeyedOncePerSerial) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  Publish("v1.1.0");
  sync->Notify("");
  ASSERT_EQ(host_.WaitReport(2).version, "1.1.0");
  SetLatest("1.0.0", Pin());
  sync->Notify("");
  ASSERT_EQ(host_.WaitReport(3).version, "1.0.0");
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
  // The pinned version fails on probation and is rolled back to 1.1.0.
  sync->RequestRollback("pump", "1.0.0", "the model scored NaN for deployment pump1");
  ASSERT_EQ(host_.WaitReport(4).result, ModelResult::kRolledBack);
  // After a restart (no ETag), the same pin is a plain "1.0.0": older, refused.
  sync.reset();
  sync = MakeSync();
  ASSERT_EQ(sync->LoadInstalled("pump")->package.manifest.version, "1.1.0");
  sync->Start();
  const ModelStatusMessage again = host_.WaitReport(5);
  EXPECT_EQ(again.result, ModelResult::kRefused) << again.reason;
  EXPECT_NE(again.reason.find("not newer than 1.1.0"), std::string::npos) << again.reason;
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.1.0"));
  EXPECT_EQ(host_.installs().size(), 4u);  // 1.0.0, 1.1.0, 1.0.0 (pinned), 1.1.0 (rollback)
}

TEST(ModelSyncCreate, RefusesAModelNameThatIsNotASafePathComponent) {
  RecordingHost host;
  ScratchDir data;
  config::RepositoryConfig repo;
  repo.url = "http://127.0.0.1:1/";
  for (const std::string& name : {std::string(".."), std::string("."), std::string(".hidden"),
                                  std::string("a/b"), std::string(65, 'm')}) {
    StatusOr<std::unique_ptr<ModelSync>> sync =
        ModelSync::Create(repo, data.path(), {{name, 1}}, host);
    EXPECT_EQ(sync.status().code(), StatusCode::kInvalidArgument) << name;
  }
  EXPECT_FALSE(fs::exists(data.path() / "models"));
}

// A 200 MB artifact (a sparse file on the server, a tmpfs data directory) is hashed as it
// arrives: a wrong sha256 is refused without the artifact ever being read into memory.
TEST_F(ModelSyncTest, ALargeArtifactIsHashedWithoutBeingHeldInMemory) {
  char shm[] = "/dev/shm/edge-sync-XXXXXX";
  if (::mkdtemp(shm) == nullptr) GTEST_SKIP() << "no /dev/shm";
  struct RemoveAtEnd {
    fs::path dir;
    ~RemoveAtEnd() { fs::remove_all(dir); }
  } remove_at_end{shm};
  data_dir_ = shm;
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  constexpr uint64_t kSize = 200ull << 20;
  PutEditedPackage("1.1.0", [&](nlohmann::json& m) {
    m["artifact"]["size"] = kSize;
    m["artifact"]["sha256"] = std::string(64, '0');
  });
  fs::resize_file(server_.root() / "pump/1.1.0/model.onnx", kSize);  // sparse: no disk
  SetLatest("1.1.0");
  std::ofstream("/proc/self/clear_refs") << "5";  // the peak RSS from now on
  const int64_t before = edge::testing::ProcStatusKiB("VmHWM");  // clear_refs "5" resets it
  sync->Notify("");
  const ModelStatusMessage refused = host_.WaitReport(2, seconds(60));
  const int64_t growth_mib = (edge::testing::ProcStatusKiB("VmHWM") - before) >> 10;
  sync.reset();
  EXPECT_EQ(refused.result, ModelResult::kRefused) << refused.reason;
  EXPECT_NE(refused.reason.find("with sha256"), std::string::npos) << refused.reason;
  EXPECT_LT(growth_mib, 32) << "peak RSS grew by " << growth_mib << " MiB";
  std::printf("200 MiB artifact refused by its streamed sha256: peak RSS +%llu MiB\n",
              static_cast<unsigned long long>(growth_mib));
}

}  // namespace
}  // namespace edge::agent
