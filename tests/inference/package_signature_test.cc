// Ed25519 manifest signatures, checked against the openssl command-line tool as the independent
// implementation: keys it makes load here, signatures made here verify there, and the other way.
#include "inference/package_signature.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_files.h"

namespace edge::inference {
namespace {

namespace fs = std::filesystem;
using edge::testing::CommandResult;
using edge::testing::ReadFile;
using edge::testing::RunCommand;
using edge::testing::ScratchDir;

const fs::path kSourceDir = EDGE_SOURCE_DIR;
const std::string kManifest = R"({"name":"pump-anomaly","version":"1.4.0"})";

void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult r = RunCommand({.argv = argv});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

void Write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

TEST(PackageSignature, KeygenWritesAPrivateKeyOnlyTheOwnerCanRead) {
  ScratchDir dir;
  const std::string priv = (dir.path() / "k.pem").string(), pub = (dir.path() / "k.pub").string();
  ASSERT_TRUE(GenerateKeyPair(priv, pub).ok());
  struct stat st {};
  ASSERT_EQ(::stat(priv.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(ReadFile(priv).find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_NE(ReadFile(pub).find("BEGIN PUBLIC KEY"), std::string::npos);
  // Never overwrites a key: losing a signing key would orphan every gateway that trusts it.
  const Status again = GenerateKeyPair(priv, (dir.path() / "other.pub").string());
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.message();
  EXPECT_NE(again.message().find(priv), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "other.pub"));
}

TEST(PackageSignature, SignsAndVerifiesAndRefusesAnyChange) {
  ScratchDir dir;
  const std::string priv = (dir.path() / "k.pem").string(), pub = (dir.path() / "k.pub").string();
  ASSERT_TRUE(GenerateKeyPair(priv, pub).ok());
  StatusOr<SigningKey> signer = SigningKey::Load(priv);
  StatusOr<VerifyingKey> verifier = VerifyingKey::Load(pub);
  ASSERT_TRUE(signer.ok() && verifier.ok());
  const std::string sig = signer->SignBase64(kManifest);
  EXPECT_EQ(sig.size(), 88u);
  EXPECT_TRUE(verifier->Verify(kManifest, sig));
  EXPECT_TRUE(verifier->Verify(kManifest, sig + "\n"));  // as a file with a final newline
  std::string edited = kManifest;
  edited[edited.find("1.4.0")] = '2';
  EXPECT_FALSE(verifier->Verify(edited, sig));
  std::string flipped = sig;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifier->Verify(kManifest, flipped));
  EXPECT_FALSE(verifier->Verify(kManifest, ""));
  EXPECT_FALSE(verifier->Verify(kManifest, "not base64 at all"));
  EXPECT_FALSE(verifier->Verify(kManifest, sig.substr(0, 44)));
}

TEST(PackageSignature, AnotherKeyDoesNotVerify) {
  ScratchDir dir;
  const fs::path d = dir.path();
  ASSERT_TRUE(GenerateKeyPair((d / "a.pem").string(), (d / "a.pub").string()).ok());
  ASSERT_TRUE(GenerateKeyPair((d / "b.pem").string(), (d / "b.pub").string()).ok());
  const std::string sig = SigningKey::Load((d / "a.pem").string())->SignBase64(kManifest);
  std::vector<VerifyingKey> trusted;
  trusted.push_back(*VerifyingKey::Load((d / "b.pub").string()));
  const Status refused = VerifyWithAnyKey(trusted, kManifest, sig, "repo/pump/1.0.0/manifest.json");
  EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.message(),
            "repo/pump/1.0.0/manifest.json: the signature does not verify with 1 trusted key");
  trusted.push_back(*VerifyingKey::Load((d / "a.pub").string()));
  EXPECT_TRUE(VerifyWithAnyKey(trusted, kManifest, sig, "m").ok());
  EXPECT_FALSE(VerifyWithAnyKey({}, kManifest, sig, "m").ok());
}

TEST(PackageSignature, InteroperatesWithTheOpensslTool) {
  ScratchDir dir;
  const fs::path d = dir.path();
  Write(d / "manifest.json", kManifest);
  // A key pair made by openssl signs; we verify.
  Openssl({"genpkey", "-algorithm", "ed25519", "-out", (d / "o.pem").string()});
  Openssl({"pkey", "-in", (d / "o.pem").string(), "-pubout", "-out", (d / "o.pub").string()});
  Openssl({"pkeyutl", "-sign", "-rawin", "-inkey", (d / "o.pem").string(), "-in",
           (d / "manifest.json").string(), "-out", (d / "sig.bin").string()});
  Openssl({"base64", "-A", "-in", (d / "sig.bin").string(), "-out",
           (d / "manifest.json.sig").string()});
  StatusOr<VerifyingKey> theirs = VerifyingKey::Load((d / "o.pub").string());
  ASSERT_TRUE(theirs.ok()) << theirs.status().message();
  EXPECT_TRUE(theirs->Verify(kManifest, ReadFile(d / "manifest.json.sig")));
  // Our key pair signs; openssl verifies.
  ASSERT_TRUE(GenerateKeyPair((d / "e.pem").string(), (d / "e.pub").string()).ok());
  Write(d / "ours.sig", SigningKey::Load((d / "e.pem").string())->SignBase64(kManifest));
  Openssl(
      {"base64", "-d", "-A", "-in", (d / "ours.sig").string(), "-out", (d / "ours.bin").string()});
  Openssl({"pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", (d / "e.pub").string(), "-in",
           (d / "manifest.json").string(), "-sigfile", (d / "ours.bin").string()});
}

TEST(PackageSignature, RefusesFilesThatAreNotEd25519KeysByName) {
  ScratchDir dir;
  const fs::path d = dir.path();
  Openssl({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
           (d / "ec.pem").string()});
  Openssl({"pkey", "-in", (d / "ec.pem").string(), "-pubout", "-out", (d / "ec.pub").string()});
  Write(d / "junk.pub", "hello\n");
  const Status ec = VerifyingKey::Load((d / "ec.pub").string()).status();
  EXPECT_EQ(ec.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ec.message().find("ec.pub: not an Ed25519 public key"), std::string::npos)
      << ec.message();
  const Status junk = VerifyingKey::Load((d / "junk.pub").string()).status();
  EXPECT_NE(junk.message().find("junk.pub: not an Ed25519 public key in PEM"), std::string::npos)
      << junk.message();
  const Status priv = SigningKey::Load((d / "ec.pem").string()).status();
  EXPECT_NE(priv.message().find("not an Ed25519 private key"), std::string::npos) << priv.message();
  const Status missing = VerifyingKey::Load((d / "nope.pub").string()).status();
  EXPECT_NE(missing.message().find("nope.pub: cannot open"), std::string::npos);
  // The key shipped with the example configuration is a real Ed25519 public key.
  EXPECT_TRUE(VerifyingKey::Load((kSourceDir / "config/examples/keys/repo.pub").string()).ok());
}

}  // namespace
}  // namespace edge::inference
