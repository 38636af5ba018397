// The edge-agent binary as users and scripts see it (DESIGN §4): commands, --help, exit codes,
// check-config over the example configs and the bad-config corpus (golden messages), and the
// daemon's start / stop life cycle with real signals.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/time_format.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/export_reader.h"
#include "tests/support/http_get.h"
#include "tests/support/mosquitto_broker.h"  // FreeLoopbackPort
#include "tests/support/notify_socket.h"
#include "tests/support/plc_sim.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

const std::string kAgent = AgentBinary();
const fs::path kSourceDir = SourceDir();

// The examples name realistic plant addresses (10.x PLCs, *.plant.local). `run` really polls
// them, and tests must never send traffic off this machine, so the daemon tests run a copy of
// config/examples/ in which every Modbus `host:` is 127.0.0.1 (nothing listens on port 502
// there: the connection is refused at once, which the agent survives and reports), brokers and
// the model repository are free loopback ports where nothing listens, and the metrics endpoint
// listens on a free loopback port.
fs::path LocalExamples(const ScratchDir& dir) {
  const fs::path copy = dir.path() / "examples";
  fs::copy(kSourceDir / "config/examples", copy, fs::copy_options::recursive);
  for (const fs::path& file : FilesWithExtension(copy, ".yaml")) {
    std::istringstream in(ReadFile(file));
    std::string out, line;
    while (std::getline(in, line)) {
      const size_t key = line.find_first_not_of(' ');
      if (key != std::string::npos && line.compare(key, 5, "host:") == 0) {
        line = line.substr(0, key) + "host: 127.0.0.1";
      }
      // The metrics endpoint on a free port, so that tests running at once do not collide.
      if (key != std::string::npos && line.compare(key, 7, "listen:") == 0) {
        line = line.substr(0, key) + "listen: 127.0.0.1:" + std::to_string(FreeLoopbackPort());
      }
      // Brokers and the model repository on free ports where nothing listens: a broker a
      // developer runs on 1883 is left alone, and the repository is not looked for on the net.
      if (key != std::string::npos && line.compare(key, 7, "broker:") == 0) {
        line = line.substr(0, key) + "broker: tcp://127.0.0.1:" + std::to_string(FreeLoopbackPort());
      }
      if (key != std::string::npos && line.compare(key, 4, "url:") == 0) {
        line = line.substr(0, key) + "url: http://127.0.0.1:" + std::to_string(FreeLoopbackPort()) +
               "/repo/";
      }
      out += line + "\n";
    }
    std::ofstream(file, std::ios::trunc) << out;
  }
  return copy;
}

TEST(Cli, VersionNamesTheAgentAndItsLibraries) {
  CommandResult r = RunAgent({"version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("edge-agent ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("yaml-cpp"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("libmodbus"), std::string::npos) << r.out;
}

TEST(Cli, EveryCommandHasHelp) {
  const std::vector<std::vector<std::string>> commands = {
      {},
      {"run"},
      {"check-config"},
      {"predict"},
      {"model"},
      {"model", "keygen"},
      {"model", "pack"},
      {"model", "verify"},
      {"model", "publish"},
      {"version"},
      {"export"},
  };
  for (std::vector<std::string> command : commands) {
    command.push_back("--help");
    CommandResult r = RunAgent(command);
    EXPECT_EQ(r.exit_code, 0) << command.front() << ": " << r.err;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
}

TEST(Cli, BadUsageExitsTwo) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"run", "--no-such-option"},
                                             {"check-config"},
                                             {"predict", "--model", "m"},
                                             {"model"}}) {
    CommandResult r = RunAgent(args);
    EXPECT_EQ(r.exit_code, 2) << (args.empty() ? "(no args)" : args.front());
    EXPECT_NE(r.err.find("edge-agent: error:"), std::string::npos) << r.err;
  }
}

TEST(Cli, CommandsGivenMissingFilesExitTwoNamingThem) {
  ScratchDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> commands = {
      {{"predict", "--model", "no-such-model", "--input", "in.csv"}, "no-such-model"},
      {{"model", "verify", "no-such-dir", "--key", "no-such.pub"}, "no-such.pub"},
      {{"model", "publish", "no-such-dir", "--repo", "repo", "--key", "k.pem"}, "no-such-dir"},
      {{"model", "pack", "--onnx", "m.onnx", "--name", "n", "--version", "1.0.0", "--features",
        "a,b", "--window", "8", "--key", "no-such.pem", "--out", "o"},
       "no-such.pem"},
      {{"export", "--config", "no-such.yaml"}, "no-such.yaml"},
  };
  for (const auto& [args, file] : commands) {
    std::vector<std::string> argv = {kAgent};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = RunCommand({.argv = argv, .cwd = dir.path().string()});
    EXPECT_EQ(r.exit_code, 2) << args.front() << " " << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "o"));  // nothing written by the refused pack
}

