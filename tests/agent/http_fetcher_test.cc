// HttpFetcher against real servers: tests/support/http_test_server.py (plain HTTP, with the
// faults a model repository can show) and nginx with a test CA (HTTPS, host name checks).
#include "agent/http_fetcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/mosquitto_broker.h"  // FreeLoopbackPort, LoopbackPortAccepts
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

bool WaitForFile(const fs::path& path, std::chrono::milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (!fs::exists(path)) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

class TestServer {
 public:
  TestServer() {
    fs::create_directories(root());
    const fs::path port_file = dir_.path() / "port";
    process_ = std::make_unique<Subprocess>(edge::testing::SubprocessOptions{
        .argv = {EDGE_TEST_PYTHON, (kSourceDir / "tests/support/http_test_server.py").string(),
                 root().string(), port_file.string()}});
    EXPECT_TRUE(WaitForFile(port_file, seconds(10))) << process_->Stderr();
    port_ = std::stoi(ReadFile(port_file));
  }
  fs::path root() const { return dir_.path() / "www"; }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  void Put(const std::string& relative, const std::string& text) const {
    std::ofstream(root() / relative, std::ios::binary) << text;
  }

 private:
  ScratchDir dir_;
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
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
  StatusOr<uint64_t> n = fetcher.Download(server.Url("/model.onnx"), dest.string(), 1 << 20);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, artifact.size());
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
class TlsServer {
 public:
  TlsServer() {
    const fs::path d = dir_.path();
    fs::create_directories(d / "www");
    fs::create_directories(d / "tmp");
    std::ofstream(d / "san.cnf") << "subjectAltName=DNS:localhost\n";
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", P("ca.key"), "-out", P("ca.pem"), "-days", "2", "-subj", "/CN=test CA"});
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", P("other-ca.key"), "-out", P("other-ca.pem"), "-days", "2", "-subj",
             "/CN=other CA"});
    Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             P("server.key"), "-out", P("server.csr"), "-subj", "/CN=localhost"});
    Openssl({"x509", "-req", "-in", P("server.csr"), "-CA", P("ca.pem"), "-CAkey", P("ca.key"),
             "-CAcreateserial", "-out", P("server.pem"), "-days", "2", "-extfile", P("san.cnf")});
    port_ = FreeLoopbackPort();
    std::ofstream(d / "nginx.conf")
        << "daemon off;\nmaster_process off;\npid " << P("nginx.pid") << ";\nerror_log "
        << P("error.log") << ";\nevents {}\nhttp {\n  access_log off;\n"
        << "  client_body_temp_path " << P("tmp") << ";\n  proxy_temp_path " << P("tmp")
        << ";\n  fastcgi_temp_path " << P("tmp") << ";\n  uwsgi_temp_path " << P("tmp")
        << ";\n  scgi_temp_path " << P("tmp") << ";\n  server {\n    listen 127.0.0.1:" << port_
        << " ssl;\n    ssl_certificate " << P("server.pem") << ";\n    ssl_certificate_key "
        << P("server.key") << ";\n    root " << P("www") << ";\n  }\n}\n";
    process_ = std::make_unique<Subprocess>(edge::testing::SubprocessOptions{
        .argv = {"nginx", "-e", P("error.log"), "-p", d.string(), "-c", P("nginx.conf")}});
    const auto deadline = steady_clock::now() + seconds(10);
    while (!LoopbackPortAccepts(port_) && steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    EXPECT_TRUE(LoopbackPortAccepts(port_)) << ReadFile(d / "error.log");
  }
  std::string P(const std::string& name) const { return (dir_.path() / name).string(); }
  std::string Url(const std::string& host, const std::string& path) const {
    return "https://" + host + ":" + std::to_string(port_) + path;
  }
  void Put(const std::string& relative, const std::string& text) const {
    std::ofstream(dir_.path() / "www" / relative, std::ios::binary) << text;
  }

 private:
  static void Openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "openssl");
    const CommandResult r = RunCommand({.argv = args});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ScratchDir dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

TEST(HttpFetcher, HttpsWithAPrivateCaAndHostNameChecks) {
  TlsServer server;
  server.Put("latest.json", R"({"version":"1.0.0"})");
  HttpOptions options = QuickOptions();
  options.ca_file = server.P("ca.pem");
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

  options.ca_file = server.P("other-ca.pem");
  HttpFetcher wrong_ca(options);
  EXPECT_EQ(wrong_ca.Get(server.Url("localhost", "/latest.json"), 4096).status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace edge::agent
