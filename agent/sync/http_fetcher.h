// HTTP(S) GETs for the model repository (DESIGN §7), with libcurl: small documents into memory
// (latest.json, manifests, signatures) and artifacts into a file, each with a size cap, a connect
// timeout, a stall timeout and a total timeout, so that a broken or hostile server can neither
// fill the disk nor hang the model sync thread.
//
// Only http:// and https:// are followed, redirects included; TLS peer and host name verification
// stay on (the system CA store, or `ca_file` for a private CA).
//
// Outcomes map to Status codes the caller acts on:
//   NotFound            404 (or 410)
//   Unavailable         connection refused/reset, DNS, TLS handshake, 5xx, any other status
//   DeadlineExceeded    connect, stall or total timeout
//   ResourceExhausted   larger than the cap (the transfer is cut off at the cap)
//   DataLoss            the body ended before its Content-Length (a truncated transfer)
//   IoError             the destination file could not be written
//
// Thread-safety: one HttpFetcher per thread (it owns a curl easy handle, reused for keep-alive).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace edge::agent {

struct HttpOptions {
  std::string ca_file;  // empty: the system CA store
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds stall_timeout{std::chrono::seconds(30)};  // no byte for this long
  std::chrono::milliseconds total_timeout{std::chrono::minutes(10)};
  // When set and true, a transfer in progress stops within about a second (Unavailable).
  const std::atomic<bool>* cancel = nullptr;
};

struct HttpDocument {
  bool not_modified = false;  // 304 for If-None-Match: `body` is empty, keep what you have
  std::string body;
  std::string etag;  // empty if the server sent none
};

struct DownloadedFile {
  uint64_t bytes = 0;
  std::string sha256;  // 64 lowercase hex digits
};

class HttpFetcher {
 public:
  explicit HttpFetcher(HttpOptions options);
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  // GET into memory. With `if_none_match` non-empty, a 304 answer is not_modified.
  [[nodiscard]] StatusOr<HttpDocument> Get(const std::string& url, uint64_t max_bytes,
                                           const std::string& if_none_match = "");

  // GET into `path`, which must not exist; it is created with mode 0644 and fsynced. On any
  // failure the partial file is removed. The sha256 is computed as the bytes arrive, so that
  // checking an artifact of any size needs no more memory than one chunk of the transfer.
  [[nodiscard]] StatusOr<DownloadedFile> Download(const std::string& url, const std::string& path,
                                                  uint64_t max_bytes);

 private:
  struct Transfer;
  Status Perform(const std::string& url, Transfer& transfer, const std::string& if_none_match,
                 long& http_status);

  HttpOptions options_;
  void* curl_ = nullptr;  // CURL*
};

}  // namespace edge::agent