TEST(CheckConfig, AcceptsEveryExample) {
  const auto examples = FilesWithExtension(kSourceDir / "config/examples", ".yaml");
  ASSERT_GE(examples.size(), 4u);
  for (const fs::path& example : examples) {
    CommandResult r = RunAgent({"check-config", example.string()});
    EXPECT_EQ(r.exit_code, 0) << example << "\n" << r.err;
    EXPECT_NE(r.out.find(": ok ("), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }
}

// Each bad config is rejected with exit code 2 and exactly its golden message on stderr.
TEST(CheckConfig, RejectsEveryBadConfigWithItsGoldenMessage) {
  const fs::path bad_dir = kSourceDir / "tests/config/bad";
  const auto bad = FilesWithExtension(bad_dir, ".yaml");
  ASSERT_GE(bad.size(), 30u);
  for (const fs::path& file : bad) {
    const fs::path golden = fs::path(file).replace_extension(".expected");
    ASSERT_TRUE(fs::exists(golden)) << golden;
    CommandResult r = RunAgent({"check-config", file.filename().string()}, bad_dir.string());
    EXPECT_EQ(r.exit_code, 2) << file;
    EXPECT_EQ(r.err, ReadFile(golden)) << file;
    EXPECT_EQ(r.out, "") << file;
  }
}

TEST(CheckConfig, MissingFileIsBadInput) {
  ScratchDir dir;
  const std::string missing = (dir.path() / "nope.yaml").string();
  CommandResult r = RunAgent({"check-config", missing});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind(missing + ":1:1: error: cannot read file", 0), 0u) << r.err;
}

