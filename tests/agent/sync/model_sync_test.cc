// ModelSync against a real repository: tests/support/http_test_server.py serving a tree made by
// `edge-agent model publish`, packages of models exported by PyTorch and signed by `edge-agent
// model pack`, a real data directory. The host side records what the pipeline would be given
// (the pipeline itself is exercised end to end in tests/integration/model_sync_e2e_test.cc).
#include "agent/sync/model_sync.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "agent/sync/model_store.h"
#include "tests/agent/test_packages.h"
#include "tests/support/http_servers.h"
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
    const edge::testing::CommandResult r =
        RunCommand({.argv = {kAgent, "model", "publish", packages->Pkg(package).string(), "--repo",
                             server_.root().string()}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void SetLatest(const std::string& version) {
    server_.Put("pump/latest.json", "{\"version\":\"" + version + "\"}");
  }

 protected:
  std::unique_ptr<ModelSync> MakeSync(std::chrono::milliseconds poll = std::chrono::hours(1),
                                      std::chrono::milliseconds stall = seconds(1)) {
    config::RepositoryConfig repo;
    repo.url = server_.Url("/");
    repo.poll_interval = poll;
    repo.trusted_keys = {packages->trusted_key()};
    ModelSyncOptions options;
    options.http.connect_timeout = seconds(2);
    options.http.stall_timeout = stall;
    options.http.total_timeout = seconds(60);
    StatusOr<std::unique_ptr<ModelSync>> sync =
        ModelSync::Create(repo, data_.path(), {{"pump", 1}}, host_, options);
    EXPECT_TRUE(sync.ok()) << sync.status().message();
    return sync.ok() ? std::move(*sync) : nullptr;
  }

  std::optional<inference::ModelVersion> Current() {
    StatusOr<InstalledModel> installed = ModelStore(data_.path(), "pump").Read();
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

// A refusal leaves the running model alone: nothing handed to the pipeline, current unchanged.
struct Fault {
  const char* name;
  std::function<void(ModelSyncTest&, edge::testing::HttpTestServer&)> apply;
  const char* reason;  // part of the reported reason
};

class ModelSyncRefusal : public ModelSyncTest, public ::testing::WithParamInterface<Fault> {};

TEST_P(ModelSyncRefusal, IsReportedAndLeavesTheRunningModelUntouched) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  GetParam().apply(*this, server_);
  sync->Notify("");
  const ModelStatusMessage refusal = host_.WaitReport(2, seconds(20));
  EXPECT_EQ(refusal.result, ModelResult::kRefused);
  EXPECT_NE(refusal.reason.find(GetParam().reason), std::string::npos) << refusal.reason;
  EXPECT_FALSE(refusal.version.empty());
  EXPECT_EQ(host_.installs(), std::vector<std::string>{"pump 1.0.0 probation"});
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
  // The same refusal is not reported again at the next check.
  sync->Notify("");
  std::this_thread::sleep_for(milliseconds(300));
  sync->Stop();
  EXPECT_EQ(host_.reports().size(), 2u);
  EXPECT_FALSE(fs::exists(data_.path() / "models/pump/.staging-1.1.0"));
  EXPECT_FALSE(fs::exists(data_.path() / "models/pump/1.1.0"));
}

void Append(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::app) << bytes;
}

std::vector<Fault> Faults() {
  return {Fault{"Unsigned",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  fs::remove(s.root() / "pump/1.1.0/manifest.json.sig");
                },
                "manifest.json.sig: HTTP 404"},
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
                "truncated"},
          Fault{"StalledDownload",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  s.SetFault("/pump/1.1.0/model.onnx", "stall");
                },
                "no data for 1000 ms"},
          Fault{"ServerErrorOnTheArtifact",
                [](ModelSyncTest& t, edge::testing::HttpTestServer& s) {
                  t.Publish("v1.1.0");
                  s.SetFault("/pump/1.1.0/model.onnx", "status/500");
                },
                "HTTP 500"},
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
                "is for pump 1.0.0, not pump 1.3.0"}};
}

std::string FaultName(const ::testing::TestParamInfo<Fault>& fault) { return fault.param.name; }

INSTANTIATE_TEST_SUITE_P(Faults, ModelSyncRefusal, ::testing::ValuesIn(Faults()), FaultName);

TEST_F(ModelSyncTest, RepositoryFailuresAreCountedAndTheModelKeepsRunning) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  for (const char* fault : {"status/500", "garbage"}) {
    server_.SetFault("/pump/latest.json", fault);
    sync->Notify("");
    std::this_thread::sleep_for(milliseconds(400));
    server_.SetFault("", "");
  }
  fs::remove(server_.root() / "pump/latest.json");  // 404
  sync->Notify("");
  std::this_thread::sleep_for(milliseconds(400));
  sync->Stop();
  const std::vector<ModelSyncStats> stats = sync->stats();
  EXPECT_EQ(stats[0].fetch_errors, 3u);
  EXPECT_NE(stats[0].last_error.find("HTTP 404"), std::string::npos) << stats[0].last_error;
  EXPECT_EQ(host_.reports().size(), 1u);  // no version to speak of: log and counters only
  EXPECT_EQ(host_.installs().size(), 1u);
  EXPECT_EQ(Current(), *inference::ParseModelVersion("1.0.0"));
}

TEST_F(ModelSyncTest, RetriesAfterATransientFailureWithoutAChangeInTheRepository) {
  std::unique_ptr<ModelSync> sync = StartWithFirstVersion();
  ASSERT_NE(sync, nullptr);
  Publish("v1.1.0");
  server_.SetFault("/pump/1.1.0/model.onnx", "truncated");
  sync->Notify("");
  EXPECT_EQ(host_.WaitReport(2).result, ModelResult::kRefused);
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

}  // namespace
}  // namespace edge::agent
