// Power loss, not only SIGKILL (issue #23). SIGKILL keeps the page cache; a power cut keeps only
// what was synced. The agent runs with the power-cut shim preloaded (tests/support/
// power_cut_shim.cc), which drops every write the agent had not synced at a random call and
// kills it; the agent then restarts on the same data directory. Checked after every cut:
//   - PRAGMA integrity_check of samples.db and outbox.db, and no file moved aside as damaged;
//   - outbox.db (synchronous=FULL) lost no committed alarm: an alarm in the page cache at the
//     cut but not on disk after it was in a commit whose sync never returned, so it was never
//     published; at the end every alarm on disk is delivered, and every alarm received is the
//     one stored under its seq (a lost alarm's seq reused for another would show there);
//   - samples.db (synchronous=NORMAL, WAL) lost only a tail: what is on disk after the cut is a
//     prefix of what the page cache held (no hole, no chunk changed but shortened), and the
//     readings and seconds of that tail are the figure docs/RELIABILITY.md quotes. With
//     storage.max_size 4MiB the WAL is checkpointed (and synced) every 256 KiB, so cuts land
//     before, in and after checkpoints, and the unsynced WAL a cut drops stays under 2 x 256 KiB.
// The shim itself is checked first, on a file written by a small program with and without syncs.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "storage/sqlite_db.h"
#include "tests/reliability/reliability.h"
#include "tests/support/e2e_rig.h"
#include "tests/support/eventually.h"
#include "tests/support/mqtt_messages.h"
#include "tests/support/storage_test_util.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

using Env = std::vector<std::pair<std::string, std::string>>;

// The environment that preloads the shim on `dir`, cutting at the `at`th write or sync counted
// from `after_ms` (0: never), and copying the page cache's files to `snapshot` first.
Env PowerCutEnv(const fs::path& dir, long at, long after_ms, const fs::path& snapshot) {
  return {{"LD_PRELOAD", EDGE_POWER_CUT_SHIM},
          {"EDGE_POWER_CUT_DIR", dir.string()},
          {"EDGE_POWER_CUT_AT", std::to_string(at)},
          {"EDGE_POWER_CUT_AFTER_MS", std::to_string(after_ms)},
          {"EDGE_POWER_CUT_SNAPSHOT", snapshot.string()}};
}

// A program whose writes the shim sees (Python's os module calls libc), numbered by the write or
// sync call they are: `synced` gets "durable" and an fsync (1, 2), then an overwrite at 0 and an
// append (3, 4); `new` is created and written, never synced (5); `shrunk` gets "kept", an fsync
// and a truncation to 0 (6, 7, 8); `trunc` gets "synced" and an fsync (9, 10), then is opened
// again with O_TRUNC and gets "ab" by writev (11); `tmp` gets "moved" and an fsync (12, 13), is
// renamed to `final` and gets " more" (14); the cut is call 15, an fsync of `new`.
constexpr char kWriter[] = R"py(
import os, sys
d = sys.argv[1]
s = os.open(d + "/synced", os.O_RDWR | os.O_CREAT, 0o600)
os.write(s, b"durable"); os.fsync(s)
os.pwrite(s, b"XX", 0); os.write(s, b" lost")
n = os.open(d + "/new", os.O_WRONLY | os.O_CREAT, 0o600)
os.write(n, b"never synced")
k = os.open(d + "/shrunk", os.O_WRONLY | os.O_CREAT, 0o600)
os.write(k, b"kept"); os.fsync(k); os.ftruncate(k, 0)
t = os.open(d + "/trunc", os.O_WRONLY | os.O_CREAT, 0o600)
os.write(t, b"synced"); os.fsync(t); os.close(t)
t = os.open(d + "/trunc", os.O_WRONLY | os.O_TRUNC)
os.writev(t, [b"a", b"b"])
r = os.open(d + "/tmp", os.O_WRONLY | os.O_CREAT, 0o600)
os.write(r, b"moved"); os.fsync(r)
os.rename(d + "/tmp", d + "/final")
os.write(r, b" more")
os.fsync(n)
print("not cut")
)py";

