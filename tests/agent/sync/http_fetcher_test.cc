// HttpFetcher against real servers: tests/support/http_test_server.py (plain HTTP, with the
// faults a model repository can show) and nginx with a test CA (HTTPS, host name checks).
#include "agent/sync/http_fetcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_servers.h"
#include "tests/support/mosquitto_broker.h"  // FreeLoopbackPort
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using edge::testing::CommandResult;
using edge::testing::FreeLoopbackPort;
using edge::testing::LoopbackPortAccepts;
using edge::testing::ReadFile;
using edge::testing::RunCommand;
using edge::testing::ScratchDir;
using edge::testing::Subprocess;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

const fs::path kSourceDir = EDGE_SOURCE_DIR;

// One server per test: the script serves its own scratch root.
class TestServer : public edge::testing::HttpTestServer {
 public:
  TestServer() : HttpTestServer(EDGE_TEST_PYTHON) { EXPECT_EQ(error(), ""); }
};

HttpOptions QuickOptions() {
  return HttpOptions{.ca_file = "",
                     .connect_timeout = seconds(2),
                     .stall_timeout = seconds(1),
                     .total_timeout = seconds(20)};
}

TEST(HttpFetcher, GetsADocumentWithItsEtagAndThenNotModified) {
  TestServer server;
  server.Put("latest.json", R"({"version":"1.4.0"})");
  HttpFetcher fetcher(QuickOptions());
  StatusOr<HttpDocument> first = fetcher.Get(server.Url("/latest.json"), 4096);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_FALSE(first->not_modified);
  EXPECT_EQ(first->body, R"({"version":"1.4.0"})");
  ASSERT_FALSE(first->etag.empty());

  StatusOr<HttpDocument> again = fetcher.Get(server.Url("/latest.json"), 4096, first->etag);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->not_modified);
  EXPECT_TRUE(again->body.empty());

  server.Put("latest.json", R"({"version":"1.5.0"})");
  StatusOr<HttpDocument> changed = fetcher.Get(server.Url("/latest.json"), 4096, first->etag);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(changed->not_modified);
  EXPECT_EQ(changed->body, R"({"version":"1.5.0"})");
  EXPECT_NE(changed->etag, first->etag);
}

TEST(HttpFetcher, NotFoundAndServerErrorsAreToldApart) {
  TestServer server;
  HttpFetcher fetcher(QuickOptions());
  const Status missing = fetcher.Get(server.Url("/pump/latest.json"), 4096).status();
  EXPECT_EQ(missing.code(), StatusCode::kNotFound) << missing.message();
  EXPECT_NE(missing.message().find("/pump/latest.json: HTTP 404"), std::string::npos);
  const Status error = fetcher.Get(server.Url("/_fault/status/500"), 4096).status();
  EXPECT_EQ(error.code(), StatusCode::kUnavailable);
  EXPECT_NE(error.message().find("HTTP 500"), std::string::npos) << error.message();
  EXPECT_EQ(fetcher.Get(server.Url("/_fault/status/403"), 4096).status().code(),
            StatusCode::kUnavailable);
}

TEST(HttpFetcher, RefusedConnectionIsUnavailable) {
  HttpFetcher fetcher(QuickOptions());
  const std::string url = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort()) + "/latest.json";
  const Status s = fetcher.Get(url, 4096).status();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find(url), std::string::npos) << s.message();
}

