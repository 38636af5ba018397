// storage_bench: the figures of issue #5, each next to its peer from the same run.
//
//  1. Sustained ingest: 1,000 tags into a real samples.db on disk through the real SampleWriter
//     (commits every 200 ms, one writer thread, size retention deleting the oldest chunks all
//     along because max_size is set below what the run writes), fed by a producer thread.
//     Peers, same machine, same run: the raw SQLite floor (plain prepared INSERTs into an
//     append-only rowid table, one transaction per 200 ms) and the (tag, ts) WITHOUT ROWID
//     table the issue measured at ~0.1 M rows/s.
//  2. Window rebuild: the last 256 steps (1 s) of 16 tags, and 3. a range query of one tag
//     over one hour, on 64 tags x 1 hour of 10 Hz data written the way the daemon writes it
//     (2 samples per tag per commit, so chunks grow in place). Peer: the same reads on the
//     (tag, ts) WITHOUT ROWID table holding the same samples (the read-optimal layout).
//  4. Uplink drain (DESIGN §10): every reading of that file read back by ordinal through
//     UplinkStore::ReadFrom, 1,000 per call, tag after tag in turn as the uplink cuts messages.
//     Peer: the same drain from the (tag, ts) table by a time cursor (ts > last, LIMIT 1,000).
//
// Usage: storage_bench [DIR] [INGEST_SECONDS]   (DIR default /var/tmp; a real disk, not tmpfs)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_usage.h"
#include "core/bounded_queue.h"
#include "core/logging.h"
#include "core/sample.h"
#include "core/tag_registry.h"
#include "storage/chunk_codec.h"
#include "storage/storage.h"

