#include "config/file_checks.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "tests/support/test_files.h"

namespace edge::config {
namespace {

namespace fs = std::filesystem;
using edge::testing::ScratchDir;

std::string Fault(const Status& s) {
  EXPECT_FALSE(s.ok());
  return s.message();
}

TEST(ResolvePath, RelativePathsStartAtTheBaseDirectory) {
  EXPECT_EQ(ResolvePath("/etc/edge-agent", "keys/../mqtt.pass"), "/etc/edge-agent/mqtt.pass");
  EXPECT_EQ(ResolvePath("/etc/edge-agent", "/var/lib/./x"), "/var/lib/x");
}

TEST(CheckReadableFile, ExplainsWhyAFileCannotBeUsed) {
  ScratchDir dir;
  const std::string file = dir.Write("ca.pem", "x").string();
  EXPECT_TRUE(CheckReadableFile("ca.pem", file).ok());
  EXPECT_EQ(Fault(CheckReadableFile("missing.pem", (dir.path() / "missing.pem").string())),
            "cannot read 'missing.pem': no such file or directory (relative paths start at the "
            "configuration file's directory)");
  EXPECT_EQ(Fault(CheckReadableFile(dir.path().string(), dir.path().string())),
            "cannot read '" + dir.path().string() + "': is a directory, not a regular file");
}

TEST(CheckSecretFile, RefusesAFileEveryUserMayRead) {
  ScratchDir dir;
  const fs::path file = dir.Write("mqtt.pass", "secret\n");
  fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  EXPECT_TRUE(CheckSecretFile("mqtt.pass", file.string()).ok());
  fs::permissions(file, fs::perms::others_read, fs::perm_options::add);
  EXPECT_EQ(Fault(CheckSecretFile("mqtt.pass", file.string())),
            "'mqtt.pass' is readable by every user (mode 0644); chmod 600 or 640 it");
}

TEST(CheckPackageDir, NeedsADirectoryWithAManifest) {
  ScratchDir dir;
  const fs::path file = dir.Write("pkg/model.onnx", "x");
  EXPECT_EQ(Fault(CheckPackageDir("pkg", (dir.path() / "pkg").string())),
            "'pkg' has no readable manifest.json; is it a model package?");
  dir.Write("pkg/manifest.json", "{}");
  EXPECT_TRUE(CheckPackageDir("pkg", (dir.path() / "pkg").string()).ok());
  EXPECT_EQ(Fault(CheckPackageDir("/x/model.onnx", file.string())),
            "cannot read '/x/model.onnx': not a directory");
}

TEST(CheckPublicKeyFile, CatchesAPrivateKeyGivenByMistake) {
  ScratchDir dir;
  const fs::path pub = dir.Write("repo.pub", "-----BEGIN PUBLIC KEY-----\nAAAA\n");
  const fs::path key = dir.Write("repo.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n");
  const fs::path cert = dir.Write("ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
  EXPECT_TRUE(CheckPublicKeyFile("repo.pub", pub.string()).ok());
  EXPECT_EQ(Fault(CheckPublicKeyFile("repo.key", key.string())),
            "'repo.key' is a private key; give the public key (keep the private one off the line "
            "PC)");
  EXPECT_EQ(Fault(CheckPublicKeyFile("ca.pem", cert.string())),
            "'ca.pem' is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
}

TEST(ErrnoText, IsLowercasedForUseInsideAMessage) {
  EXPECT_EQ(ErrnoText(ENOENT), "no such file or directory");
}

}  // namespace
}  // namespace edge::config