TEST(PowerCutShim, DropsWhatWasNotSyncedAndKeepsWhatWas) {
  ScratchDir scratch;
  const fs::path dir = scratch.path() / "data";
  const fs::path snapshot = scratch.path() / "snapshot";
  fs::create_directories(dir);
  fs::create_directories(snapshot);
  const CommandResult cut = RunCommand(
      {.argv = {"python3", "-c", kWriter, dir.string()}, .env = PowerCutEnv(dir, 15, 0, snapshot)},
      seconds(20));
  EXPECT_EQ(cut.exit_code, 128 + SIGKILL) << cut.out << cut.err;
  EXPECT_NE(cut.err.find("power-cut: at call 15 (fsync new)"), std::string::npos) << cut.err;
  EXPECT_EQ(cut.out, "");
  // Synced bytes survive; the overwrite and the append after the sync are gone.
  EXPECT_EQ(ReadFile(dir / "synced"), "durable");
  EXPECT_EQ(ReadFile(dir / "new"), "");
  EXPECT_EQ(ReadFile(dir / "shrunk"), "kept");
  EXPECT_EQ(ReadFile(dir / "trunc"), "synced");  // the O_TRUNC open is undone too
  EXPECT_EQ(ReadFile(dir / "final"), "moved");   // followed through the rename
  EXPECT_FALSE(fs::exists(dir / "tmp"));
  // The snapshot is what a SIGKILL would have left: the page cache.
  EXPECT_EQ(ReadFile(snapshot / "synced"), "XXrable lost");
  EXPECT_EQ(ReadFile(snapshot / "new"), "never synced");
  EXPECT_EQ(ReadFile(snapshot / "shrunk"), "");
  EXPECT_EQ(ReadFile(snapshot / "trunc"), "ab");
  EXPECT_EQ(ReadFile(snapshot / "final"), "moved more");

  // The control: with no cut the shim changes nothing.
  const fs::path control = scratch.path() / "control";
  fs::create_directories(control);
  const CommandResult plain = RunCommand({.argv = {"python3", "-c", kWriter, control.string()},
                                          .env = PowerCutEnv(control, 0, 0, snapshot)},
                                         seconds(20));
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out, "not cut\n");
  EXPECT_EQ(ReadFile(control / "synced"), "XXrable lost");
  EXPECT_EQ(ReadFile(control / "new"), "never synced");
  EXPECT_EQ(ReadFile(control / "shrunk"), "");
  EXPECT_EQ(ReadFile(control / "trunc"), "ab");
  EXPECT_EQ(ReadFile(control / "final"), "moved more");
}

// One row of samples.db's chunk table.
struct Chunk {
  int64_t tag_id = 0;
  int64_t start_us = 0;
  int64_t end_us = 0;
  int64_t n = 0;
};

// What a data directory holds: samples.db's chunks by id and outbox.db's alarm history by seq.
struct Stored {
  std::map<int64_t, Chunk> chunks;
  std::map<uint64_t, std::string> alarms;
  std::string error;  // "" when both files could be read

  int64_t Readings() const {
    int64_t total = 0;
    for (const auto& [id, chunk] : chunks) total += chunk.n;
    return total;
  }
  int64_t LastUs() const {
    int64_t last = 0;
    for (const auto& [id, chunk] : chunks) last = std::max(last, chunk.end_us);
    return last;
  }
};

// Calls `row` on each row of `sql` over `table` of the database `file`; "" or what failed. A file
// or table not created yet (a cut during the first start) reads as empty.
std::string ForEachRow(const fs::path& file, const std::string& table, const std::string& sql,
                       const std::function<void(const storage::Statement&)>& row) {
  if (!fs::exists(file)) return "";
  storage::SqliteOpenOptions options;
  options.create = false;
  StatusOr<storage::SqliteDb> db = storage::SqliteDb::Open(file.string(), options);
  if (!db.ok()) return db.status().ToString();
  StatusOr<int64_t> tables =
      db->QueryInt("SELECT count(*) FROM sqlite_master WHERE name = '" + table + "'");
  if (!tables.ok()) return tables.status().ToString();
  if (*tables == 0) return "";
  StatusOr<storage::Statement> stmt = db->Prepare(sql);
  if (!stmt.ok()) return stmt.status().ToString();
  StatusOr<bool> more = stmt->Step();
  for (; more.ok() && *more; more = stmt->Step()) row(*stmt);
  return more.ok() ? "" : more.status().ToString();
}

