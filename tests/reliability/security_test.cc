// Security at the level of `edge-agent run` (issue #11), with real peers only: mosquitto with
// TLS and client certificates made by the openssl command line, mosquitto password and ACL files,
// and the agent binary itself.
//  - TLS refusals: bad CA, expired server certificate, server certificate for another host name,
//    missing client certificate, expired client certificate. The upstream connection and an MQTT
//    source share the faulty settings; each must be refused, the agent keeps running, logs one
//    line per connection naming the broker and the fault (however often it retries), shows the
//    broken connections in /metrics and /health, and nothing is delivered either way. The good
//    set-up, run the same way, connects and delivers (the positive control).
//  - ACLs: the agent works under the ACL documented in docs/DEPLOYING.md; another gateway's
//    credentials can neither trigger this gateway's model sync nor read its alarms.
//  - Secrets never logged: password and private key text appear in no output of the agent.
//  - World-readable secret files are refused by check-config and run; `model keygen` writes
//    its private key 0600 and `model pack` refuses a world-readable one.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/reliability/reliability.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/eventually.h"
#include "tests/support/http_get.h"
#include "tests/support/http_servers.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/mqtt_messages.h"
#include "tests/support/output_search.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

const std::string kAgent = AgentBinary();
const fs::path kSourceDir = SourceDir();
const std::string kPython = TestPython();

// Writes a file holding a secret, mode 0600 (the loader refuses world-readable ones).
fs::path WriteSecret(const ScratchDir& dir, const std::string& name, const std::string& text) {
  const fs::path p = dir.Write(name, text);
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  return p;
}

// The base64 lines of a PEM file: the key material that must never be printed.
std::vector<std::string> PemBody(const std::string& pem) {
  std::vector<std::string> lines;
  std::istringstream in(pem);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.rfind("-----", 0) != 0) lines.push_back(line);
  }
  return lines;
}

// Gateway gw1 with data in `dir`, its upstream broker at `uri` (topic prefix plant1), one MQTT
// source "sensors" on the same broker feeding pump1.pressure, and /metrics on `http_port`.
AgentYaml SensorsGateway(const ScratchDir& dir, const std::string& uri, int http_port) {
  return {.gateway_id = "gw1",
          .data_dir = (dir.path() / "data").string(),
          .upstream = AgentYaml::Upstream{.broker = uri},
          .mqtt_sources = {{.name = "sensors",
                            .topic = "sensors/pressure",
                            .tags = {"pump1.pressure"}}},
          .http_listen = "127.0.0.1:" + std::to_string(http_port)};
}

// `edge-agent run --config <config> <extra>`, once it says it runs.
std::unique_ptr<Subprocess> StartRunningAgent(const fs::path& config,
                                              std::vector<std::string> extra = {}) {
  auto agent = StartAgent(config, {.args = std::move(extra)});
  EXPECT_TRUE(agent->WaitForOutput("running;", seconds(30))) << agent->Stderr();
  return agent;
}

// SIGTERM, and the exit code (nullopt if it did not stop in time).
std::optional<int> StopAgent(Subprocess& agent) {
  agent.Signal(SIGTERM);
  return agent.Wait(seconds(15));
}

