// The data directory (issue #23 items 11 and 12) on real directories: a new one is created 0750,
// an existing one is never chmod'ed, one that is not plausibly the agent's (shared 1777, group-
// writable, a symlink, another user's, a system path) is refused with exit code 2; the lock
// holds against a second agent also after the directory was deleted and re-created; deleting or
// replacing the directory or a database in it is noticed and fails /health.
#include "agent/data_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <optional>
#include <fstream>
#include <string>

#include "agent/metrics.h"
#include "tests/support/eventually.h"
#include "tests/support/http_get.h"
#include "tests/support/mosquitto_broker.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::agent {
namespace {

namespace fs = std::filesystem;
using edge::testing::ScratchDir;

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// Open must refuse `path` with exit code 2, naming the key and `fault`.
void ExpectRefused(const std::string& path, const std::string& fault) {
  StatusOr<DataDirectory> d = DataDirectory::Open(path);
  ASSERT_FALSE(d.ok()) << path;
  EXPECT_EQ(d.status().ExitCode(), 2) << d.status().ToString();
  EXPECT_NE(d.status().message().find("gateway.data_dir"), std::string::npos)
      << d.status().message();
  EXPECT_NE(d.status().message().find(fault), std::string::npos) << d.status().message();
}

TEST(DataDirectory, ANewDirectoryIsCreatedForTheAgentAndAnExistingOneIsNotChmodded) {
  ScratchDir scratch;
  const fs::path fresh = scratch.path() / "parent" / "data";
  {
    StatusOr<DataDirectory> d = DataDirectory::Open(fresh.string());
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(ModeOf(fresh), 0750u);
    EXPECT_TRUE(fs::exists(fresh / "agent.lock"));
  }
  const fs::path own = scratch.path() / "own";
  ASSERT_EQ(mkdir(own.c_str(), 0700), 0);
  StatusOr<DataDirectory> d = DataDirectory::Open(own.string());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(ModeOf(own), 0700u);
}

TEST(DataDirectory, ADirectoryThatIsNotPlausiblyOursIsRefusedAndLeftAsItIs) {
  ScratchDir scratch;
  const fs::path shared = scratch.path() / "shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0700), 0);
  ASSERT_EQ(chmod(shared.c_str(), 01777), 0);
  ExpectRefused(shared.string(), "writable by every user (mode 1777)");
  EXPECT_EQ(ModeOf(shared), 01777u);
  EXPECT_TRUE(fs::is_empty(shared));  // no agent.lock, nothing

  const fs::path group = scratch.path() / "group";
  ASSERT_EQ(mkdir(group.c_str(), 0700), 0);
  ASSERT_EQ(chmod(group.c_str(), 0770), 0);
  ExpectRefused(group.string(), "writable by its group (mode 0770)");

  const fs::path mine = scratch.path() / "mine";
  ASSERT_EQ(mkdir(mine.c_str(), 0750), 0);
  const fs::path link = scratch.path() / "link";
  fs::create_symlink(mine, link);
  ExpectRefused(link.string(), "symbolic link");
  ExpectRefused((link / "").string(), "symbolic link");  // a trailing slash: still the link
  EXPECT_TRUE(fs::is_empty(mine));

  const fs::path file = scratch.path() / "file";
  std::ofstream(file) << "x";
  ExpectRefused(file.string(), "not a directory");

  for (const char* system : {"/", "/etc", "/tmp/", "/var/../tmp", "/usr", "/var", "/home"}) {
    ExpectRefused(system, "is a system directory");
  }
  ExpectRefused("", "is empty");
}

TEST(DataDirectory, ADirectoryOfAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a directory to another user";
  ScratchDir scratch;
  const fs::path theirs = scratch.path() / "theirs";
  ASSERT_EQ(mkdir(theirs.c_str(), 0750), 0);
  ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);  // nobody
  ExpectRefused(theirs.string(), "owned by uid 65534");
}

