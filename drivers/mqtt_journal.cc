#include "drivers/mqtt_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/logging.h"

namespace edge::drivers {
namespace {

namespace fs = std::filesystem;

// A record longer than this is damage, not a message (a payload is capped far below it).
constexpr uint32_t kMaxRecord = 16u << 20;
constexpr size_t kFixed = 8 + 2;  // arrival + topic length, after the length word

void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

// "vibration.12.journal" -> 12 for source "vibration"; nullopt for any other name.
std::optional<uint64_t> GenerationOf(const std::string& file, const std::string& source) {
  const std::string prefix = "source-" + source + ".";
  const std::string suffix = ".journal";
  if (file.size() <= prefix.size() + suffix.size() || file.rfind(prefix, 0) != 0 ||
      file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  const std::string digits =
      file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
  if (digits.empty() || digits.size() > 18 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoull(digits);
}

uint32_t Crc(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

}  // namespace

MqttJournal::MqttJournal(std::string dir, std::string source, Options options)
    : dir_(std::move(dir)), source_(std::move(source)), options_(options) {}

MqttJournal::~MqttJournal() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<std::unique_ptr<MqttJournal>> MqttJournal::Open(const std::string& dir,
                                                         const std::string& source,
                                                         Options options) {
  // The source name is part of a file name: "source-" in front makes even "." or ".." a plain
  // file name; a separator or NUL could still leave the directory.
  if (source.empty() || source.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
    return Status::InvalidArgument("MQTT journal: source name '" + source +
                                   "' cannot be part of a file name");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("MQTT journal directory " + dir + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  std::unique_ptr<MqttJournal> j(new MqttJournal(dir, source, options));
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (const auto g = GenerationOf(e.path().filename().string(), source)) {
      j->generations_.push_back(*g);
    }
  }
  if (ec) return Status::IoError("MQTT journal directory " + dir + ": " + ec.message());
  std::sort(j->generations_.begin(), j->generations_.end());
  return j;
}

std::string MqttJournal::PathOf(uint64_t generation) const {
  return dir_ + "/source-" + source_ + "." + std::to_string(generation) + ".journal";
}

Status MqttJournal::Replay(const Visitor& visit) {
  std::string record;
  for (const uint64_t g : generations_) {
    const std::string path = PathOf(g);
    std::ifstream in(path, std::ios::binary);
    if (!in && !fs::exists(path)) continue;  // deleted since Open: nothing left to replay
    if (!in) return Status::IoError("MQTT journal " + path + ": cannot be read");
    char head[8];
    while (in.read(head, 8)) {
      const uint32_t len = static_cast<uint32_t>(GetLe(head, 4));
      if (len < kFixed || len > kMaxRecord) break;  // torn or zeroed tail
      record.resize(len);
      if (!in.read(record.data(), len)) break;  // torn tail
      // A torn record that zeros (or the next record) filled up.
      if (Crc(record) != GetLe(head + 4, 4)) break;
      const int64_t us = static_cast<int64_t>(GetLe(record.data(), 8));
      const size_t topic_len = GetLe(record.data() + 8, 2);
      if (kFixed + topic_len > len) break;
      const std::string_view all(record);
      visit(Timestamp(std::chrono::microseconds(us)), all.substr(kFixed, topic_len),
            all.substr(kFixed + topic_len));
      replayed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // The replayed generations stay until the first rotation: what they held is only in the
  // queues now.
  OpenNext();
  return Status::Ok();
}

void MqttJournal::Rotate(bool early) {
  // Everything older than the generation being closed has been on disk for `keep` at least.
  while (generations_.size() > 1) {
    ::unlink(PathOf(generations_.front()).c_str());
    generations_.erase(generations_.begin());
  }
  if (early) early_rotations_.fetch_add(1, std::memory_order_relaxed);
  OpenNext();
}

void MqttJournal::OpenNext() {
  if (fd_ >= 0) ::close(fd_);
  const uint64_t next = generations_.empty() ? 1 : generations_.back() + 1;
  fd_ = ::open(PathOf(next).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    GetLogger("mqtt")->warn("MQTT journal {}: cannot be created: {}", PathOf(next),
                            std::strerror(errno));
  } else {
    generations_.push_back(next);
  }
  file_bytes_ = 0;
  opened_ = std::chrono::steady_clock::now();
}

void MqttJournal::Append(Timestamp arrival, std::string_view topic, std::string_view payload) {
  const bool full = file_bytes_ >= options_.max_file_bytes;
  if (fd_ < 0 || full || std::chrono::steady_clock::now() - opened_ >= options_.keep) {
    Rotate(full);
  }
  const size_t topic_len = std::min<size_t>(topic.size(), 0xffff);
  const uint64_t len = kFixed + topic_len + payload.size();
  if (fd_ < 0 || len > kMaxRecord) {
    append_failures_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  header_.clear();
  PutLe(header_, len, 4);
  PutLe(header_, 0, 4);  // the CRC, below
  PutLe(header_, static_cast<uint64_t>(arrival.time_since_epoch().count()), 8);
  PutLe(header_, topic_len, 2);
  uLong crc = crc32(0, reinterpret_cast<const Bytef*>(header_.data() + 8), kFixed);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(topic.data()), static_cast<uInt>(topic_len));
  crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data()),
              static_cast<uInt>(payload.size()));
  for (int i = 0; i < 4; ++i) header_[4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  iovec parts[3] = {{header_.data(), header_.size()},
                    {const_cast<char*>(topic.data()), topic_len},
                    {const_cast<char*>(payload.data()), payload.size()}};
  const ssize_t total = static_cast<ssize_t>(header_.size() + topic_len + payload.size());
  const ssize_t n = ::writev(fd_, parts, 3);
  if (n != total) {
    append_failures_.fetch_add(1, std::memory_order_relaxed);
    // A partial record would end the replay there: start a clean generation.
    if (n > 0) Rotate(true);
    return;
  }
  file_bytes_ += static_cast<uint64_t>(n);
  appended_.fetch_add(1, std::memory_order_relaxed);
}

void MqttJournal::Clear() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  for (const uint64_t g : generations_) ::unlink(PathOf(g).c_str());
  generations_.clear();
}

MqttJournalStats MqttJournal::stats() const {
  return {.appended = appended_.load(),
          .append_failures = append_failures_.load(),
          .replayed = replayed_.load(),
          .early_rotations = early_rotations_.load()};
}

}  // namespace edge::drivers
