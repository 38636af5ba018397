#include "tests/support/http_servers.h"

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "tests/support/mosquitto_broker.h"  // FreeLoopbackPort, LoopbackPortAccepts

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

const fs::path kSourceDir = EDGE_SOURCE_DIR;

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (!done()) {
    if (steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

}  // namespace

HttpTestServer::HttpTestServer(const std::string& python) {
  fs::create_directories(root());
  const fs::path port_file = dir_.path() / "port";
  process_ = std::make_unique<Subprocess>(SubprocessOptions{
      .argv = {python, (kSourceDir / "tests/support/http_test_server.py").string(), root().string(),
               port_file.string()}});
  if (!WaitFor([&] { return fs::exists(port_file); }, seconds(10))) {
    error_ = "http_test_server.py did not start: " + process_->Stderr();
    return;
  }
  port_ = std::stoi(ReadFile(port_file));
}

std::string HttpTestServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void HttpTestServer::Put(const std::string& relative, const std::string& text) const {
  fs::create_directories((root() / relative).parent_path());
  std::ofstream(root() / relative, std::ios::binary) << text;
}

void HttpTestServer::SetFault(const std::string& path, const std::string& kind) const {
  if (kind.empty()) {
    fs::remove(dir_.path() / "faults");
    return;
  }
  std::ofstream(dir_.path() / "faults", std::ios::app) << path << " " << kind << "\n";
}

std::string HttpTestServer::Requests() const {
  const fs::path log = dir_.path() / "requests.log";
  return fs::exists(log) ? ReadFile(log) : "";
}

bool HttpsTestServer::Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  const CommandResult r = RunCommand({.argv = args});
  if (r.exit_code != 0) error_ = "openssl failed: " + r.err;
  return r.exit_code == 0;
}

HttpsTestServer::HttpsTestServer() {
  const fs::path d = dir_.path();
  fs::create_directories(d / "www");
  fs::create_directories(d / "tmp");
  std::ofstream(d / "san.cnf") << "subjectAltName=DNS:localhost\n";
  const bool made =
      Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", P("ca.key"), "-out", P("ca.pem"), "-days", "2", "-subj",
               "/CN=test CA"}) &&
      Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", P("other-ca.key"), "-out", P("other-ca.pem"), "-days", "2", "-subj",
               "/CN=other CA"}) &&
      Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
               P("server.key"), "-out", P("server.csr"), "-subj", "/CN=localhost"}) &&
      Openssl({"x509", "-req", "-in", P("server.csr"), "-CA", P("ca.pem"), "-CAkey", P("ca.key"),
               "-CAcreateserial", "-out", P("server.pem"), "-days", "2", "-extfile", P("san.cnf")});
  if (!made) return;
  port_ = FreeLoopbackPort();
  std::ofstream(d / "nginx.conf") << "daemon off;\nmaster_process off;\npid " << P("nginx.pid")
                                  << ";\nerror_log " << P("error.log")
                                  << ";\nevents {}\nhttp {\n  access_log off;\n"
                                  << "  client_body_temp_path " << P("tmp")
                                  << ";\n  proxy_temp_path " << P("tmp")
                                  << ";\n  fastcgi_temp_path " << P("tmp")
                                  << ";\n  uwsgi_temp_path " << P("tmp") << ";\n  scgi_temp_path "
                                  << P("tmp") << ";\n  server {\n    listen 127.0.0.1:" << port_
                                  << " ssl;\n    ssl_certificate " << P("server.pem")
                                  << ";\n    ssl_certificate_key " << P("server.key")
                                  << ";\n    root " << P("www") << ";\n  }\n}\n";
  process_ = std::make_unique<Subprocess>(SubprocessOptions{
      .argv = {"nginx", "-e", P("error.log"), "-p", d.string(), "-c", P("nginx.conf")}});
  if (!WaitFor([&] { return LoopbackPortAccepts(port_); }, seconds(10))) {
    error_ = "nginx did not start: " + ReadFile(d / "error.log");
  }
}

std::string HttpsTestServer::Url(const std::string& host, const std::string& path) const {
  return "https://" + host + ":" + std::to_string(port_) + path;
}

void HttpsTestServer::Put(const std::string& relative, const std::string& text) const {
  fs::create_directories((root() / relative).parent_path());
  std::ofstream(root() / relative, std::ios::binary) << text;
}

}  // namespace edge::testing
