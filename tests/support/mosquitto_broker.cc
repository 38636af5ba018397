#include "tests/support/mosquitto_broker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace edge::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kMosquitto = "/usr/sbin/mosquitto";

// The certificate script: EC P-256 keys (fast to make), two days of validity.
constexpr const char* kMakeCerts = R"(set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.crt -days 2 -subj /CN=edge-test-ca
key other-ca.key
openssl req -x509 -new -key other-ca.key -out other-ca.crt -days 2 -subj /CN=edge-other-ca
key server.key
openssl req -new -key server.key -out server.csr -subj /CN=localhost
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
  -days 2 -extfile server.ext 2>/dev/null
key client.key
openssl req -new -key client.key -out client.csr -subj /CN=edge-test-client
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt \
  -days 2 -extfile client.ext 2>/dev/null
# Faulty certificates (keys reused): a server certificate for another host name, and server and
# client certificates that expired in 2020. openssl 3.0's x509 cannot backdate; "openssl ca"
# can (-startdate / -enddate), with a throw-away CA database.
printf 'subjectAltName=DNS:wrong.example.com\nextendedKeyUsage=serverAuth\n' > wrong.ext
openssl req -new -key server.key -out wrong.csr -subj /CN=wrong.example.com
openssl x509 -req -in wrong.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server-wrong-host.crt \
  -days 2 -extfile wrong.ext 2>/dev/null
mkdir -p ca-db && : > ca-db/index.txt && echo 1000 > ca-db/serial
printf '[ca]\ndefault_ca=t\n[t]\ndatabase=ca-db/index.txt\nserial=ca-db/serial\nnew_certs_dir=ca-db\ndefault_md=sha256\npolicy=p\nunique_subject=no\n[p]\ncommonName=supplied\n' > ca.cnf
expired() {
  openssl ca -batch -notext -config ca.cnf -cert ca.crt -keyfile ca.key -in "$1" -out "$2" \
    -startdate 20200101000000Z -enddate 20200102000000Z -extfile "$3" 2>/dev/null
}
expired server.csr server-expired.crt server.ext
expired client.csr client-expired.crt client.ext
chmod 0644 *.key
chmod 0600 client.key
)";

}  // namespace

CommandResult MosquittoPublish(int port, const std::string& topic, const std::string& payload,
                               std::vector<std::string> extra_args, bool retained) {
  std::vector<std::string> argv = {
      "mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(port), "-t", topic, "-m",
      payload,         "-q", "1"};
  if (retained) argv.push_back("-r");
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return RunCommand({.argv = argv}, std::chrono::seconds(15));
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool LoopbackPortAccepts(int port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

TlsFiles TlsFiles::Make(const std::filesystem::path& dir) {
  TlsFiles f;
  std::filesystem::create_directories(dir);
  SubprocessOptions options;
  options.argv = {"sh", "-c", kMakeCerts};
  options.cwd = dir.string();
  const CommandResult r = RunCommand(options, seconds(60));
  if (r.exit_code != 0) {
    f.error = "openssl failed (exit " + std::to_string(r.exit_code) + "): " + r.err;
    return f;
  }
  f.ca_cert = (dir / "ca.crt").string();
  f.server_cert = (dir / "server.crt").string();
  f.server_key = (dir / "server.key").string();
  f.client_cert = (dir / "client.crt").string();
  f.client_key = (dir / "client.key").string();
  f.other_ca_cert = (dir / "other-ca.crt").string();
  f.server_wrong_host_cert = (dir / "server-wrong-host.crt").string();
  f.server_expired_cert = (dir / "server-expired.crt").string();
  f.client_expired_cert = (dir / "client-expired.crt").string();
  return f;
}

MosquittoBroker::MosquittoBroker(Options options) : options_(std::move(options)) {
  port_ = FreeLoopbackPort();
  if (port_ == 0) {
    error_ = "no free loopback port";
    return;
  }
  std::string conf = "listener " + std::to_string(port_) + " 127.0.0.1\n";
  conf += "persistence false\nlog_dest stderr\nlog_type all\nconnection_messages true\n";
  conf += "user root\n";  // as root mosquitto would switch to user mosquitto; files are ours
  if (options_.users.empty()) {
    conf += "allow_anonymous true\n";
  } else {
    const std::string passwd = (dir_.path() / "passwd").string();
    for (const auto& [user, password] : options_.users) {
      SubprocessOptions o;
      o.argv = {"mosquitto_passwd", "-b"};
      if (!std::filesystem::exists(passwd)) o.argv.push_back("-c");
      o.argv.insert(o.argv.end(), {passwd, user, password});
      const CommandResult r = RunCommand(o, seconds(30));
      if (r.exit_code != 0) {
        error_ = "mosquitto_passwd failed: " + r.err + r.out;
        return;
      }
    }
    conf += "allow_anonymous false\npassword_file " + passwd + "\n";
  }
  if (!options_.acl.empty()) {
    conf += "acl_file " + dir_.Write("acl", options_.acl).string() + "\n";
  }
  if (options_.tls != nullptr) {
    conf += "cafile " + options_.tls->ca_cert + "\n";
    conf += "certfile " + options_.tls->server_cert + "\n";
    conf += "keyfile " + options_.tls->server_key + "\n";
    conf += std::string("require_certificate ") +
            (options_.require_certificate ? "true" : "false") + "\n";
  }
  conf += options_.extra_config;
  dir_.Write("mosquitto.conf", conf);
  Launch();
}

MosquittoBroker::~MosquittoBroker() { Kill(); }

bool MosquittoBroker::Launch() {
  SubprocessOptions o;
  o.argv = {kMosquitto, "-c", (dir_.path() / "mosquitto.conf").string()};
  process_ = std::make_unique<Subprocess>(o);
  ++launches_;
  // A restart may find the port in TIME_WAIT briefly; mosquitto sets SO_REUSEADDR, so it binds.
  const auto deadline = std::chrono::steady_clock::now() + seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_->running()) {
      error_ = "mosquitto exited: " + process_->Stderr();
      return false;
    }
    if (LoopbackPortAccepts(port_)) {
      error_.clear();
      return true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  error_ = "mosquitto did not listen on port " + std::to_string(port_) + ": " + process_->Stderr();
  return false;
}

std::string MosquittoBroker::uri(bool host_name) const {
  const std::string host = host_name ? "localhost" : "127.0.0.1";
  return std::string(options_.tls != nullptr ? "ssl://" : "tcp://") + host + ":" +
         std::to_string(port_);
}

std::string MosquittoBroker::log() const { return process_ ? process_->Stderr() : ""; }

void MosquittoBroker::Kill() {
  if (process_ && process_->running()) {
    process_->Signal(SIGKILL);
    process_->Wait(seconds(10));
  }
}

bool MosquittoBroker::Restart() {
  Kill();
  return Launch();
}

MosquittoSub::MosquittoSub(int port, const std::string& filter, std::vector<std::string> extra) {
  SubprocessOptions o;
  // stdbuf: line-buffered stdout, so that -d's SUBACK line and each message reach the file at
  // once (stdout to a file is otherwise block-buffered).
  o.argv = {
      "stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(port), "-t", filter,
      "-v",     "-d"};
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  process_ = std::make_unique<Subprocess>(o);
  // -d prints the SUBACK: from then on nothing published is missed.
  process_->WaitForOutput("SUBACK", seconds(10));
}

bool MosquittoSub::WaitFor(const std::string& needle, std::chrono::milliseconds timeout) {
  return process_->WaitForOutput(needle, timeout);
}

}  // namespace edge::testing