TEST(HttpFetcher, SizeCapRefusesLargeBodiesAndCutsOffEndlessOnes) {
  TestServer server;
  server.Put("model.onnx", std::string(100'000, 'm'));
  HttpFetcher fetcher(QuickOptions());
  const Status announced = fetcher.Get(server.Url("/model.onnx"), 99'999).status();
  EXPECT_EQ(announced.code(), StatusCode::kResourceExhausted) << announced.message();
  EXPECT_TRUE(fetcher.Get(server.Url("/model.onnx"), 100'000).ok());

  const auto start = steady_clock::now();
  const Status endless = fetcher.Get(server.Url("/_fault/endless"), 1 << 20).status();
  EXPECT_EQ(endless.code(), StatusCode::kResourceExhausted) << endless.message();
  EXPECT_NE(endless.message().find("cut off"), std::string::npos);
  EXPECT_LT(steady_clock::now() - start, seconds(10));  // cut at the cap, not at the timeout
}

TEST(HttpFetcher, TruncatedTransferIsDataLoss) {
  TestServer server;
  HttpFetcher fetcher(QuickOptions());
  const Status s = fetcher.Get(server.Url("/_fault/truncated/5000"), 1 << 20).status();
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.message();
}

TEST(HttpFetcher, StalledServerTimesOut) {
  TestServer server;
  HttpFetcher fetcher(QuickOptions());  // stall timeout 1 s
  const auto start = steady_clock::now();
  const Status s = fetcher.Get(server.Url("/_fault/stall/5000"), 1 << 20).status();
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.message();
  EXPECT_NE(s.message().find("no data for 1000 ms"), std::string::npos) << s.message();
  EXPECT_LT(steady_clock::now() - start, seconds(5));
}

TEST(HttpFetcher, FollowsRedirectsOnlyToHttp) {
  TestServer server;
  server.Put("latest.json", R"({"version":"2.0.0"})");
  HttpFetcher fetcher(QuickOptions());
  StatusOr<HttpDocument> moved =
      fetcher.Get(server.Url("/_fault/redirect?to=" + server.Url("/latest.json")), 4096);
  ASSERT_TRUE(moved.ok()) << moved.status().message();
  EXPECT_EQ(moved->body, R"({"version":"2.0.0"})");
  StatusOr<HttpDocument> local_file =
      fetcher.Get(server.Url("/_fault/redirect?to=file:///etc/hostname"), 4096);
  EXPECT_EQ(local_file.status().code(), StatusCode::kUnavailable);
}

TEST(HttpFetcher, DownloadWritesTheFileOrNothing) {
  TestServer server;
  const std::string artifact(300'000, 'a');
  server.Put("model.onnx", artifact);
  ScratchDir out;
  HttpFetcher fetcher(QuickOptions());
  const fs::path dest = out.path() / "model.onnx.part";
  StatusOr<DownloadedFile> n =
      fetcher.Download(server.Url("/model.onnx"), dest.string(), 1 << 20);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(n->bytes, artifact.size());
  // sha256 of 300000 'a', computed while the bytes arrived (`head -c 300000 /dev/zero | tr
  // '\0' a | sha256sum`).
  EXPECT_EQ(n->sha256, "12e1b9b179b29a4f7e5889b185d7ac71bff0ad1f49a7b391d0911b737a0f5381");
  EXPECT_EQ(ReadFile(dest), artifact);
  // Never overwrites.
  EXPECT_EQ(fetcher.Download(server.Url("/model.onnx"), dest.string(), 1 << 20).status().code(),
            StatusCode::kIoError);
  // A failed download leaves no partial file behind.
  const fs::path partial = out.path() / "truncated.part";
  EXPECT_EQ(fetcher.Download(server.Url("/_fault/truncated/100000"), partial.string(), 1 << 20)
                .status()
                .code(),
            StatusCode::kDataLoss);
  EXPECT_FALSE(fs::exists(partial));
  const fs::path capped = out.path() / "capped.part";
  EXPECT_EQ(
      fetcher.Download(server.Url("/_fault/endless"), capped.string(), 200'000).status().code(),
      StatusCode::kResourceExhausted);
  EXPECT_FALSE(fs::exists(capped));
}

// nginx serving HTTPS with a certificate from a CA made by the test, for "localhost" only.
class TlsServer : public edge::testing::HttpsTestServer {
 public:
  TlsServer() { EXPECT_EQ(error(), ""); }
};

TEST(HttpFetcher, HttpsWithAPrivateCaAndHostNameChecks) {
  TlsServer server;
  server.Put("latest.json", R"({"version":"1.0.0"})");
  HttpOptions options = QuickOptions();
  options.ca_file = server.ca_file();
  HttpFetcher trusting(options);
  StatusOr<HttpDocument> doc = trusting.Get(server.Url("localhost", "/latest.json"), 4096);
  ASSERT_TRUE(doc.ok()) << doc.status().message();
  EXPECT_EQ(doc->body, R"({"version":"1.0.0"})");
  ASSERT_FALSE(doc->etag.empty());  // nginx's own ETag
  StatusOr<HttpDocument> same =
      trusting.Get(server.Url("localhost", "/latest.json"), 4096, doc->etag);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->not_modified);

  // The certificate names "localhost", not 127.0.0.1.
  const Status wrong_name = trusting.Get(server.Url("127.0.0.1", "/latest.json"), 4096).status();
  EXPECT_EQ(wrong_name.code(), StatusCode::kUnavailable) << wrong_name.message();

  HttpFetcher system_store(QuickOptions());
  const Status untrusted = system_store.Get(server.Url("localhost", "/latest.json"), 4096).status();
  EXPECT_EQ(untrusted.code(), StatusCode::kUnavailable);
  EXPECT_NE(untrusted.message().find("certificate"), std::string::npos) << untrusted.message();

  options.ca_file = server.other_ca_file();
  HttpFetcher wrong_ca(options);
  EXPECT_EQ(wrong_ca.Get(server.Url("localhost", "/latest.json"), 4096).status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace edge::agent