// ---- TLS ---------------------------------------------------------------------------------

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_dir_ = new ScratchDir();
    files_ = new TlsFiles(TlsFiles::Make(pki_dir_->path() / "pki"));
  }
  static void TearDownTestSuite() {
    delete files_;
    delete pki_dir_;
  }
  void SetUp() override { ASSERT_EQ(files_->error, "") << files_->error; }

  struct Case {
    std::string name;         // the figure's measure
    std::string server_cert;  // the broker's certificate (its key: server_key)
    std::string ca_file;      // the agent's tls settings
    std::string cert_file;
    std::string key_file;
    std::string fault;  // what the agent's line must name ("" for the good set-up)
  };

  // Runs the agent against a broker set up as `c` says, EXPECTs refusal (or, for the good
  // set-up, delivery) and records the figure.
  void RunCase(const Case& c) {
    SCOPED_TRACE(c.name);
    const bool good = c.fault.empty();
    TlsFiles broker_files = *files_;
    broker_files.server_cert = c.server_cert;
    // A second, plain listener for the test's own subscriber and publisher.
    const int plain_port = FreeLoopbackPort();
    MosquittoBroker::Options options;
    options.tls = &broker_files;
    options.require_certificate = true;
    options.extra_config = "listener " + std::to_string(plain_port) + " 127.0.0.1\n";
    MosquittoBroker broker(options);
    ASSERT_TRUE(broker.ok()) << broker.error();
    MosquittoSub sub(plain_port, "plant1/#");
    // Retained: the source gets it whenever it connects.
    ASSERT_EQ(MosquittoPublish(plain_port, "sensors/pressure", "1.5", {}, true).exit_code, 0);

    ScratchDir dir;
    const int http_port = FreeLoopbackPort();
    AgentYaml yaml = SensorsGateway(dir, broker.uri(true), http_port);
    yaml.upstream->tls = {.ca_file = c.ca_file, .cert_file = c.cert_file, .key_file = c.key_file};
    const fs::path config = dir.Write("agent.yaml", yaml.Text());
    std::unique_ptr<Subprocess> agent = StartRunningAgent(config);
    const std::string up_line = "upstream: connect to " + broker.uri(true) + " failed";
    const std::string src_line = "mqtt source sensors: connect to " + broker.uri(true) + " failed";

    bool delivered = false;
    if (good) {
      delivered = sub.WaitFor("plant1/gw1/status {\"state\":\"online\"", seconds(20));
      EXPECT_TRUE(delivered) << sub.Received() << agent->Stderr();
      EXPECT_TRUE(Eventually(
          [&] {
            return Contains(HttpGet(http_port, "/metrics").body,
                            "edge_mqtt_source_messages_total{source=\"sensors\"} 1");
          },
          seconds(20)))
          << HttpGet(http_port, "/metrics").body;
    } else {
      ASSERT_TRUE(Eventually(
          [&] {
            const std::string err = agent->Stderr();
            return Contains(err, up_line) && Contains(err, src_line);
          },
          seconds(20)))
          << agent->Stderr();
      // Let both connections retry a few times (back-off 100 ms, 200 ms, 400 ms, ...): at least
      // eight connections reached the TLS port, i.e. three attempts per connection besides the
      // one diagnosing handshake each (the test's own clients use the plain port)...
      const std::string tls_port = "on port " + std::to_string(broker.port()) + ".";
      EXPECT_TRUE(Eventually([&] { return CountOf(broker.log(), tls_port) >= 8; }, seconds(20)))
          << broker.log();
    }
    const std::string err = agent->Stderr();
    const std::string metrics = HttpGet(http_port, "/metrics").body;
    const HttpReply health = HttpGet(http_port, "/health");
    EXPECT_TRUE(agent->running()) << err;
    if (!good) {
      // ... yet each connection logged one line, naming the broker and the fault.
      EXPECT_EQ(CountOf(err, up_line), 1) << err;
      EXPECT_EQ(CountOf(err, src_line), 1) << err;
      EXPECT_TRUE(Contains(LinesWith(err, up_line), c.fault)) << err;
      EXPECT_TRUE(Contains(LinesWith(err, src_line), c.fault)) << err;
      // Nothing was accepted or delivered, either way.
      EXPECT_FALSE(Contains(broker.log(), " as gw1 ")) << broker.log();
      EXPECT_FALSE(Contains(broker.log(), " as gw1-sensors ")) << broker.log();
      EXPECT_EQ(CountMessagesUnder(sub.Received(), "plant1/"), 0) << sub.Received();
      EXPECT_TRUE(Contains(metrics, "edge_upstream_connected 0")) << metrics;
      EXPECT_TRUE(Contains(metrics, "edge_mqtt_source_connected{source=\"sensors\"} 0")) << metrics;
      EXPECT_TRUE(Contains(metrics, "edge_mqtt_source_messages_total{source=\"sensors\"} 0"))
          << metrics;
      EXPECT_EQ(health.status, 503) << health.body;
      EXPECT_TRUE(Contains(health.body, "the upstream broker is not connected")) << health.body;
      EXPECT_TRUE(Contains(health.body, "mqtt source sensors is not connected")) << health.body;
    } else {
      EXPECT_EQ(CountOf(err, "connect to"), 0) << err;
      EXPECT_TRUE(Contains(broker.log(), " as gw1 ")) << broker.log();  // what refusals lack
      EXPECT_TRUE(Contains(broker.log(), " as gw1-sensors ")) << broker.log();
      EXPECT_TRUE(Contains(metrics, "edge_upstream_connected 1")) << metrics;
      EXPECT_TRUE(Contains(metrics, "edge_mqtt_source_connected{source=\"sensors\"} 1")) << metrics;
      EXPECT_EQ(health.status, 200) << health.body;
    }
    const std::optional<int> exit_code = StopAgent(*agent);
    EXPECT_EQ(exit_code, std::optional<int>(0)) << err;

    const bool refused = !good && !HasFailure();
    const bool ok = good ? delivered && !HasFailure() : refused;
    RecordFigure("security", "TLS: " + c.name,
                 good ? (ok ? "connected, status and source message delivered" : "failed")
                      : (ok ? "refused by both connections, 0 messages, 1 log line each"
                            : "NOT cleanly refused"),
                 good ? "connected" : "refused", ok);
  }

  static ScratchDir* pki_dir_;
  static TlsFiles* files_;
};