Stored ReadStored(const fs::path& dir) {
  Stored stored;
  stored.error =
      ForEachRow(dir / "samples.db", "chunk", "SELECT id, tag_id, start_us, end_us, n FROM chunk",
                 [&](const storage::Statement& r) {
                   stored.chunks[r.ColumnInt(0)] = {r.ColumnInt(1), r.ColumnInt(2), r.ColumnInt(3),
                                                    r.ColumnInt(4)};
                 });
  stored.error += ForEachRow(
      dir / "outbox.db", "alarm_history", "SELECT seq, payload FROM alarm_history",
      [&](const storage::Statement& r) {
        stored.alarms[static_cast<uint64_t>(r.ColumnInt(0))] = std::string(r.ColumnText(1));
      });
  return stored;
}

// How the data directory after a cut (`disk`) compares with the page cache at the cut (`cache`).
struct CutLoss {
  int64_t readings = 0;  // readings in the cache, not on disk
  double seconds = 0;    // the cache's newest reading time minus the oldest reading lost
  size_t alarms = 0;     // alarms in the cache, not on disk (a commit whose sync never returned)
  std::vector<std::string> lost_alarm_payloads;
  size_t undeleted = 0;    // chunks on disk, not in the cache
  std::string not_a_tail;  // "" when the disk holds a prefix of the cache
};

CutLoss CompareCut(const Stored& cache, const Stored& disk) {
  CutLoss loss;
  loss.readings = cache.Readings() - disk.Readings();
  // How far back the loss reaches: from the oldest reading lost to the newest in the cache.
  int64_t oldest_lost_us = cache.LastUs();
  for (const auto& [id, chunk] : cache.chunks) {
    const auto on_disk = disk.chunks.find(id);
    if (on_disk == disk.chunks.end()) {
      oldest_lost_us = std::min(oldest_lost_us, chunk.start_us);
    } else if (on_disk->second.n < chunk.n) {
      oldest_lost_us = std::min(oldest_lost_us, on_disk->second.end_us);
    }
  }
  loss.seconds = static_cast<double>(cache.LastUs() - oldest_lost_us) / 1e6;
  const int64_t last_disk_id = disk.chunks.empty() ? 0 : disk.chunks.rbegin()->first;
  for (const auto& [id, chunk] : disk.chunks) {
    const auto it = cache.chunks.find(id);
    if (it == cache.chunks.end()) {
      ++loss.undeleted;  // deleted by size retention in a transaction the cut dropped
    } else if (it->second.tag_id != chunk.tag_id || it->second.start_us != chunk.start_us ||
               chunk.n > it->second.n || chunk.end_us > it->second.end_us) {
      loss.not_a_tail += fmt::format(" chunk {} differs beyond a shorter tail;", id);
    }
  }
  for (const auto& [id, chunk] : cache.chunks) {
    if (id < last_disk_id && disk.chunks.count(id) == 0) {
      loss.not_a_tail += fmt::format(" chunk {} lost before surviving chunk {};", id, last_disk_id);
    }
  }
  for (const auto& [seq, payload] : cache.alarms) {
    const auto it = disk.alarms.find(seq);
    if (it == disk.alarms.end()) {
      ++loss.alarms;
      loss.lost_alarm_payloads.push_back(payload);
    } else if (it->second != payload) {
      loss.not_a_tail += fmt::format(" alarm {} changed;", seq);
    }
  }
  return loss;
}

// Files the agent moved aside as damaged (samples.db.corrupt-*, *.damaged-*).
std::vector<std::string> MovedAside(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".corrupt-") != std::string::npos || name.find(".damaged-") != std::string::npos)
      names.push_back(name);
  }
  return names;
}

// The last "N samples committed" of the agent's status lines, 0 if none.
int64_t LastReportedCommitted(const std::string& log) {
  static const std::regex re("([0-9]+) samples committed");
  int64_t last = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator();
       ++it) {
    last = std::stoll((*it)[1].str());
  }
  return last;
}

