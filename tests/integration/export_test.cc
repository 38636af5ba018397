// `edge-agent export` (DESIGN §4) as users run it: CSV on stdout from gateway.data_dir/samples.db,
// while another process holds the agent lock and an open write transaction on the database
// (the daemon running). The database is written here by an independent implementation of the
// documented layout (storage/sample_db.h, storage/chunk_codec.h) in Python's sqlite3 module, so
// this test also pins that layout.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/e2e_rig.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// Writes samples.db in schema version 2 with NOW_S = the second given on the command line:
//   pump1.pressure: now-20m 1.5 good; now-5m 2.25 bad, now-1m -3 good (a chunk of two: a chunk
//                   spans less than 10 minutes)
//   pump1.flow:     now-2m 1e-05 good; now-1m nan good
// then takes the agent lock, starts a write transaction with one uncommitted sample (must not be
// exported), prints "holding" and sleeps until killed.
constexpr const char* kWriter = R"py(
import fcntl, os, sqlite3, struct, sys, time
data_dir, now_s = sys.argv[1], int(sys.argv[2])
lock = open(os.path.join(data_dir, "agent.lock"), "w")
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
db = sqlite3.connect(os.path.join(data_dir, "samples.db"), isolation_level=None)
db.executescript("""
PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL;
CREATE TABLE tag(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE chunk(id INTEGER PRIMARY KEY, tag_id INTEGER NOT NULL, start_us INTEGER NOT NULL,
  end_us INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX chunk_by_tag_start ON chunk(tag_id, start_us);
PRAGMA user_version = 2;
INSERT INTO tag(id, name) VALUES (1, 'pump1.pressure'), (2, 'pump1.flow');
""")
def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)
def chunk(samples):  # [(ts_us, value, bad)]
    blob, prev = b"", 0
    for ts, value, bad in samples:
        d = ts - prev
        zz = (d << 1) ^ (d >> 63)
        blob += varint(((zz << 1) | bad) & ((1 << 64) - 1)) + struct.pack("<d", value)
        prev = ts
    return blob
def put(tag, samples):
    db.execute("INSERT INTO chunk(tag_id, start_us, end_us, n, data) VALUES (?, ?, ?, ?, ?)",
               (tag, samples[0][0], max(s[0] for s in samples), len(samples), chunk(samples)))
us = now_s * 1000000
db.execute("BEGIN")
put(1, [(us - 1200_000000 + 123456, 1.5, 0)])
put(1, [(us - 300_000000, 2.25, 1), (us - 60_000000, -3.0, 0)])
put(2, [(us - 120_000000, 1e-05, 0)])
put(2, [(us - 60_000000 + 1000, float("nan"), 0)])
db.execute("COMMIT")
db.execute("BEGIN IMMEDIATE")
put(1, [(us - 30_000000, 99.0, 0)])
print("holding", flush=True)
time.sleep(600)
)py";

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = dir_.path() / "data";
    fs::create_directories(data_dir_);
    config_ = dir_.Write("agent.yaml",
                         AgentYaml{.gateway_id = "test-gw", .data_dir = data_dir_.string()}.Text());
    now_s_ =
        std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
  }
  void StartWriter() {
    const fs::path script = dir_.Write("writer.py", kWriter);
    writer_.emplace(SubprocessOptions{
        .argv = {"python3", script.string(), data_dir_.string(), std::to_string(now_s_)}});
    ASSERT_TRUE(writer_->WaitForOutput("holding", seconds(30))) << writer_->Stderr();
  }
  CommandResult Export(std::vector<std::string> args) {
    args.insert(args.begin(), {"export", "--config", config_.string()});
    return RunAgent(args);
  }
  // RFC 3339 with milliseconds of now - `ago_us` (UTC), via date(1) as an independent formatter.
  std::string Ts(int64_t ago_us) {
    const int64_t us = now_s_ * 1000000 - ago_us;
    const int64_t s = us / 1000000;
    const int64_t ms = (us % 1000000) / 1000;
    CommandResult r =
        RunCommand({.argv = {"date", "-u", "-d", "@" + std::to_string(s), "+%Y-%m-%dT%H:%M:%S"}});
    std::string text = r.out.substr(0, r.out.find('\n'));
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03lldZ", static_cast<long long>(ms));
    return text + frac;
  }

  ScratchDir dir_;
  fs::path data_dir_;
  fs::path config_;
  int64_t now_s_ = 0;
  std::optional<Subprocess> writer_;
};

TEST_F(ExportTest, WritesEveryCommittedSampleAsCsvWhileTheDatabaseIsInUse) {
  StartWriter();
  const CommandResult r = Export({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string expected = "ts,tag,value,quality\n" +                    //
                               Ts(120000000) + ",pump1.flow,1e-05,good\n" +  //
                               Ts(60000000 - 1000) + ",pump1.flow,nan,good\n" +
                               Ts(1200000000 - 123456) + ",pump1.pressure,1.5,good\n" +
                               Ts(300000000) + ",pump1.pressure,2.25,bad\n" + Ts(60000000) +
                               ",pump1.pressure,-3,good\n";
  EXPECT_EQ(r.out, expected);
}

TEST_F(ExportTest, FiltersByTagsAndByAbsoluteAndRelativeTimes) {
  StartWriter();
  CommandResult r = Export({"--tags", "pump1.pressure", "--from", "-10m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ts,tag,value,quality\n" + Ts(300000000) + ",pump1.pressure,2.25,bad\n" +
                       Ts(60000000) + ",pump1.pressure,-3,good\n");

  // Inclusive bounds in RFC 3339.
  r = Export(
      {"--tags", "pump1.flow,pump1.pressure", "--from", Ts(300000000), "--to", Ts(120000000)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ts,tag,value,quality\n" + Ts(120000000) + ",pump1.flow,1e-05,good\n" +
                       Ts(300000000) + ",pump1.pressure,2.25,bad\n");

  r = Export({"--from", "-30m", "--to", "-15m"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ts,tag,value,quality\n" + Ts(1200000000 - 123456) + ",pump1.pressure,1.5,good\n");
}

TEST_F(ExportTest, BadArgumentsAreBadUsageNamingTheFault) {
  StartWriter();
  CommandResult r = Export({"--from", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--from 'yesterday'"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  r = Export({"--to", "-10 parsecs"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--to '-10 parsecs'"), std::string::npos) << r.err;

  r = Export({"--tags", "no.such.tag"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no tag 'no.such.tag'"), std::string::npos) << r.err;

  r = Export({"--from", "-1m", "--to", "-2m"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is after --to"), std::string::npos) << r.err;

  r = RunAgent({"export", "--config", (dir_.path() / "missing.yaml").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.yaml"), std::string::npos) << r.err;
}

TEST_F(ExportTest, NoDatabaseYetIsARuntimeFailureNamingTheFile) {
  const CommandResult r = Export({});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find((data_dir_ / "samples.db").string()), std::string::npos) << r.err;
}

}  // namespace
}  // namespace edge::testing