ScratchDir* Tls::pki_dir_ = nullptr;
TlsFiles* Tls::files_ = nullptr;

TEST_F(Tls, GoodSetUpConnectsAndDelivers) {
  const TlsFiles& f = *files_;
  RunCase({"good CA, certificates and host name (control)", f.server_cert, f.ca_cert, f.client_cert,
           f.client_key, ""});
}

TEST_F(Tls, BadCaIsRefused) {
  const TlsFiles& f = *files_;
  RunCase({"CA that did not sign the broker's certificate", f.server_cert, f.other_ca_cert,
           f.client_cert, f.client_key,
           "the broker's certificate is not signed by a CA in tls.ca_file"});
}

TEST_F(Tls, ExpiredServerCertificateIsRefused) {
  const TlsFiles& f = *files_;
  RunCase({"expired server certificate", f.server_expired_cert, f.ca_cert, f.client_cert,
           f.client_key, "the broker's certificate has expired"});
}

TEST_F(Tls, ServerCertificateForAnotherHostIsRefused) {
  const TlsFiles& f = *files_;
  RunCase({"server certificate for another host name", f.server_wrong_host_cert, f.ca_cert,
           f.client_cert, f.client_key, "the broker's certificate is not for host name localhost"});
}

TEST_F(Tls, MissingClientCertificateIsRefused) {
  const TlsFiles& f = *files_;
  RunCase({"no client certificate (broker requires one)", f.server_cert, f.ca_cert, "", "",
           "the broker requires a client certificate"});
}

TEST_F(Tls, ExpiredClientCertificateIsRefused) {
  const TlsFiles& f = *files_;
  RunCase({"expired client certificate", f.server_cert, f.ca_cert, f.client_expired_cert,
           f.client_key,
           "the broker refused our client certificate (tls.cert_file): it has expired"});
}

// ---- Secrets never logged ---------------------------------------------------------------