TEST(DataDirectory, ASecondAgentIsRefusedAlsoOnADeletedAndRecreatedPath) {
  ScratchDir scratch;
  const fs::path dir = scratch.path() / "data";
  StatusOr<DataDirectory> first = DataDirectory::Open(dir.string());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  StatusOr<DataDirectory> second = DataDirectory::Open(dir.string());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another edge-agent"), std::string::npos);

  // The first agent's directory is deleted and made again: its agent.lock went with it.
  fs::remove_all(dir);
  ASSERT_EQ(mkdir(dir.c_str(), 0750), 0);
  second = DataDirectory::Open(dir.string());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("deleted and re-created"), std::string::npos)
      << second.status().message();
  // The same path spelled otherwise is the same name.
  EXPECT_FALSE(DataDirectory::Open((scratch.path() / "." / "data" / "").string()).ok());

  { DataDirectory gone = std::move(*first); }  // the first agent stops: both locks are free
  EXPECT_TRUE(DataDirectory::Open(dir.string()).ok());
}

TEST(DataDirWatch, NoticesADeletedOrReplacedDirectoryOrDatabase) {
  ScratchDir scratch;
  const fs::path dir = scratch.path() / "data";
  ASSERT_EQ(mkdir(dir.c_str(), 0750), 0);
  const fs::path db = dir / "samples.db";
  std::ofstream(db) << "x";
  const DataDirWatch watch = DataDirWatch::Take(dir.string(), {db.string()});
  EXPECT_EQ(watch.Check(), "");
  fs::rename(db, dir / "moved");
  std::ofstream(db) << "y";  // the path is back, another file
  EXPECT_NE(watch.Check().find("samples.db\" was replaced"), std::string::npos) << watch.Check();
  fs::remove(db);
  EXPECT_NE(watch.Check().find("samples.db\" was deleted"), std::string::npos) << watch.Check();
  fs::remove_all(dir);
  ASSERT_EQ(mkdir(dir.c_str(), 0750), 0);
  // The new directory may even get the old one's inode number (a freed inode is reused); the
  // database's cannot be reused while the agent holds it open, so the watch still sees it.
  EXPECT_NE(watch.Check(), "");

  // /health fails with the reason, and the gauge says so.
  PipelineSnapshot snap;
  snap.data_dir_problem = watch.Check();
  const Health h = AssessHealth(snap, "");
  EXPECT_FALSE(h.ok());
  ASSERT_EQ(h.problems.size(), 1u);
  EXPECT_EQ(h.problems[0], snap.data_dir_problem);
  EXPECT_NE(PrometheusText(snap, "0.1.0").find("edge_data_dir_ok 0\n"), std::string::npos);
}

TEST(DataDirectory, DeletingItUnderTheRunningAgentFailsHealthAndKeepsASecondAgentOut) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  ScratchDir scratch;
  const fs::path data = scratch.path() / "data";
  const int port = edge::testing::FreeLoopbackPort();
  const fs::path config = scratch.Write(
      "agent.yaml", "gateway:\n  id: gw1\n  data_dir: " + data.string() +
                        "\nhttp:\n  listen: 127.0.0.1:" + std::to_string(port) + "\n");
  edge::testing::Subprocess agent(
      {.argv = {EDGE_AGENT_BINARY, "run", "--config", config.string()}});
  auto health = [&] { return edge::testing::HttpGet(port, "/health", seconds(2)); };
  ASSERT_TRUE(edge::testing::Eventually([&] { return health().status == 200; }, seconds(10)))
      << agent.Stderr();

  fs::remove_all(data);
  ASSERT_TRUE(edge::testing::Eventually([&] { return health().status == 503; }, seconds(5),
                                        milliseconds(50)));
  const edge::testing::HttpReply reply = health();
  EXPECT_NE(reply.body.find("was deleted while the agent runs"), std::string::npos) << reply.body;
  EXPECT_TRUE(agent.WaitForOutput("data directory: ", seconds(5))) << agent.Stderr();

  // A second agent on the same path, which its start would create again, is refused.
  edge::testing::Subprocess second(
      {.argv = {EDGE_AGENT_BINARY, "run", "--config", config.string()}});
  const std::optional<int> rc = second.Wait(milliseconds(10000));
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 0);
  EXPECT_NE(second.Stderr().find("in use by another edge-agent"), std::string::npos)
      << second.Stderr();
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(milliseconds(10000)), std::optional<int>(0));
}

}  // namespace
}  // namespace edge::agent