// The rig: mosquitto with persistence (the subscriber's QoS 1 session survives), plc-sim
// swinging pump1.pressure in and out of the alarm range every 0.8 s with 100 ballast registers,
// the last-value model, and a persistent subscriber on every alarm topic.
class PowerLossRig {
 public:
  PowerLossRig() {
    fs::create_directories(rig_.Path("broker"));
    MosquittoBroker::Options broker_options;
    broker_options.extra_config = "persistence true\npersistence_location " + rig_.Path("broker") +
                                  "/\nautosave_interval 1\n";
    error_ = rig_.StartBroker(broker_options);
    if (!error_.empty()) return;
    std::string map = "name,table,address,type,value\npump1.pressure,holding,0,float32,0.1\n";
    for (int i = 0; i < kBallastTags; ++i) {
      map += fmt::format("b{},holding,{},uint16,{}\n", i, 10 + i, i);
    }
    std::string replay = "pump1.pressure\n";
    for (int i = 0; i < 16; ++i) replay += i < 8 ? "0.1\n" : "0.9\n";
    error_ = rig_.StartPlcSim(
        "plc.csv", map,
        {"--replay", rig_.dir().Write("replay.csv", replay).string(), "--step", "100ms", "--loop"});
    if (!error_.empty()) return;
    error_ = rig_.MakePackage("pkg");
    if (!error_.empty()) return;
    AgentYaml yaml = rig_.Config();  // names plc-sim's port: after it started
    for (int i = 0; i < kBallastTags; ++i) {
      yaml.modbus[0].tags.push_back(
          {.name = fmt::format("ballast.b{}", i), .address = 10 + i, .type = "uint16"});
    }
    yaml.modbus[0].timeout = "500ms";
    yaml.deployments = {{.package = rig_.Path("pkg"), .raise_after = 2, .clear_after = 2}};
    // A small cap makes samples.db checkpoint every second or two (its WAL is synced only
    // then, at kCheckpointBytes): the cuts land before, during and after checkpoints.
    yaml.retention = "7d";
    std::string text = yaml.Text();
    const size_t storage = text.find("storage:\n");
    if (storage == std::string::npos) {
      error_ = "no storage section in the configuration";
      return;
    }
    text.insert(storage + 9, "  max_size: 4MiB\n");
    config_ = rig_.dir().Write("agent.yaml", text);
    data_dir_ = rig_.Path("data");
    rig_.Subscribe("plant1/+/alarms/#", {"-q", "1", "-c", "-i", "power-loss-sub"});
  }

  static constexpr int kBallastTags = 100;
  // storage.max_size / 16 (storage/sample_writer.cc): the WAL size that triggers a checkpoint.
  static constexpr int64_t kCheckpointBytes = (4 << 20) / 16;
  const std::string& error() const { return error_; }
  const fs::path& data_dir() const { return data_dir_; }
  fs::path Scratch(const std::string& name) const { return rig_.Path(name); }
  std::unique_ptr<Subprocess> StartAgent(Env env = {}) {
    return edge::testing::StartAgent(config_, {.env = std::move(env)});
  }
  std::vector<json> Received() const { return AlarmsOnAnyTopic(rig_.sub().Received()); }

 private:
  EndToEndRig rig_;
  fs::path config_;
  fs::path data_dir_;
  std::string error_;
};

// Over all cuts.
struct CutTotals {
  int cuts = 0;
  int not_cut = 0;  // the agent reached no cut point in time (killed by the test instead)
  int intact = 0;
  std::vector<std::string> faults;  // integrity, moved-aside files, not-a-tail, per cut
  int64_t readings_lost = 0;
  int64_t readings_lost_max = 0;
  double seconds_lost_max = 0;
  int64_t readings_reported = 0;  // the agents' own "samples committed", summed
  int64_t wal_bytes_lost = 0;     // samples.db-wal bytes the cuts dropped
  int64_t wal_bytes_lost_max = 0;
  int during_checkpoint = 0;  // cuts that dropped writes to samples.db itself
  size_t undeleted = 0;
  size_t alarms_in_flight = 0;
  std::vector<std::string> in_flight_payloads;
};

