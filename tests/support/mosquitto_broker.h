// A real mosquitto broker for tests and benchmarks: started on a free 127.0.0.1 port with a
// generated configuration, in one of three set-ups: plain (anonymous), password file (made with
// mosquitto_passwd), or TLS with client certificates (CA, server and client certificates made
// with the openssl command line in a scratch directory). Restart() kills the broker and starts
// it again on the same port, for reconnect tests. The broker dies with the object (and with the
// test process: Subprocess sets PR_SET_PDEATHSIG).
//
// Also: TlsFiles, the certificates themselves (a second, unrelated CA included, to test a wrong
// CA), MosquittoSub, a mosquitto_sub child that records what it receives, and MosquittoPublish,
// one message sent with mosquitto_pub.
//
// Thread-safety: one owner thread per object.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {

// PEM files made by openssl in `dir`: a CA, a server certificate for CN=localhost with
// subjectAltName DNS:localhost and IP:127.0.0.1 signed by it, a client certificate signed by
// it, and an unrelated CA ("other_ca") that signs nothing here. Also, signed by the CA, faulty
// certificates for the refusal tests: a server certificate for wrong.example.com only, and
// server and client certificates that expired on 2020-01-02 (same keys as the good ones).
// client_key is mode 0600 (the agent refuses a world-readable key); server_key is 0644.
struct TlsFiles {
  std::string ca_cert;
  std::string server_cert;
  std::string server_key;
  std::string client_cert;
  std::string client_key;
  std::string other_ca_cert;
  std::string server_wrong_host_cert;
  std::string server_expired_cert;
  std::string client_expired_cert;
  std::string error;  // empty if every file was made

  static TlsFiles Make(const std::filesystem::path& dir);
};

class MosquittoBroker {
 public:
  struct Options {
    // Non-empty: password authentication with these users (anonymous refused).
    std::map<std::string, std::string> users;
    // Set: a TLS listener with these files; require_certificate asks clients for a
    // certificate signed by tls->ca_cert.
    const TlsFiles* tls = nullptr;
    bool require_certificate = true;
    // Non-empty: the text of an acl_file (mosquitto's "user" / "topic" / "pattern" lines).
    std::string acl;
    std::string extra_config;  // appended to mosquitto.conf
  };

  explicit MosquittoBroker(Options options);
  MosquittoBroker() : MosquittoBroker(Options()) {}
  ~MosquittoBroker();

  // True once it accepts connections; otherwise error() says why.
  bool ok() const { return port_ != 0 && error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  pid_t pid() const { return process_ != nullptr ? process_->pid() : -1; }
  // tcp://127.0.0.1:PORT or ssl://127.0.0.1:PORT (ssl://localhost:PORT with `host_name`, so
  // that the certificate's host name can be verified by name).
  std::string uri(bool host_name = false) const;
  std::string log() const;  // the broker's log so far

  // SIGKILL (no clean shutdown), then start again on the same port. Returns ok().
  bool Restart();
  // SIGKILL, leaving it down until Restart().
  void Kill();

 private:
  bool Launch();

  Options options_;
  ScratchDir dir_;
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  std::string error_;
  int launches_ = 0;
};

// mosquitto_sub -v on one broker and filter, recording "topic payload" lines; for checking what
// the code under test publishes (retained messages, Last Will).
class MosquittoSub {
 public:
  // `extra_args`, e.g. {"-q", "1"} or TLS options.
  MosquittoSub(int port, const std::string& filter, std::vector<std::string> extra_args = {});
  // Waits until a line containing `needle` was received.
  bool WaitFor(const std::string& needle, std::chrono::milliseconds timeout);
  std::string Received() const { return process_->Stdout(); }
  std::string Errors() const { return process_->Stderr(); }

 private:
  std::unique_ptr<Subprocess> process_;
};

// mosquitto_pub of one message (QoS 1, retained if `retained`) to the broker on 127.0.0.1:port;
// `extra_args`, e.g. credentials or a client id.
CommandResult MosquittoPublish(int port, const std::string& topic, const std::string& payload,
                               std::vector<std::string> extra_args = {}, bool retained = false);

// A free TCP port on 127.0.0.1 (bound to port 0 and released; a tiny race, accepted in tests).
int FreeLoopbackPort();

// A TCP socket connected to 127.0.0.1:port (the caller closes it); -1 if the connection failed.
// Raw clients of the hostile-peer tests are built on it.
int ConnectLoopback(int port);

// True when a TCP connection to 127.0.0.1:port succeeds.
bool LoopbackPortAccepts(int port);

}  // namespace edge::testing