// A broker password (right, then wrong) and a TLS client key, log level debug, and faults that
// make the agent log connection errors (wrong password, broker down): neither the password
// text nor the key's PEM body may appear in the agent's stderr/stdout, check-config's output,
// /metrics, /health or the status messages.
TEST(Secrets, PasswordsAndKeysAppearInNoOutput) {
  ScratchDir dir;
  const TlsFiles f = TlsFiles::Make(dir.path() / "pki");
  ASSERT_EQ(f.error, "") << f.error;
  const std::string password = "Pw-" + std::to_string(::getpid()) + "-x7Qe9TzL";
  const std::string wrong = "Wrong-" + std::to_string(::getpid()) + "-Kp3Vb8Rd";
  const int plain_port = FreeLoopbackPort();
  MosquittoBroker::Options options;
  options.users = {{"gw1", password}, {"observer", "observer-pw"}};
  options.tls = &f;
  options.extra_config = "listener " + std::to_string(plain_port) + " 127.0.0.1\n";
  MosquittoBroker broker(options);
  ASSERT_TRUE(broker.ok()) << broker.error();
  const std::vector<std::string> observer = {"-u", "observer", "-P", "observer-pw"};
  MosquittoSub sub(plain_port, "#", observer);

  const int http_port = FreeLoopbackPort();
  const auto config = [&](const std::string& password_file) {
    AgentYaml yaml = SensorsGateway(dir, broker.uri(true), http_port);
    yaml.upstream->username = "gw1";
    yaml.upstream->password_file = (dir.path() / password_file).string();
    yaml.upstream->tls = {
        .ca_file = f.ca_cert, .cert_file = f.client_cert, .key_file = f.client_key};
    return dir.Write("agent-" + password_file + ".yaml", yaml.Text());
  };
  WriteSecret(dir, "right.pass", password + "\n");
  WriteSecret(dir, "wrong.pass", wrong + "\n");
  std::string seen;  // every output, labelled
  const auto add = [&](const std::string& what, const std::string& text) {
    seen += "==== " + what + "\n" + text + "\n";
  };

  const CommandResult check = RunCommand({.argv = {kAgent, "check-config", config("right.pass")}});
  EXPECT_EQ(check.exit_code, 0) << check.err;
  add("check-config", check.out + check.err);

  // The wrong password: refused, logged (at debug level too).
  {
    auto agent = StartRunningAgent(config("wrong.pass"), {"--log-level", "debug"});
    // (mosquitto 2 answers a wrong password with CONNACK 5, "not authorized")
    EXPECT_TRUE(agent->WaitForOutput("check username and password_file", seconds(20)))
        << agent->Stderr();
    add("metrics (wrong password)", HttpGet(http_port, "/metrics").body);
    add("health (wrong password)", HttpGet(http_port, "/health").body);
    EXPECT_EQ(StopAgent(*agent), std::optional<int>(0));
    add("agent stderr (wrong password)", agent->Stderr());
    add("agent stdout (wrong password)", agent->Stdout());
  }
  // The right one: connected; then the broker goes down and comes back.
  {
    auto agent = StartRunningAgent(config("right.pass"), {"--log-level", "debug"});
    EXPECT_TRUE(sub.WaitFor("plant1/gw1/status {\"state\":\"online\"", seconds(20)))
        << sub.Received() << agent->Stderr();
    add("metrics (connected)", HttpGet(http_port, "/metrics").body);
    add("status messages", sub.Received());
    broker.Kill();
    EXPECT_TRUE(Eventually([&] { return CountOf(agent->Stderr(), "failed") >= 2; }, seconds(20)))
        << agent->Stderr();
    add("metrics (broker down)", HttpGet(http_port, "/metrics").body);
    add("health (broker down)", HttpGet(http_port, "/health").body);
    ASSERT_TRUE(broker.Restart()) << broker.error();
    EXPECT_TRUE(agent->WaitForOutput("upstream: connected to", seconds(30))) << agent->Stderr();
    EXPECT_EQ(StopAgent(*agent), std::optional<int>(0));
    add("agent stderr (connected, broker down, back)", agent->Stderr());
    add("agent stdout (connected, broker down, back)", agent->Stdout());
  }
  // The outputs are not empty: the faults were logged, at debug level.
  EXPECT_TRUE(Contains(seen, "connect to " + broker.uri(true) + " failed")) << seen;
  EXPECT_TRUE(Contains(seen, "edge_upstream_connected")) << seen;

  std::vector<std::string> secrets = {password, wrong};
  const std::vector<std::string> key_lines = PemBody(ReadFile(f.client_key));
  ASSERT_FALSE(key_lines.empty());
  secrets.insert(secrets.end(), key_lines.begin(), key_lines.end());
  int leaks = 0;
  for (const std::string& secret : secrets) {
    if (Contains(seen, secret)) {
      ++leaks;
      ADD_FAILURE() << "secret text '" << secret << "' appears in:\n" << LinesWith(seen, secret);
    }
  }
  RecordFigure("security", "secrets in logs, check-config, /metrics, /health, status",
               std::to_string(leaks) + " leaks (password, wrong password, " +
                   std::to_string(key_lines.size()) + " key lines; log level debug)",
               "0", leaks == 0);
}