// Hostile files (issue 23): /dev/zero once made check-config read until memory ran out, a FIFO
// blocked it, a 50 MB file took more than 4 GiB; a tag name holding a newline forged a second
// "FILE:LINE:COL: error:" line. Each is refused at once, exit 2, one line per fault.
TEST(CheckConfig, HostileFilesAreRefusedAtOnce) {
  ScratchDir dir;
  CommandResult r = RunAgent({"check-config", "/dev/zero"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "/dev/zero:1:1: error: cannot read file: is a character device, not a regular file\n");
  const fs::path fifo = dir.path() / "agent.yaml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  r = RunAgent({"check-config", fifo.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is a FIFO, not a regular file"), std::string::npos) << r.err;
  const fs::path big = dir.Write("big.yaml", "gateway: {id: gw1}\n");
  fs::resize_file(big, 50'000'000);  // sparse: no disk used
  r = RunAgent({"check-config", big.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is 50000000 bytes, more than the limit of 1 MiB"), std::string::npos)
      << r.err;
  const fs::path forged =
      dir.Write("forged.yaml",
                "gateway: {id: gw1}\n"
                "modbus: [{name: plc, host: h, tags: [{name: \"a\\nother.yaml:9:9: error: "
                "forged\\e[2J\", address: 0}]}]\n");
  r = RunAgent({"check-config", forged.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, forged.string() +
                       ":2:45: error: modbus[0].tags[0].name: 'a\\nother.yaml:9:9: error: "
                       "forged\\x1b[2J' is not a valid tag name (letters, digits, '_', '.', '-')\n");
}

// The daemon on every example: starts, says it runs, exits 0 within a second of SIGTERM.
TEST(Run, EveryExampleStartsAndStopsCleanlyOnSigterm) {
  ScratchDir dir;
  for (const fs::path& example : FilesWithExtension(LocalExamples(dir), ".yaml")) {
    ScratchDir data;
    Subprocess agent({.argv = {kAgent, "run", "--config", example.string(), "--data-dir",
                               (data.path() / "data").string()}});
    ASSERT_TRUE(agent.WaitForOutput("running;", seconds(20))) << example << "\n" << agent.Stderr();
    EXPECT_TRUE(fs::exists(data.path() / "data/agent.lock"));
    agent.Signal(SIGTERM);
    std::optional<int> status = agent.Wait(seconds(5));
    ASSERT_TRUE(status.has_value()) << example << ": still running 5 s after SIGTERM";
    EXPECT_EQ(*status, 0) << agent.Stderr();
    EXPECT_NE(agent.Stderr().find("stopped"), std::string::npos);
  }
}

TEST(Run, StopsOnSigint) {
  ScratchDir dir;
  ScratchDir data;
  Subprocess agent(
      {.argv = {kAgent, "run", "--config", (LocalExamples(dir) / "modbus-tcp.yaml").string(),
                "--data-dir", data.path().string()}});
  ASSERT_TRUE(agent.WaitForOutput("running;", seconds(20))) << agent.Stderr();
  agent.Signal(SIGINT);
  std::optional<int> status = agent.Wait(seconds(5));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
}

TEST(Run, BadConfigIsRejectedBeforeAnythingStarts) {
  ScratchDir data;
  const fs::path bad_dir = kSourceDir / "tests/config/bad";
  const fs::path bad = FilesWithExtension(bad_dir, ".yaml").front();
  CommandResult r = RunAgent(
      {"run", "--config", bad.filename().string(), "--data-dir", (data.path() / "data").string()},
      bad_dir.string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, ReadFile(fs::path(bad).replace_extension(".expected")));
  EXPECT_FALSE(fs::exists(data.path() / "data")) << "a rejected config must not start anything";
}

TEST(Run, MissingConfigIsBadInput) {
  CommandResult r = RunAgent({"run", "--config", "/nonexistent/agent.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/agent.yaml:1:1: error: cannot read file"), std::string::npos)
      << r.err;
}

TEST(Run, SecondAgentOnTheSameDataDirectoryIsRefused) {
  ScratchDir dir;
  ScratchDir data;
  const std::string config = (LocalExamples(dir) / "modbus-tcp.yaml").string();
  Subprocess first(
      {.argv = {kAgent, "run", "--config", config, "--data-dir", data.path().string()}});
  ASSERT_TRUE(first.WaitForOutput("running;", seconds(20))) << first.Stderr();
  CommandResult second = RunAgent({"run", "--config", config, "--data-dir", data.path().string()});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("in use by another edge-agent"), std::string::npos) << second.err;
  EXPECT_TRUE(first.running()) << "the first agent must be unaffected";
  first.Signal(SIGTERM);
  EXPECT_EQ(first.Wait(seconds(5)), std::optional<int>(0));
}

TEST(Run, UnusableDataDirectoryIsARuntimeFailureNamingIt) {
  ScratchDir dir;
  CommandResult r = RunAgent({"run", "--config", (LocalExamples(dir) / "modbus-tcp.yaml").string(),
                              "--data-dir", "/dev/null/data"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/dev/null/data"), std::string::npos) << r.err;
}

TEST(Run, BadLogLevelIsBadUsage) {
  ScratchDir dir;
  ScratchDir data;
  CommandResult r = RunAgent({"run", "--config", (LocalExamples(dir) / "modbus-tcp.yaml").string(),
                              "--data-dir", data.path().string(), "--log-level", "loud"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("loud"), std::string::npos) << r.err;
}

// SIGHUP with a broken file: the errors are logged and the agent keeps running.
TEST(Run, ReloadOfABrokenConfigKeepsRunning) {
  ScratchDir dir;
  const fs::path config = dir.path() / "agent.yaml";
  fs::copy_file(LocalExamples(dir) / "modbus-tcp.yaml", config);
  Subprocess agent({.argv = {kAgent, "run", "--config", config.string(), "--data-dir",
                             (dir.path() / "data").string()},
                    .cwd = (dir.path() / "examples").string()});
  ASSERT_TRUE(agent.WaitForOutput("running;", seconds(20))) << agent.Stderr();
  std::ofstream(config, std::ios::app) << "\nthis is: [not valid\n";
  agent.Signal(SIGHUP);
  EXPECT_TRUE(agent.WaitForOutput("keeping the running configuration", seconds(10)))
      << agent.Stderr();
  // The fault, as check-config names it: "FILE:LINE:COL: error: ...".
  EXPECT_TRUE(std::regex_search(agent.Stderr(),
                                std::regex(config.string() + ":[0-9]+:[0-9]+: error: ")))
      << agent.Stderr();
  EXPECT_EQ(agent.Stderr().find("reload: applied"), std::string::npos);
  EXPECT_TRUE(agent.running());
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(seconds(5)), std::optional<int>(0));
}

// Under systemd (JOURNAL_STREAM set) every line carries a syslog priority prefix for journald.
TEST(Run, LogsWithJournalPrioritiesUnderSystemd) {
  ScratchDir dir;
  ScratchDir data;
  Subprocess agent(
      {.argv = {kAgent, "run", "--config", (LocalExamples(dir) / "modbus-tcp.yaml").string(),
                "--data-dir", data.path().string()},
       .stderr_as_journal = true});
  ASSERT_TRUE(agent.WaitForOutput("running;", seconds(20))) << agent.Stderr();
  agent.Signal(SIGTERM);
  ASSERT_EQ(agent.Wait(seconds(5)), std::optional<int>(0));
  std::istringstream lines(agent.Stderr());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    ASSERT_GE(line.size(), 3u);
    EXPECT_EQ(line[0], '<') << line;
    EXPECT_TRUE(line[1] >= '0' && line[1] <= '7') << line;
    EXPECT_EQ(line[2], '>') << line;
  }
  EXPECT_GT(count, 3);
}

// Under WatchdogSec=, the agent pings while its stages go round their loops, and stops pinging
// when one is stuck (here the scoring thread, a Modbus poll thread or the model sync thread,
// blocked by a test hook), so systemd restarts it.
TEST(Run, WatchdogIsPingedOnlyWhileEveryStageProgresses) {
  struct Case {
    const char* stall_at;  // "" for none
    const char* logged;
    const char* example = "modbus-tcp.yaml";
  };
  for (const Case& c :
       {Case{"", ""}, Case{"", "", "full-line.yaml"},
        Case{"scoring", "the scoring stage has made no progress"},
        Case{"modbus-poll", "the Modbus poll thread for tcp://127.0.0.1:"},
        Case{"model-sync", "the model sync thread has made no progress", "full-line.yaml"}}) {
    SCOPED_TRACE(std::string(*c.stall_at != '\0' ? c.stall_at : "healthy") + ", " + c.example);
    const bool stall = *c.stall_at != '\0';
    ScratchDir dir;
    NotifySocket notify(dir.path() / "notify");
    ASSERT_TRUE(notify.ok());
    std::vector<std::pair<std::string, std::string>> env = {
        {"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "8000000"}};
    if (stall) env.emplace_back("EDGE_TEST_STALL_AT", c.stall_at);
    Subprocess agent(
        {.argv = {kAgent, "run", "--config", (LocalExamples(dir) / c.example).string(),
                  "--data-dir", (dir.path() / "data").string()},
         .env = env,
         .unset_env = {"WATCHDOG_PID"}});
    const std::vector<std::string> first = notify.Receive(seconds(3));
    ASSERT_EQ(CountContaining(first, "READY=1"), 1) << agent.Stderr();
    // The stuck limit is half the interval (4 s): after it, a stuck stage means no pings.
    notify.Receive(seconds(3));
    const std::vector<std::string> later = notify.Receive(seconds(4));
    if (stall) {
      EXPECT_EQ(CountContaining(later, "WATCHDOG=1"), 0);
      EXPECT_TRUE(agent.WaitForOutput(c.logged, seconds(5)))
          << agent.Stderr();
      agent.Signal(SIGKILL);  // what systemd does when the pings stop
      EXPECT_EQ(agent.Wait(seconds(5)), std::optional<int>(128 + SIGKILL));
    } else {
      EXPECT_GE(CountContaining(later, "WATCHDOG=1"), 3);
      agent.Signal(SIGTERM);
      EXPECT_EQ(agent.Wait(seconds(5)), std::optional<int>(0)) << agent.Stderr();
    }
  }
}

// GET /metrics is valid Prometheus text with the pipeline's figures; GET /health says 503 with
// the reason while the upstream broker is unreachable (nothing listens on its port here).
TEST(Run, ServesMetricsAndHealth) {
  ScratchDir dir;
  const int port = FreeLoopbackPort();
  const fs::path config = dir.Write("agent.yaml", ReadFile(LocalExamples(dir) / "modbus-tcp.yaml") +
                                                      "upstream:\n  broker: tcp://127.0.0.1:" +
                                                      std::to_string(FreeLoopbackPort()) +
                                                      "\n  topic_prefix: plant1\n");
  std::string text = ReadFile(config);
  text.replace(text.find("listen: 127.0.0.1:"),
               text.find('\n', text.find("listen: 127.0.0.1:")) - text.find("listen: 127.0.0.1:"),
               "listen: 127.0.0.1:" + std::to_string(port));
  std::ofstream(config, std::ios::trunc) << text;
  Subprocess agent({.argv = {kAgent, "run", "--config", config.string(), "--data-dir",
                             (dir.path() / "data").string()}});
  ASSERT_TRUE(agent.WaitForOutput("serving /metrics and /health", seconds(20))) << agent.Stderr();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const CommandResult metrics =
      RunCommand({.argv = {TestPython(), (kSourceDir / "tests/support/check_metrics.py").string(),
                           base + "/metrics"}});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  EXPECT_NE(metrics.out.find("edge_modbus_connected{device=press-plc} 0"), std::string::npos)
      << metrics.out;
  EXPECT_NE(metrics.out.find("edge_upstream_connected{} 0"), std::string::npos);
  EXPECT_NE(metrics.out.find("edge_agent_info{version="), std::string::npos);

  const HttpReply health = HttpGet(port, "/health");
  EXPECT_EQ(health.status, 503) << health.body;
  EXPECT_NE(health.body.find("\"status\":\"failing\""), std::string::npos) << health.body;
  EXPECT_NE(health.body.find("the upstream broker is not connected"), std::string::npos);
  EXPECT_NE(health.body.find("modbus device press-plc is not connected"), std::string::npos);
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(seconds(5)), std::optional<int>(0)) << agent.Stderr();
}

// The reload tests' agent.yaml: one PLC polled every 100 ms, tag line.a (holding 0), line.b
// (holding 2) with `with_b`, and /metrics on `http_listen` if not empty.
fs::path WriteReloadConfig(const ScratchDir& dir, int plc_port, const fs::path& data_dir,
                           bool with_b, const std::string& http_listen = "") {
  AgentYaml yaml = {.gateway_id = "reload-pc",
                    .data_dir = data_dir.string(),
                    .modbus = {{.port = plc_port, .tags = {{.name = "line.a", .address = 0}}}},
                    .http_listen = http_listen};
  if (with_b) yaml.modbus[0].tags.push_back({.name = "line.b", .address = 2});
  return dir.Write("agent.yaml", yaml.Text());
}

fs::path WriteReloadPlcMap(const ScratchDir& dir) {
  return dir.Write("plc.yaml",
                   "tags:\n  - {name: a, table: holding, address: 0, type: float32}\n"
                   "  - {name: b, table: holding, address: 2, type: float32}\n");
}

// Samples `export` gives for `tag` from `from` on.
int ExportedRows(const fs::path& config, const std::string& tag, Timestamp from) {
  const CommandResult csv =
      RunAgent({"export", "--config", config.string(), "--from", FormatRfc3339Millis(from)});
  EXPECT_EQ(csv.exit_code, 0) << csv.err;
  return CountSamplesOf(ParseExportCsv(csv.out), tag);
}

// SIGHUP with a valid file applies it (here: a tag added) without losing a sample of the tag
// polled before and after; the samples stored say so.
TEST(Run, ReloadAppliesANewConfigurationWithoutLosingSamples) {
  ScratchDir dir;
  PlcSim plc(WriteReloadPlcMap(dir).string());
  ASSERT_NE(plc.port(), 0) << plc.error();
  const fs::path data = dir.path() / "data";
  const fs::path config = WriteReloadConfig(dir, plc.port(), data, false);
  Subprocess agent({.argv = {kAgent, "run", "--config", config.string()}});
  ASSERT_TRUE(agent.WaitForOutput("running;", seconds(20))) << agent.Stderr();
  std::this_thread::sleep_for(milliseconds(1500));
  WriteReloadConfig(dir, plc.port(), data, true);
  agent.Signal(SIGHUP);
  ASSERT_TRUE(agent.WaitForOutput("reload: applied", seconds(10))) << agent.Stderr();
  std::this_thread::sleep_for(milliseconds(1500));
  agent.Signal(SIGTERM);
  ASSERT_EQ(agent.Wait(seconds(5)), std::optional<int>(0)) << agent.Stderr();

  const CommandResult csv = RunAgent({"export", "--config", config.string()});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  std::vector<Timestamp> a_times;
  int b_rows = 0;
  for (const ExportedSample& sample : ParseExportCsv(csv.out).samples) {
    if (sample.tag == "line.a") a_times.push_back(sample.ts);
    if (sample.tag == "line.b") ++b_rows;
  }
  EXPECT_GE(a_times.size(), 20u) << csv.out;
  EXPECT_GE(b_rows, 5) << csv.out;
  std::sort(a_times.begin(), a_times.end());
  double widest = 0;
  for (size_t i = 1; i < a_times.size(); ++i) {
    widest = std::max(widest, std::chrono::duration<double>(a_times[i] - a_times[i - 1]).count());
  }
  // Polling pauses only while the pipeline restarts: far less than a second.
  EXPECT_LT(widest, 1.0) << csv.out;
}


// SIGHUP with a file that moves gateway.data_dir: refused (the stores stay open where they are),
// logged, and the agent goes on polling into the same directory with the running configuration.
TEST(Run, ReloadThatMovesTheDataDirectoryIsRefused) {
  ScratchDir dir;
  PlcSim plc(WriteReloadPlcMap(dir).string());
  ASSERT_NE(plc.port(), 0) << plc.error();
  const fs::path data = dir.path() / "data";
  const fs::path elsewhere = dir.path() / "elsewhere";
  const fs::path config = WriteReloadConfig(dir, plc.port(), data, false);
  Subprocess agent({.argv = {kAgent, "run", "--config", config.string()}});
  ASSERT_TRUE(agent.WaitForOutput("running;", seconds(20))) << agent.Stderr();
  WriteReloadConfig(dir, plc.port(), elsewhere, true);
  const Timestamp reloaded = SystemClockInstance().Now();
  agent.Signal(SIGHUP);
  ASSERT_TRUE(agent.WaitForOutput("needs a restart; keeping the running configuration",
                                  seconds(10)))
      << agent.Stderr();
  EXPECT_NE(agent.Stderr().find("gateway.data_dir changes from " + data.string() + " to " +
                                elsewhere.string()),
            std::string::npos)
      << agent.Stderr();
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_TRUE(agent.running());
  agent.Signal(SIGTERM);
  ASSERT_EQ(agent.Wait(seconds(5)), std::optional<int>(0)) << agent.Stderr();
  EXPECT_EQ(agent.Stderr().find("reload: applied"), std::string::npos) << agent.Stderr();
  EXPECT_FALSE(fs::exists(elsewhere));
  // Still polling with the old configuration, into the old directory: line.a and no line.b.
  WriteReloadConfig(dir, plc.port(), data, true);
  EXPECT_GE(ExportedRows(config, "line.a", reloaded), 10);
  EXPECT_EQ(ExportedRows(config, "line.b", reloaded), 0);
}

// SIGHUP with a valid file that cannot start (here: its /metrics port is taken): the previous
// configuration is started again and polling goes on; the failure is logged with its cause.
TEST(Run, ReloadThatCannotStartGoesBackToThePreviousConfiguration) {
  ScratchDir dir;
  PlcSim plc(WriteReloadPlcMap(dir).string());
  ASSERT_NE(plc.port(), 0) << plc.error();
  // A port that is taken: bound and listening here for the whole test.
  const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string listen = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  const fs::path data = dir.path() / "data";
  const fs::path config = WriteReloadConfig(dir, plc.port(), data, false);
  Subprocess agent({.argv = {kAgent, "run", "--config", config.string()}});
  ASSERT_TRUE(agent.WaitForOutput("running;", seconds(20))) << agent.Stderr();
  WriteReloadConfig(dir, plc.port(), data, true, listen);
  const Timestamp reloaded = SystemClockInstance().Now();
  agent.Signal(SIGHUP);
  ASSERT_TRUE(agent.WaitForOutput("going back to the previous one", seconds(10)))
      << agent.Stderr();
  EXPECT_NE(agent.Stderr().find(listen), std::string::npos) << agent.Stderr();
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_TRUE(agent.running());
  agent.Signal(SIGTERM);
  ASSERT_EQ(agent.Wait(seconds(5)), std::optional<int>(0)) << agent.Stderr();
  ::close(taken);
  EXPECT_EQ(agent.Stderr().find("reload: applied"), std::string::npos) << agent.Stderr();
  // The previous configuration runs again: line.a polled after the reload. line.b was polled
  // only during the failed start, if at all: far fewer rows than line.a.
  EXPECT_GE(ExportedRows(config, "line.a", reloaded), 10);
  EXPECT_LT(ExportedRows(config, "line.b", reloaded), 5);
}

}  // namespace
}  // namespace edge::testing
