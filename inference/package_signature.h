// Ed25519 signatures of model package manifests (DESIGN §5, §7), with OpenSSL.
//
// A package's `manifest.json.sig` is the base64 of the Ed25519 signature of the exact bytes of
// `manifest.json`. Keys are PEM files as `openssl genpkey -algorithm ed25519` makes them: PKCS#8
// for the private key, SubjectPublicKeyInfo for the public one. The agent checks the signature
// with its trusted keys before it parses anything else of a package, so that nothing an attacker
// wrote reaches the JSON parser, let alone the ONNX loader.
//
// Thread-safety: a loaded key is immutable and may be used from several threads.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace edge::inference {

struct EvpPkeyFree {
  void operator()(evp_pkey_st* key) const;
};
using EvpPkey = std::unique_ptr<evp_pkey_st, EvpPkeyFree>;

// Writes a fresh key pair. The private key file is created with mode 0600 and never overwrites an
// existing file (AlreadyExists), nor does the public one.
[[nodiscard]] Status GenerateKeyPair(const std::string& private_path,
                                     const std::string& public_path);

class SigningKey {
 public:
  // InvalidArgument naming the file if it is not an Ed25519 private key in PEM.
  [[nodiscard]] static StatusOr<SigningKey> Load(const std::string& path);
  // Base64 of the 64-byte signature of `message`.
  std::string SignBase64(std::string_view message) const;

 private:
  EvpPkey key_;
};

class VerifyingKey {
 public:
  // InvalidArgument naming the file if it is not an Ed25519 public key in PEM.
  [[nodiscard]] static StatusOr<VerifyingKey> Load(const std::string& path);
  // True only if `signature_base64` (surrounding whitespace allowed) is a valid signature of
  // `message` by this key.
  bool Verify(std::string_view message, std::string_view signature_base64) const;
  const std::string& path() const { return path_; }

 private:
  EvpPkey key_;
  std::string path_;
};

// OK if any of `keys` verifies the signature; otherwise InvalidArgument saying so, naming
// `what` (e.g. the manifest's path or URL) and how many keys were tried.
[[nodiscard]] Status VerifyWithAnyKey(std::span<const VerifyingKey> keys, std::string_view message,
                                      std::string_view signature_base64, std::string_view what);

// PackageOptions::verify_manifest for LoadModelPackage: <dir>/manifest.json.sig must verify
// manifest.json's exact bytes with one of `keys` (which must outlive the returned function).
std::function<Status(const std::filesystem::path& dir, std::string_view manifest_bytes)>
SignatureCheck(std::span<const VerifyingKey> keys);

}  // namespace edge::inference