namespace {

namespace fs = std::filesystem;
using edge::Quality;
using edge::Sample;
using edge::Timestamp;
using edge::storage::SqliteDb;
using edge::storage::Statement;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

Timestamp NowTs() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

void Check(const edge::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "storage_bench: %s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

SqliteDb OpenPlain(const std::string& path) {
  fs::remove(path);
  fs::remove(path + "-wal");
  fs::remove(path + "-shm");
  auto db = SqliteDb::Open(path, {});
  Check(db.status(), path.c_str());
  Check(db->Exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL"), "pragmas");
  return std::move(db).value();
}

// Plain prepared INSERTs of 1,000 interleaved tags, one transaction per 200 ms.
double PeerIngest(const std::string& path, const char* create, double seconds) {
  SqliteDb db = OpenPlain(path);
  Check(db.Exec(create), "create");
  auto insert = db.Prepare("INSERT INTO s(tag, ts, value, quality) VALUES (?1, ?2, ?3, ?4)");
  Check(insert.status(), "prepare");
  const int64_t t0 = edge::storage::ToMicros(NowTs());
  uint64_t rows = 0;
  const auto start = Clock::now();
  auto next_commit = start + std::chrono::milliseconds(200);
  Check(db.Exec("BEGIN"), "begin");
  for (int64_t r = 0;; ++r) {
    for (int tag = 0; tag < 1000; ++tag) {
      insert->BindInt(1, tag);
      insert->BindInt(2, t0 + r * 1000);
      insert->BindDouble(3, static_cast<double>(r));
      insert->BindInt(4, 0);
      Check(insert->Run(), "insert");
      insert->Reset();
    }
    rows += 1000;
    const auto now = Clock::now();
    if (now >= next_commit) {
      Check(db.Exec("COMMIT"), "commit");
      if (Seconds(now - start) >= seconds) break;
      Check(db.Exec("BEGIN"), "begin");
      next_commit = now + std::chrono::milliseconds(200);
    }
  }
  return static_cast<double>(rows) / Seconds(Clock::now() - start);
}

struct IngestResult {
  double rate = 0;
  uint64_t commits = 0;
  uint64_t deleted_chunks = 0;
  uint64_t dropped = 0;
  double file_mib = 0;
  double max_commit_ms = 0;
  double largest_mib = 0;  // samples.db + WAL, the most seen during the run
};

IngestResult OurIngest(const std::string& dir, double seconds) {
  fs::remove_all(dir);
  edge::config::StorageConfig config;
  config.max_size_bytes = 64ull << 20;  // the run writes more than this: retention works
  auto storage = edge::storage::Storage::Open(dir, config);
  Check(storage.status(), "open");
  edge::TagRegistry tags;
  for (int k = 0; k < 1000; ++k)
    tags.Intern("line3.machine" + std::to_string(k / 10) + ".t" + std::to_string(k % 10));
  edge::BoundedQueue<Sample> queue(1 << 21);
  edge::storage::WriterOptions options;
  options.commit_interval = std::chrono::milliseconds(200);
  options.max_batch = 1 << 21;  // commits are driven by the 200 ms interval
  std::atomic<double> max_commit_ms{0};
  auto writer = (*storage)->CreateWriter(tags, queue, options);
  Check(writer.status(), "writer");
  Check((*writer)->Start(), "start");

  std::atomic<bool> stop{false};
  std::thread producer([&] {
    std::vector<Sample> round(1000);
    const int64_t t0 = edge::storage::ToMicros(NowTs());
    for (int64_t r = 0; !stop; ++r) {
      for (int k = 0; k < 1000; ++k) {
        round[k] = Sample{static_cast<edge::TagId>(k), edge::storage::FromMicros(t0 + r * 1000 + k),
                          std::sin(r * 0.01 + k), Quality::kGood};
      }
      std::span<const Sample> rest(round);
      while (!rest.empty() && !stop) {
        rest = rest.subspan(queue.PushBatch(rest));
        if (!rest.empty()) std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  });
  // Warm up 1 s, then measure.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto s0 = (*writer)->stats();
  const auto start = Clock::now();
  double worst = 0;
  uintmax_t largest = 0;
  while (Seconds(Clock::now() - start) < seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto st = (*writer)->stats();
    worst = std::max(worst, st.last_commit_duration.count() / 1000.0);
    std::error_code ec;
    uintmax_t size = fs::file_size((*storage)->samples_path(), ec);
    const uintmax_t wal = fs::file_size((*storage)->samples_path() + "-wal", ec);
    if (!ec) size += wal;
    largest = std::max(largest, size);
    if (std::getenv("EDGE_BENCH_TRACE")) {
      std::fprintf(stderr,
                   "t=%.2f live=%.1f MiB files=%.1f MiB (wal %.1f) commits=%llu deleted=%llu\n",
                   Seconds(Clock::now() - start), st.live_bytes / 1048576.0, size / 1048576.0,
                   wal / 1048576.0, static_cast<unsigned long long>(st.commits),
                   static_cast<unsigned long long>(st.chunks_deleted_size));
    }
  }
  const auto s1 = (*writer)->stats();
  const double elapsed = Seconds(Clock::now() - start);
  stop = true;
  producer.join();
  (*writer)->Stop();
  IngestResult r;
  r.rate = static_cast<double>(s1.samples_committed - s0.samples_committed) / elapsed;
  r.commits = s1.commits - s0.commits;
  r.deleted_chunks = s1.chunks_deleted_size;
  r.dropped = queue.GetStats().dropped;
  r.max_commit_ms = worst;
  r.largest_mib = static_cast<double>(largest) / (1 << 20);
  std::error_code ec;
  r.file_mib = static_cast<double>(fs::file_size((*storage)->samples_path(), ec)) / (1 << 20);
  (void)max_commit_ms;
  return r;
}

// 64 tags x 1 hour of 10 Hz, 2 samples per tag per commit (10 Hz with 200 ms commits).
std::string PopulateReadData(const std::string& dir, int64_t t0) {
  fs::remove_all(dir);
  auto storage = edge::storage::Storage::Open(dir, {});
  Check(storage.status(), "open");
  edge::TagRegistry tags;
  for (int k = 0; k < 64; ++k) tags.Intern("tag" + std::to_string(k));
  edge::BoundedQueue<Sample> queue(1 << 16);
  edge::storage::WriterOptions options;
  options.commit_interval = std::chrono::hours(1);  // only full batches commit
  options.max_batch = 128;                          // = 64 tags x 2 samples
  auto writer = (*storage)->CreateWriter(tags, queue, options);
  Check(writer.status(), "writer");
  Check((*writer)->Start(), "start");
  std::vector<Sample> two(128);
  for (int64_t i = 0; i < 36000; i += 2) {
    for (int k = 0; k < 64; ++k) {
      two[2 * k] = {static_cast<edge::TagId>(k), edge::storage::FromMicros(t0 + i * 100000),
                    1.0 * i, Quality::kGood};
      two[2 * k + 1] = {static_cast<edge::TagId>(k),
                        edge::storage::FromMicros(t0 + (i + 1) * 100000), 1.0 * i + 1,
                        Quality::kGood};
    }
    std::span<const Sample> rest(two);
    while (!rest.empty()) {
      rest = rest.subspan(queue.PushBatch(rest));
      if (!rest.empty()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  (*writer)->Stop();
  return (*storage)->samples_path();
}

std::string PopulatePeerReadData(const std::string& path, int64_t t0) {
  SqliteDb db = OpenPlain(path);
  Check(db.Exec("CREATE TABLE s(tag INTEGER, ts INTEGER, value REAL, quality INTEGER, "
                "PRIMARY KEY (tag, ts)) WITHOUT ROWID; BEGIN"),
        "create");
  auto insert = db.Prepare("INSERT INTO s(tag, ts, value, quality) VALUES (?1, ?2, ?3, ?4)");
  Check(insert.status(), "prepare");
  for (int k = 0; k < 64; ++k) {
    for (int64_t i = 0; i < 36000; ++i) {
      insert->BindInt(1, k);
      insert->BindInt(2, t0 + i * 100000);
      insert->BindDouble(3, 1.0 * i);
      insert->BindInt(4, 0);
      Check(insert->Run(), "insert");
      insert->Reset();
    }
  }
  Check(db.Exec("COMMIT"), "commit");
  return path;
}

struct DrainResult {
  uint64_t readings = 0;
  double seconds = 0;
  double rate() const { return static_cast<double>(readings) / seconds; }
};

// Calls read_one(t, out) for tags t = 0 .. tags - 1 in turn, `out` cleared before each call,
// until a whole round reads nothing: how the uplink drains a backlog.
template <typename ReadOne>
DrainResult Drain(size_t tags, size_t batch, ReadOne&& read_one) {
  std::vector<Sample> out;
  out.reserve(batch);
  DrainResult r;
  const auto start = Clock::now();
  for (bool more = true; more;) {
    more = false;
    for (size_t t = 0; t < tags; ++t) {
      out.clear();
      read_one(t, out);
      r.readings += out.size();
      more = more || !out.empty();
    }
  }
  r.seconds = Seconds(Clock::now() - start);
  return r;
}

// Reads everything by ordinal, `batch` per call.
DrainResult OurDrain(const std::string& path, size_t batch) {
  auto store = edge::storage::UplinkStore::Open(path);
  Check(store.status(), "uplink store");
  auto tags = (*store)->TagsAfter(0);
  Check(tags.status(), "tags");
  std::vector<int64_t> cursor(tags->size(), 0);
  return Drain(tags->size(), batch, [&](size_t t, std::vector<Sample>& out) {
    edge::storage::OrdinalRead read;
    Check((*store)->ReadFrom((*tags)[t].id, cursor[t], batch, 0, out, &read), "read");
    cursor[t] = read.end_ord;
  });
}

// The same drain from the (tag, ts) table of PopulatePeerReadData by a time cursor.
DrainResult PeerDrain(const std::string& path, size_t batch) {
  auto db = SqliteDb::Open(path, {});
  Check(db.status(), "peer");
  Check(db->Exec("PRAGMA mmap_size = 268435456"), "peer mmap");
  auto q = db->Prepare(
      "SELECT ts, value, quality FROM s WHERE tag = ?1 AND ts > ?2 ORDER BY ts LIMIT ?3");
  Check(q.status(), "prepare");
  std::vector<int64_t> cursor(64, std::numeric_limits<int64_t>::min());
  return Drain(64, batch, [&](size_t tag, std::vector<Sample>& out) {
    q->BindInt(1, static_cast<int64_t>(tag));
    q->BindInt(2, cursor[tag]);
    q->BindInt(3, static_cast<int64_t>(batch));
    while (*q->Step()) {
      out.push_back({static_cast<edge::TagId>(tag), edge::storage::FromMicros(q->ColumnInt(0)),
                     q->ColumnDouble(1), q->ColumnInt(2) ? Quality::kBad : Quality::kGood});
    }
    q->Reset();
    if (!out.empty()) cursor[tag] = edge::storage::ToMicros(out.back().ts);
  });
}

template <typename F>
double MedianMs(int runs, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto s = Clock::now();
    f();
    t.push_back(Seconds(Clock::now() - s) * 1000);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

constexpr char kUsage[] =
    "usage: storage_bench [DIR] [INGEST_SECONDS]\n"
    "  DIR: where the databases go (default /var/tmp; a real disk, not tmpfs);\n"
    "  INGEST_SECONDS: per ingest run (default 10). Ingest of 1,000 tags, window rebuild and\n"
    "  range reads, each next to its SQLite peer from the same run\n";

int main(int argc, char** argv) {
  if (edge::bench::PrintedHelp(argc, argv, kUsage)) return 0;
  // An option where a directory is expected is a mistake, not a directory to create.
  if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string root = (argc > 1 ? argv[1] : "/var/tmp") + std::string("/edge-storage-bench");
  const double seconds = argc > 2 ? std::atof(argv[2]) : 10.0;
  fs::create_directories(root);
  edge::LogOptions log_options;
  log_options.level = "warn";
  Check(edge::InitLogging(log_options), "logging");

  std::printf("storage_bench in %s, %.0f s per ingest run, SQLite %s\n\n", root.c_str(), seconds,
              sqlite3_libversion());
  const IngestResult ours = OurIngest(root + "/ours", seconds);
  const double floor =
      PeerIngest(root + "/raw.db",
                 "CREATE TABLE s(tag INTEGER, ts INTEGER, value REAL, quality INTEGER)", seconds);
  const double tagts = PeerIngest(
      root + "/tagts.db",
      "CREATE TABLE s(tag INTEGER, ts INTEGER, value REAL, quality INTEGER, PRIMARY KEY (tag, ts)) "
      "WITHOUT ROWID",
      std::min(seconds, 5.0));
  std::printf("Sustained ingest, 1,000 tags, commits every 200 ms, size retention running\n");
  std::printf(
      "  ours (SampleWriter, per-tag chunks):        %10.0f samples/s  (%llu commits, "
      "slowest commit %.1f ms, %llu chunks deleted by the 64 MiB cap, largest samples.db + WAL "
      "%.1f MiB, %llu queue drops)\n",
      ours.rate, static_cast<unsigned long long>(ours.commits), ours.max_commit_ms,
      static_cast<unsigned long long>(ours.deleted_chunks), ours.largest_mib,
      static_cast<unsigned long long>(ours.dropped));
  std::printf("  raw floor (prepared INSERT, append table):  %10.0f rows/s\n", floor);
  std::printf("  (tag, ts) WITHOUT ROWID table:              %10.0f rows/s\n", tagts);
  std::printf("  ratio ours / raw floor: %.2f   target >= 1,000,000 samples/s: %s\n\n",
              ours.rate / floor, ours.rate >= 1e6 ? "met" : "NOT met");

  const int64_t t0 = edge::storage::ToMicros(NowTs()) - 3'600'000'000LL;
  const std::string ours_path = PopulateReadData(root + "/reads", t0);
  const std::string peer_path = PopulatePeerReadData(root + "/reads_peer.db", t0);
  auto reader = edge::storage::SampleReader::Open(ours_path);
  Check(reader.status(), "reader");
  std::vector<std::string> sixteen;
  for (int k = 0; k < 16; ++k) sixteen.push_back("tag" + std::to_string(k * 4));
  std::vector<std::vector<Sample>> windows;
  const Timestamp end = edge::storage::FromMicros(t0 + 35999LL * 100000);
  size_t got = 0;
  const double ours_window = MedianMs(50, [&] {
    Check(reader->ReadLastSteps(sixteen, 256, std::chrono::seconds(1), end, windows), "window");
    got = 0;
    for (auto& w : windows) got += w.size();
  });
  std::vector<Sample> range;
  const double ours_range = MedianMs(50, [&] {
    range.clear();
    Check(reader->ReadRange("tag7", edge::storage::FromMicros(t0), end, 0, range), "range");
  });

  auto peer = SqliteDb::Open(peer_path, {});
  Check(peer.status(), "peer");
  Check(peer->Exec("PRAGMA mmap_size = 268435456"), "peer mmap");  // as our reader does
  auto q = peer->Prepare(
      "SELECT ts, value, quality FROM s WHERE tag = ?1 AND ts > ?2 AND ts <= ?3 ORDER BY ts");
  Check(q.status(), "prepare");
  std::vector<Sample> peer_out;
  auto peer_read = [&](int tag, int64_t from, int64_t to) {
    q->BindInt(1, tag);
    q->BindInt(2, from);
    q->BindInt(3, to);
    while (*q->Step()) {
      peer_out.push_back({static_cast<edge::TagId>(tag), edge::storage::FromMicros(q->ColumnInt(0)),
                          q->ColumnDouble(1), q->ColumnInt(2) ? Quality::kBad : Quality::kGood});
    }
    q->Reset();
  };
  const int64_t end_us = edge::storage::ToMicros(end);
  size_t peer_got = 0;
  const double peer_window = MedianMs(50, [&] {
    peer_out.clear();
    for (int k = 0; k < 16; ++k) peer_read(k * 4, end_us - 256'000'000LL, end_us);
    peer_got = peer_out.size();
  });
  const double peer_range = MedianMs(50, [&] {
    peer_out.clear();
    peer_read(7, t0 - 1, end_us);
  });
  std::printf("Reads, 64 tags x 1 hour of 10 Hz written as the daemon writes it (median of 50)\n");
  std::printf(
      "  window rebuild, last 256 steps of 16 tags: ours %.2f ms (%zu samples), "
      "peer (tag, ts) table %.2f ms (%zu samples), ratio %.2f, target <= 5 ms: %s\n",
      ours_window, got, peer_window, peer_got, ours_window / peer_window,
      ours_window <= 5 ? "met" : "NOT met");
  std::printf(
      "  range, one tag over one hour:              ours %.2f ms (%zu samples), "
      "peer (tag, ts) table %.2f ms (%zu samples), ratio %.2f, target <= 10 ms: %s\n",
      ours_range, range.size(), peer_range, peer_out.size(), ours_range / peer_range,
      ours_range <= 10 ? "met" : "NOT met");
  const DrainResult ours_drain = OurDrain(ours_path, 1000);
  const DrainResult peer_drain = PeerDrain(peer_path, 1000);
  std::printf(
      "Uplink drain of the same file by ordinal, 1,000 readings per read, tags in turn\n"
      "  ours (UplinkStore::ReadFrom): %10.0f readings/s (%llu readings in %.2f s)\n"
      "  peer (tag, ts) table, time cursor: %10.0f readings/s (%llu readings)\n"
      "  ratio %.2f   target >= 200,000 readings/s: %s\n",
      ours_drain.rate(), static_cast<unsigned long long>(ours_drain.readings), ours_drain.seconds,
      peer_drain.rate(), static_cast<unsigned long long>(peer_drain.readings),
      ours_drain.rate() / peer_drain.rate(), ours_drain.rate() >= 2e5 ? "met" : "NOT met");
  fs::remove_all(root);
  return 0;
}