// One cycle: the agent with the shim, cut at a random write or sync, then the checks.
void CutOnce(PowerLossRig& rig, std::mt19937& random, int cycle, CutTotals& totals) {
  const fs::path snapshot = rig.Scratch("snapshot");
  fs::remove_all(snapshot);
  fs::create_directories(snapshot);
  // From 0: some cuts land in the agent's start; the first one while it creates its files.
  std::uniform_int_distribution<long> after_ms(0, 2500);
  std::uniform_int_distribution<long> at(1, 60);
  std::unique_ptr<Subprocess> agent = rig.StartAgent(
      PowerCutEnv(rig.data_dir(), at(random), cycle == 1 ? 0 : after_ms(random), snapshot));
  const std::optional<int> status = agent->Wait(seconds(8));
  const std::string log = agent->Stderr();
  if (!status.has_value() || log.find("power-cut: at call") == std::string::npos) {
    ++totals.not_cut;  // a run that never reached its call: SIGKILL it, which proves less
    std::printf("cut %d: not reached (exit %s); the agent's log:\n%s\n", cycle,
                status.has_value() ? std::to_string(*status).c_str() : "none",
                log.substr(log.size() > 2000 ? log.size() - 2000 : 0).c_str());
    agent->Signal(SIGKILL);
    (void)agent->Wait(seconds(5));
    return;
  }
  ++totals.cuts;
  EXPECT_EQ(*status, 128 + SIGKILL) << log;
  totals.readings_reported += LastReportedCommitted(log);
  // A file the cut came before is not damaged.
  const auto integrity = [&](const std::string& name) {
    const fs::path file = rig.data_dir() / name;
    return fs::exists(file) ? storage::testing::IntegrityCheck(file.string()) : "ok";
  };
  const std::string samples = integrity("samples.db");
  const std::string outbox = integrity("outbox.db");
  const std::vector<std::string> aside = MovedAside(rig.data_dir());
  std::string fault;
  if (samples != "ok" || outbox != "ok") {
    fault += fmt::format(" samples.db: {}, outbox.db: {};", samples, outbox);
  }
  if (!aside.empty()) fault += fmt::format(" moved aside: {};", fmt::join(aside, ","));
  const Stored cache = ReadStored(snapshot);
  const Stored disk = ReadStored(rig.data_dir());
  if (!cache.error.empty() || !disk.error.empty()) {
    fault += fmt::format(" cannot read: {} {};", cache.error, disk.error);
  }
  const CutLoss loss = CompareCut(cache, disk);
  fault += loss.not_a_tail;
  if (fault.empty()) {
    ++totals.intact;
  } else {
    totals.faults.push_back(fmt::format("cut {}:{}", cycle, fault));
  }
  totals.readings_lost += loss.readings;
  totals.readings_lost_max = std::max(totals.readings_lost_max, loss.readings);
  totals.seconds_lost_max = std::max(totals.seconds_lost_max, loss.seconds);
  totals.alarms_in_flight += loss.alarms;
  totals.in_flight_payloads.insert(totals.in_flight_payloads.end(),
                                   loss.lost_alarm_payloads.begin(),
                                   loss.lost_alarm_payloads.end());
  const std::string cut_line = log.substr(log.find("power-cut: at call"));
  std::smatch bytes;
  if (std::regex_search(cut_line, bytes, std::regex("samples\\.db-wal: ([0-9]+)"))) {
    totals.wal_bytes_lost += std::stoll(bytes[1].str());
    totals.wal_bytes_lost_max =
        std::max<int64_t>(totals.wal_bytes_lost_max, std::stoll(bytes[1].str()));
  }
  // The main file changes only in a checkpoint: a cut that drops some of it fell inside one.
  totals.during_checkpoint +=
      std::regex_search(cut_line, bytes, std::regex("samples\\.db: ([0-9]+)")) ? 1 : 0;
  totals.undeleted += loss.undeleted;
  std::printf("cut %d: %s  lost %lld readings, %.2f s, %zu alarms in flight\n", cycle,
              cut_line.substr(0, cut_line.find('\n')).c_str(),
              static_cast<long long>(loss.readings), loss.seconds, loss.alarms);
  std::fflush(stdout);
}