// ---- World-readable secret files -------------------------------------------------------

// check-config and run refuse a world-readable password file or TLS key (exit 2, naming the
// file, the key's place and the fault); group-readable is accepted.
TEST(SecretFiles, WorldReadableOnesAreRefusedByCheckConfigAndRun) {
  ScratchDir dir;
  const fs::path pass = WriteSecret(dir, "mqtt.pass", "secret\n");
  const fs::path key = WriteSecret(dir, "client.key", "-----BEGIN PRIVATE KEY-----\n");
  dir.Write("client.crt", "-----BEGIN CERTIFICATE-----\n");
  const fs::path config = dir.Write("agent.yaml",
                                    "gateway: {id: gw1, data_dir: data}\n"
                                    "upstream:\n"
                                    "  broker: ssl://127.0.0.1:1\n"
                                    "  username: gw1\n"
                                    "  password_file: mqtt.pass\n"
                                    "  topic_prefix: plant1\n"
                                    "  tls: {cert_file: client.crt, key_file: client.key}\n"
                                    "mqtt_sources:\n"
                                    "  - {name: s, topic: t, tags: [{name: t1}]}\n");
  using P = fs::perms;
  int refused = 0;
  int cases = 0;
  for (const auto& [file, position, key_path] :
       {std::tuple<fs::path, std::string, std::string>{pass, "agent.yaml:5:18",
                                                       "upstream.password_file"},
        {key, "agent.yaml:7:42", "upstream.tls.key_file"}}) {
    SCOPED_TRACE(key_path);
    fs::permissions(file, P::owner_read | P::owner_write | P::others_read,
                    fs::perm_options::replace);
    const std::string expected = position + ": error: " + key_path + ": '" +
                                 file.filename().string() +
                                 "' is readable by every user (mode 0604); chmod 600 or 640 it";
    const CommandResult check =
        RunCommand({.argv = {kAgent, "check-config", "agent.yaml"}, .cwd = dir.path().string()});
    const CommandResult run =
        RunCommand({.argv = {kAgent, "run", "--config", "agent.yaml"}, .cwd = dir.path().string()},
                   seconds(30));
    EXPECT_EQ(check.exit_code, 2) << check.err;
    EXPECT_TRUE(Contains(check.err, expected)) << check.err;
    EXPECT_EQ(run.exit_code, 2) << run.err;
    EXPECT_TRUE(Contains(run.err, expected)) << run.err;
    cases += 2;
    refused += (check.exit_code == 2 && Contains(check.err, expected)) +
               (run.exit_code == 2 && Contains(run.err, expected));
    fs::permissions(file, P::owner_read | P::owner_write | P::group_read,
                    fs::perm_options::replace);
  }
  // Group-readable (0640) secrets: accepted.
  const CommandResult ok =
      RunCommand({.argv = {kAgent, "check-config", "agent.yaml"}, .cwd = dir.path().string()});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  RecordFigure("security", "world-readable password file / TLS key (check-config, run)",
               std::to_string(refused) + " of " + std::to_string(cases) +
                   " refused with exit 2; 0640 accepted: " + (ok.exit_code == 0 ? "yes" : "no"),
               "all refused", refused == cases && ok.exit_code == 0);
}

// `model keygen` writes the private key 0600; `model pack` refuses a world-readable one.
TEST(SecretFiles, ModelKeygenWritesThePrivateKey0600AndPackRefusesAWorldReadableOne) {
  ScratchDir dir;
  const fs::path key = dir.path() / "sign.pem";
  const CommandResult keygen =
      RunCommand({.argv = {kAgent, "model", "keygen", "--private", key.string(), "--public",
                           (dir.path() / "sign.pub").string()}});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  const unsigned mode = st.st_mode & 07777;
  EXPECT_EQ(mode, 0600u);
  EXPECT_FALSE(Contains(keygen.out + keygen.err, PemBody(ReadFile(key)).at(0)));

  fs::permissions(key, fs::perms::others_read, fs::perm_options::add);
  const CommandResult pack =
      RunCommand({.argv = {kAgent, "model", "pack", "--onnx", (dir.path() / "absent.onnx").string(),
                           "--name", "m", "--version", "1.0.0", "--features", "a", "--window", "4",
                           "--key", key.string(), "--out", (dir.path() / "out").string()}});
  EXPECT_EQ(pack.exit_code, 2) << pack.err;
  EXPECT_TRUE(Contains(
      pack.err,
      "--key " + key.string() + ": is readable by every user (mode 0604); chmod 600 or 640 it"))
      << pack.err;
  EXPECT_FALSE(fs::exists(dir.path() / "out"));
  RecordFigure("security", "model keygen private key mode; pack with a world-readable key",
               fmt::format("{:04o}; pack exit {}", mode, pack.exit_code), "0600; exit 2",
               mode == 0600 && pack.exit_code == 2);
}

