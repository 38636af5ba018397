#include "agent/sync/http_fetcher.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <strings.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/version.h"

namespace edge::agent {
namespace {

CURL* Handle(void* curl) { return static_cast<CURL*>(curl); }

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

struct HttpFetcher::Transfer {
  uint64_t max_bytes = 0;
  uint64_t received = 0;
  bool over_cap = false;
  std::string* body = nullptr;  // into memory, or
  int fd = -1;                  // into a file
  EVP_MD_CTX* sha256 = nullptr;  // when into a file: the digest of what was written
  int write_errno = 0;
  std::string etag;
  // Stall detection. curl's own low-speed limit averages over a window of several seconds, so
  // a server that sends a few bytes and then nothing would hold the thread for seconds longer
  // than the configured stall timeout; counting from the last byte is exact.
  std::chrono::steady_clock::duration stall_timeout{};
  std::chrono::steady_clock::time_point last_progress = std::chrono::steady_clock::now();
  curl_off_t last_bytes = 0;
  bool stalled = false;
  const std::atomic<bool>* cancel = nullptr;
  bool cancelled = false;

  static int OnProgress(void* user, curl_off_t, curl_off_t now_bytes, curl_off_t, curl_off_t) {
    Transfer& t = *static_cast<Transfer*>(user);
    if (t.cancel != nullptr && t.cancel->load()) {
      t.cancelled = true;
      return 1;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now_bytes != t.last_bytes) {
      t.last_bytes = now_bytes;
      t.last_progress = now;
      return 0;
    }
    if (now - t.last_progress > t.stall_timeout) {
      t.stalled = true;
      return 1;  // makes curl stop with CURLE_ABORTED_BY_CALLBACK
    }
    return 0;
  }

  static size_t OnData(char* data, size_t size, size_t count, void* user) {
    Transfer& t = *static_cast<Transfer*>(user);
    const size_t len = size * count;
    if (t.received + len > t.max_bytes) {
      t.over_cap = true;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    t.received += len;
    if (t.body != nullptr) {
      t.body->append(data, len);
    } else if (!WriteAll(t.fd, data, len)) {
      t.write_errno = errno;
      return 0;
    } else if (t.sha256 != nullptr) {
      EDGE_CHECK(EVP_DigestUpdate(t.sha256, data, len) == 1);
    }
    return len;
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    Transfer& t = *static_cast<Transfer*>(user);
    const size_t len = size * count;
    std::string_view line(data, len);
    if (line.starts_with("HTTP/")) t.etag.clear();  // a new response (after a redirect)
    constexpr std::string_view kEtag = "etag:";
    if (line.size() > kEtag.size() && ::strncasecmp(data, kEtag.data(), kEtag.size()) == 0) {
      line.remove_prefix(kEtag.size());
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      while (!line.empty() && (line.back() == '\r' || line.back() == '\n' || line.back() == ' '))
        line.remove_suffix(1);
      t.etag = line;
    }
    return len;
  }
};

HttpFetcher::HttpFetcher(HttpOptions options) : options_(std::move(options)) {
  static std::once_flag global_init;
  std::call_once(global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  EDGE_CHECK(curl_ != nullptr);
}

HttpFetcher::~HttpFetcher() { curl_easy_cleanup(Handle(curl_)); }

Status HttpFetcher::Perform(const std::string& url, Transfer& transfer,
                            const std::string& if_none_match, long& http_status) {
  CURL* curl = Handle(curl_);
  curl_easy_reset(curl);  // keeps the connection cache: keep-alive across requests
  char error[CURL_ERROR_SIZE] = "";
  const std::string user_agent = std::string("edge-agent/") + kAgentVersion;
  curl_slist* headers = nullptr;
  if (!if_none_match.empty()) {
    headers = curl_slist_append(headers, ("If-None-Match: " + if_none_match).c_str());
  }
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
  transfer.stall_timeout = options_.stall_timeout;
  transfer.cancel = options_.cancel;
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, &Transfer::OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(transfer.max_bytes));
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Transfer::OnData);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);

  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  http_status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http_status);
  const std::string detail = error[0] != '\0' ? error : curl_easy_strerror(rc);

