// Real HTTP(S) servers for tests of the model repository client, each bound to an ephemeral
// loopback port and stopped with the object:
//  - HttpTestServer: tests/support/http_test_server.py serving root(), with ETags and the faults
//    a repository can show (see that script, and SetFault);
//  - HttpsTestServer: nginx serving root() over TLS with a certificate for "localhost" from a CA
//    made by the test (ca_file()), and a second, unrelated CA (other_ca_file()).
//
// Thread-safety: none; one test thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {

class HttpTestServer {
 public:
  explicit HttpTestServer(const std::string& python);
  const std::string& error() const { return error_; }  // empty if it started
  std::filesystem::path root() const { return dir_.path() / "www"; }
  std::string Url(const std::string& path) const;
  void Put(const std::string& relative, const std::string& text) const;
  // Makes the file at URL path `path` misbehave ("truncated", "stall", "garbage",
  // "status/500"); an empty kind removes every fault.
  void SetFault(const std::string& path, const std::string& kind) const;
  // The requests received so far, "METHOD PATH If-None-Match" per line.
  std::string Requests() const;

 private:
  ScratchDir dir_;
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  std::string error_;
};

class HttpsTestServer {
 public:
  HttpsTestServer();
  const std::string& error() const { return error_; }  // empty if it started
  std::filesystem::path root() const { return dir_.path() / "www"; }
  std::string ca_file() const { return P("ca.pem"); }
  std::string other_ca_file() const { return P("other-ca.pem"); }
  std::string Url(const std::string& host, const std::string& path) const;
  void Put(const std::string& relative, const std::string& text) const;

 private:
  std::string P(const std::string& name) const { return (dir_.path() / name).string(); }
  bool Openssl(std::vector<std::string> args);

  ScratchDir dir_;
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
  std::string error_;
};

}  // namespace edge::testing