// ---- ACL ---------------------------------------------------------------------------------

// The ACL of docs/DEPLOYING.md, taken from the document itself (the block after the heading).
std::string DocumentedAcl() {
  const std::string doc = ReadFile(kSourceDir / "docs/DEPLOYING.md");
  const size_t heading = doc.find("### The broker's ACL");
  if (heading == std::string::npos) return "";
  const size_t start = doc.find("```\n", heading);
  const size_t end = doc.find("```\n", start + 4);
  if (start == std::string::npos || end == std::string::npos) return "";
  return doc.substr(start + 4, end - start - 4);
}

// Under the documented ACL (prefix plant1, this gateway line3-pc1) the agent publishes its
// status, installs a model from the repository, raises an alarm from its MQTT source, and acts
// on a notify from the model service; another gateway (line4-pc1) cannot make it act by
// publishing on its notify topic, nor read its alarms.
TEST(Acl, AgentWorksUnderTheDocumentedAclAndOtherGatewaysAreKeptOut) {
  const std::string acl = DocumentedAcl();
  ASSERT_TRUE(Contains(acl, "pattern write plant1/%u/alarms/#")) << acl;
  ScratchDir dir;
  const std::string made = MakeRigPackage(dir.path() / "pkg");
  ASSERT_EQ(made, "");
  HttpTestServer repo(kPython);
  ASSERT_EQ(repo.error(), "");
  const CommandResult published =
      RunCommand({.argv = {kAgent, "model", "publish", (dir.path() / "pkg").string(), "--repo",
                           repo.root().string(), "--key", (dir.path() / "pkg.pem").string()}});
  ASSERT_EQ(published.exit_code, 0) << published.err;

  MosquittoBroker::Options options;
  options.users = {{"line3-pc1", "pw-line3"},
                   {"line4-pc1", "pw-line4"},
                   {"line3-sensors", "pw-sensors"},
                   {"model-service", "pw-models"},
                   {"scada", "pw-scada"}};
  options.acl = acl;
  MosquittoBroker broker(options);
  ASSERT_TRUE(broker.ok()) << broker.error();
  const auto as = [](const std::string& user, const std::string& pw) {
    return std::vector<std::string>{"-u", user, "-P", pw};
  };
  MosquittoSub scada(broker.port(), "plant1/#", as("scada", "pw-scada"));
  // The other gateway tries to read this gateway's alarms (and everything else).
  MosquittoSub intruder(broker.port(), "plant1/line3-pc1/#", as("line4-pc1", "pw-line4"));
  MosquittoSub intruder_all(broker.port(), "#", as("line4-pc1", "pw-line4"));

  WriteSecret(dir, "mqtt.pass", "pw-line3\n");
  AgentYaml yaml = {
      .gateway_id = "line3-pc1",
      .data_dir = (dir.path() / "data").string(),
      .upstream = AgentYaml::Upstream{.broker = "tcp://127.0.0.1:" + std::to_string(broker.port()),
                                      .username = "line3-pc1",
                                      .password_file = "mqtt.pass"},
      .mqtt_sources = {{.name = "sensors",
                        .topic = "plant1/line3/sensors/pressure",
                        .tags = {"pump1.pressure"}}},
      .repository = AgentYaml::Repository{.url = repo.Url("/"),
                                          .poll_interval = "1h",
                                          .trusted_key = (dir.path() / "pkg.pub").string()},
      .deployments = {{.model = "last-value"}}};
  const fs::path config = dir.Write("agent.yaml", yaml.Text());
  auto agent = StartRunningAgent(config);
  // Online status and the model installed (models/status), both seen by SCADA.
  EXPECT_TRUE(scada.WaitFor("plant1/line3-pc1/status {\"state\":\"online\"", seconds(20)))
      << scada.Received() << agent->Stderr();
  EXPECT_TRUE(scada.WaitFor("plant1/line3-pc1/models/status", seconds(30)))
      << scada.Received() << agent->Stderr();
  EXPECT_TRUE(Contains(scada.Received(), "\"result\":\"installed\"")) << scada.Received();

  // An alarm from the sensor values (score = the last pressure, threshold 0.5).
  const CommandResult sensor = RunCommand(
      {.argv = {"sh", "-c",
                "for i in $(seq 80); do echo 0.9; sleep 0.05; done | mosquitto_pub -h 127.0.0.1 "
                "-p " +
                    std::to_string(broker.port()) +
                    " -u line3-sensors -P pw-sensors -q 1 -t plant1/line3/sensors/pressure -l"}},
      seconds(30));
  EXPECT_EQ(sensor.exit_code, 0) << sensor.err;
  const bool alarm = scada.WaitFor("plant1/line3-pc1/alarms/pump1", seconds(15));
  EXPECT_TRUE(alarm) << scada.Received() << agent->Stderr();

  // A notify from another gateway's credentials: dropped by the broker, the agent does not
  // ask the repository again. From the model service: it does.
  const auto latest_requests = [&] {
    return CountOf(repo.Requests(), "GET /last-value/latest.json");
  };
  const int before = latest_requests();
  EXPECT_GE(before, 1);
  std::vector<std::string> intruder_pub = as("line4-pc1", "pw-line4");
  intruder_pub.insert(intruder_pub.end(), {"-i", "line4-pc1-pub"});  // the broker logs client ids
  EXPECT_EQ(MosquittoPublish(broker.port(), "plant1/line3-pc1/models/notify",
                             R"({"model":"last-value"})", intruder_pub)
                .exit_code,
            0);
  std::this_thread::sleep_for(seconds(2));
  const int after_intruder = latest_requests();
  EXPECT_TRUE(Contains(broker.log(), "Denied PUBLISH from line4-pc1-pub")) << broker.log();
  EXPECT_EQ(after_intruder, before) << repo.Requests();
  EXPECT_EQ(MosquittoPublish(broker.port(), "plant1/line3-pc1/models/notify",
                             R"({"model":"last-value"})", as("model-service", "pw-models"))
                .exit_code,
            0);
  const bool notified = Eventually([&] { return latest_requests() > before; }, seconds(10));
  EXPECT_TRUE(notified) << repo.Requests() << agent->Stderr();

  // The other gateway received nothing of this gateway's (alarms, status).
  const int intruder_got = CountMessagesUnder(intruder.Received(), "plant1/line3-pc1/") +
                           CountMessagesUnder(intruder_all.Received(), "plant1/line3-pc1/");
  EXPECT_EQ(intruder_got, 0) << intruder.Received() << intruder_all.Received();
  // ... while SCADA got them all.
  EXPECT_GE(CountMessagesUnder(scada.Received(), "plant1/line3-pc1/"), 3) << scada.Received();
  // Nothing of the agent's was refused by the ACL.
  EXPECT_FALSE(Contains(broker.log(), "Denied PUBLISH from line3-pc1")) << broker.log();
  EXPECT_EQ(CountOf(agent->Stderr(), "connect to"), 0) << agent->Stderr();
  EXPECT_EQ(StopAgent(*agent), std::optional<int>(0)) << agent->Stderr();

  RecordFigure("security", "ACL: agent under the documented ACL",
               std::string(alarm ? "online, model installed, alarm raised" : "alarm MISSING") +
                   (notified ? ", notify acted on" : ", notify NOT acted on"),
               "works", alarm && notified);
  const bool kept_out = after_intruder == before && intruder_got == 0;
  RecordFigure("security", "ACL: other gateway's credentials",
               kept_out ? "its notify ignored, 0 of this gateway's messages read" : "GOT IN",
               "kept out", kept_out);
}

}  // namespace
}  // namespace edge::testing