TEST(PowerLoss, CutsLoseNoCommittedAlarmAndOnlyTheUnsyncedTailOfSamples) {
  const int cycles = [] {
    const char* value = std::getenv("EDGE_POWER_CUT_CYCLES");
    return value != nullptr && *value != '\0' ? std::atoi(value) : Pick(10, 100);
  }();
  ASSERT_GT(cycles, 0) << "EDGE_POWER_CUT_CYCLES: expected a positive number";
  PowerLossRig rig;
  ASSERT_EQ(rig.error(), "");
  std::mt19937 random(std::random_device{}());
  const char* seed_env = std::getenv("EDGE_POWER_CUT_SEED");  // to draw a run's points again
  const unsigned seed =
      seed_env != nullptr ? static_cast<unsigned>(std::stoul(seed_env)) : random();
  random.seed(seed);
  std::printf("cut points drawn with seed %u\n", seed);
  std::fflush(stdout);  // before the agents are forked

  CutTotals totals;
  for (int i = 1; i <= cycles; ++i) CutOnce(rig, random, i, totals);

  // A last run with power on delivers whatever the cuts left in the outbox.
  std::unique_ptr<Subprocess> agent = rig.StartAgent();
  ASSERT_TRUE(agent->WaitForOutput("upstream: connected", seconds(20))) << agent->Stderr();
  std::this_thread::sleep_for(seconds(2));
  std::map<uint64_t, std::string> committed;
  std::vector<json> received;
  const auto all_delivered = [&] {
    committed = ReadStored(rig.data_dir()).alarms;
    received = rig.Received();
    std::set<uint64_t> seen;
    for (const json& alarm : received) seen.insert(alarm.value("seq", uint64_t{0}));
    return !committed.empty() && std::all_of(committed.begin(), committed.end(),
                                             [&](auto& c) { return seen.count(c.first) != 0; });
  };
  const bool delivered = Eventually(all_delivered, seconds(30));
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(seconds(30)), 0) << agent->Stderr();

  // Every reception is the alarm stored under its seq: no seq was reused for another alarm.
  size_t mismatched = 0;
  size_t in_flight_received = 0;
  for (const json& alarm : received) {
    const auto it = committed.find(alarm.value("seq", uint64_t{0}));
    mismatched += it == committed.end() || json::parse(it->second, nullptr, false) != alarm;
    for (const std::string& lost : totals.in_flight_payloads) {
      in_flight_received += json::parse(lost, nullptr, false) == alarm;
    }
  }
  const std::string scenario = "power cut";
  RecordFigure(scenario, "cuts at a random write or sync (runs that reached none: killed)",
               fmt::format("{} of {} ({} not reached)", totals.cuts, cycles, totals.not_cut),
               fmt::format(">= {}", cycles * 8 / 10), totals.cuts >= cycles * 8 / 10);
  RecordFigure(
      scenario, "integrity_check ok, nothing moved aside, samples.db a prefix of the page cache",
      fmt::format(
          "{} of {}{}", totals.intact, totals.cuts,
          totals.faults.empty() ? "" : " — " + fmt::format("{}", fmt::join(totals.faults, "; "))),
      "all", totals.intact == totals.cuts);
  RecordFigure(
      scenario, "committed alarms delivered after the cuts",
      fmt::format("{} committed, all delivered: {}", committed.size(), delivered ? "yes" : "no"),
      "all, >= 1 per 2 cuts",
      delivered && committed.size() >= static_cast<size_t>(totals.cuts / 2));
  RecordFigure(scenario, "receptions that are not the alarm stored under their seq",
               fmt::format("{} of {}", mismatched, received.size()), "0", mismatched == 0);
  RecordFigure(scenario, "alarms in a commit the cut interrupted (never published)",
               fmt::format("{} ({} received)", totals.alarms_in_flight, in_flight_received),
               "none received", in_flight_received == 0);
  RecordFigure(scenario,
               "samples.db: readings lost per cut, max (total / reported committed by the agents)",
               fmt::format("{} ({} / {})", totals.readings_lost_max, totals.readings_lost,
                           totals.readings_reported),
               "the unsynced tail (recorded)", true);
  RecordFigure(scenario, "samples.db: unsynced WAL bytes dropped by one cut, max",
               fmt::format("{} ({} cuts inside a checkpoint, {} chunks undeleted)",
                           totals.wal_bytes_lost_max, totals.during_checkpoint, totals.undeleted),
               fmt::format("<= 2 x the checkpoint size ({})", 2 * PowerLossRig::kCheckpointBytes),
               totals.wal_bytes_lost_max <= 2 * PowerLossRig::kCheckpointBytes);
  RecordFigure(scenario, "samples.db: time span of the readings lost by one cut, max",
               fmt::format("{:.1f} s", totals.seconds_lost_max), "(recorded)", true);
  // What sets the worst case: the WAL is synced only at a checkpoint (storage.max_size / 16).
  RecordFigure(scenario, "samples.db: unsynced WAL bytes per reading lost",
               totals.readings_lost > 0 ? fmt::format("{:.0f} ({} bytes)",
                                                      static_cast<double>(totals.wal_bytes_lost) /
                                                          static_cast<double>(totals.readings_lost),
                                                      totals.wal_bytes_lost)
                                        : "-",
               "(recorded)", true);
}

}  // namespace
}  // namespace edge::testing
