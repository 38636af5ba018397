#include "inference/package_signature.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>

#include "core/file_util.h"

namespace edge::inference {
namespace {

constexpr size_t kSignatureBytes = 64;

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  return text;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// Creates `path` exclusively with `mode` and writes `pem` with the given writer.
Status WriteNewPem(const std::string& path, mode_t mode,
                   const std::function<int(std::FILE*)>& write) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return Status::AlreadyExists(fmt::format("{}: already exists", path));
    return Status::IoError(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  }
  File f(::fdopen(fd, "w"));
  if (f == nullptr) {
    ::close(fd);
    return Status::IoError(fmt::format("{}: {}", path, std::strerror(errno)));
  }
  if (write(f.get()) != 1 || std::fflush(f.get()) != 0 || ::fsync(fd) != 0) {
    return Status::IoError(fmt::format("{}: cannot write the key: {}", path, OpenSslError()));
  }
  return Status::Ok();
}

StatusOr<EvpPkey> ReadPem(const std::string& path, bool is_private) {
  File f(std::fopen(path.c_str(), "r"));
  if (f == nullptr) {
    return Status::InvalidArgument(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  EvpPkey key(is_private ? PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr)
                         : PEM_read_PUBKEY(f.get(), nullptr, nullptr, nullptr));
  const char* what = is_private ? "an Ed25519 private key" : "an Ed25519 public key";
  if (key == nullptr) {
    return Status::InvalidArgument(
        fmt::format("{}: not {} in PEM ({})", path, what, OpenSslError()));
  }
  if (EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    return Status::InvalidArgument(fmt::format("{}: not {} (another key type)", path, what));
  }
  return key;
}

// Strict base64: whitespace around it is allowed, nothing else.
bool DecodeSignature(std::string_view text, unsigned char (&out)[kSignatureBytes]) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  // 64 bytes encode to 88 characters, the last two '='.
  if (text.size() != 88 || text.substr(86) != "==") return false;
  unsigned char decoded[66];
  const int n = EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n != 66) return false;  // EVP_DecodeBlock counts the padding as bytes
  std::memcpy(out, decoded, kSignatureBytes);
  return true;
}

}  // namespace

Status GenerateKeyPair(const std::string& private_path, const std::string& public_path) {
  EvpPkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (key == nullptr) return Status::Internal("cannot generate an Ed25519 key: " + OpenSslError());
  if (::access(public_path.c_str(), F_OK) == 0) {
    return Status::AlreadyExists(fmt::format("{}: already exists", public_path));
  }
  EDGE_RETURN_IF_ERROR(WriteNewPem(private_path, 0600, [&](std::FILE* f) {
    return PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }));
  return WriteNewPem(public_path, 0644,
                     [&](std::FILE* f) { return PEM_write_PUBKEY(f, key.get()); });
}

void EvpPkeyFree::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

StatusOr<SigningKey> SigningKey::Load(const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(EvpPkey key, ReadPem(path, /*is_private=*/true));
  SigningKey k;
  k.key_ = std::move(key);
  return k;
}

std::string SigningKey::SignBase64(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  unsigned char sig[kSignatureBytes];
  size_t sig_len = sizeof sig;
  // Ed25519 is a one-shot signature: no digest, the whole message at once.
  EDGE_CHECK(
      ctx != nullptr && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
      EVP_DigestSign(ctx.get(), sig, &sig_len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1 &&
      sig_len == kSignatureBytes);
  char text[4 * ((kSignatureBytes + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text), sig, kSignatureBytes);
  return std::string(text, static_cast<size_t>(n));
}

StatusOr<VerifyingKey> VerifyingKey::Load(const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(EvpPkey key, ReadPem(path, /*is_private=*/false));
  VerifyingKey k;
  k.key_ = std::move(key);
  k.path_ = path;
  return k;
}

bool VerifyingKey::Verify(std::string_view message, std::string_view signature_base64) const {
  unsigned char sig[kSignatureBytes];
  if (!DecodeSignature(signature_base64, sig)) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return false;
  const bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), sig, sizeof sig,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

Status VerifyWithAnyKey(std::span<const VerifyingKey> keys, std::string_view message,
                        std::string_view signature_base64, std::string_view what) {
  for (const VerifyingKey& key : keys) {
    if (key.Verify(message, signature_base64)) return Status::Ok();
  }
  return Status::InvalidArgument(
      fmt::format("{}: the signature does not verify with {} trusted key{}", what, keys.size(),
                  keys.size() == 1 ? "" : "s"));
}

std::function<Status(const std::filesystem::path&, std::string_view)> SignatureCheck(
    std::span<const VerifyingKey> keys) {
  return [keys](const std::filesystem::path& dir, std::string_view manifest_bytes) -> Status {
    EDGE_ASSIGN_OR_RETURN(std::string sig, ReadFileToString(dir / "manifest.json.sig", 4096));
    return VerifyWithAnyKey(keys, manifest_bytes, sig, (dir / "manifest.json").string());
  };
}

}  // namespace edge::inference