  switch (rc) {
    case CURLE_OK:
      break;
    case CURLE_FILESIZE_EXCEEDED:
      return Status::ResourceExhausted(
          fmt::format("GET {}: larger than the limit of {} bytes", url, transfer.max_bytes));
    case CURLE_WRITE_ERROR:
      if (transfer.over_cap) {
        return Status::ResourceExhausted(fmt::format(
            "GET {}: more than the limit of {} bytes; transfer cut off", url, transfer.max_bytes));
      }
      return Status::IoError(
          fmt::format("GET {}: cannot write: {}", url, std::strerror(transfer.write_errno)));
    case CURLE_ABORTED_BY_CALLBACK:
      if (transfer.cancelled) {
        return Status::Unavailable(fmt::format("GET {}: cancelled (the agent is stopping)", url));
      }
      return Status::DeadlineExceeded(fmt::format("GET {}: no data for {} ms; transfer abandoned",
                                                  url, options_.stall_timeout.count()));
    case CURLE_OPERATION_TIMEDOUT:
      return Status::DeadlineExceeded(fmt::format("GET {}: {}", url, detail));
    case CURLE_PARTIAL_FILE:
      return Status::DataLoss(fmt::format("GET {}: truncated: {}", url, detail));
    default:
      return Status::Unavailable(fmt::format("GET {}: {}", url, detail));
  }
  if (http_status == 200) return Status::Ok();
  if (http_status == 304 && !if_none_match.empty()) return Status::Ok();
  if (http_status == 404 || http_status == 410) {
    return Status::NotFound(fmt::format("GET {}: HTTP {} (not found)", url, http_status));
  }
  return Status::Unavailable(fmt::format("GET {}: HTTP {}", url, http_status));
}

StatusOr<HttpDocument> HttpFetcher::Get(const std::string& url, uint64_t max_bytes,
                                        const std::string& if_none_match) {
  HttpDocument doc;
  Transfer transfer;
  transfer.max_bytes = max_bytes;
  transfer.body = &doc.body;
  long http_status = 0;
  EDGE_RETURN_IF_ERROR(Perform(url, transfer, if_none_match, http_status));
  doc.not_modified = http_status == 304;
  if (doc.not_modified) doc.body.clear();
  doc.etag = std::move(transfer.etag);
  return doc;
}

StatusOr<DownloadedFile> HttpFetcher::Download(const std::string& url, const std::string& path,
                                               uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::IoError(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> sha256(EVP_MD_CTX_new(),
                                                                  &EVP_MD_CTX_free);
  EDGE_CHECK(sha256 != nullptr && EVP_DigestInit_ex(sha256.get(), EVP_sha256(), nullptr) == 1);
  Transfer transfer;
  transfer.max_bytes = max_bytes;
  transfer.fd = fd;
  transfer.sha256 = sha256.get();
  long http_status = 0;
  Status status = Perform(url, transfer, "", http_status);
  // fsync before the caller renames the file into place: a rename that survives a power cut
  // must not point at data that did not.
  if (status.ok() && ::fsync(fd) != 0) {
    status = Status::IoError(fmt::format("{}: fsync: {}", path, std::strerror(errno)));
  }
  ::close(fd);
  if (!status.ok()) {
    ::unlink(path.c_str());
    return status;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EDGE_CHECK(EVP_DigestFinal_ex(sha256.get(), md, &len) == 1);
  DownloadedFile out{.bytes = transfer.received, .sha256 = {}};
  for (unsigned int i = 0; i < len; ++i) fmt::format_to(std::back_inserter(out.sha256), "{:02x}", md[i]);
  return out;
}

}  // namespace edge::agent
