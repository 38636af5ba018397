// Storage: the one entry point the daemon uses for everything kept on disk in the data
// directory (DESIGN §3):
//
//   <data_dir>/samples.db   every reading, per-tag chunks (storage/sample_db.h), WAL
//   <data_dir>/outbox.db    alarms waiting for the broker's confirmation (storage/outbox.h)
//
//   auto storage = Storage::Open(data_dir, config.storage);     // create / migrate / recover
//   auto writer = (*storage)->CreateWriter(tags, ingest, {});   // SampleWriter thread
//   writer->Start(); ... writer->Stop();
//   auto reader = (*storage)->OpenReader();                     // window rebuild, export
//   auto uplink = (*storage)->OpenUplinkStore();                // telemetry uplink cursors
//   (*storage)->outbox().Append(...)
//
// Open() detects a corrupt file (not a database, or PRAGMA quick_check fails), moves it aside to
// "<file>.corrupt-<UTC time>" with one error log line, and starts a fresh one, so the agent keeps
// running. quick_check reads the whole file: about a second per GiB on an SSD.
//
// Thread-safety: Open on one thread; outbox() is thread-safe; each writer / reader belongs to
// its own thread.
#pragma once

#include <memory>
#include <string>

#include "config/config.h"
#include "core/bounded_queue.h"
#include "core/clock.h"
#include "core/sample.h"
#include "core/status.h"
#include "core/tag_registry.h"
#include "storage/outbox.h"
#include "storage/sample_db.h"
#include "storage/sample_reader.h"
#include "storage/sample_writer.h"
#include "storage/uplink_store.h"

namespace edge::storage {

class Storage {
 public:
  [[nodiscard]] static StatusOr<std::unique_ptr<Storage>> Open(const std::string& data_dir,
                                                               const config::StorageConfig& config);

  // REQUIRES: at most one writer at a time. `tags`, `queue` and `clock` must outlive it.
  [[nodiscard]] StatusOr<std::unique_ptr<SampleWriter>> CreateWriter(
      const TagRegistry& tags, BoundedQueue<Sample>& queue, WriterOptions options = {},
      const Clock& clock = SystemClockInstance());

  [[nodiscard]] StatusOr<SampleReader> OpenReader() const {
    return SampleReader::Open(samples_path_);
  }

  // The telemetry uplink's own connection to samples.db (storage/uplink_store.h).
  [[nodiscard]] StatusOr<std::unique_ptr<UplinkStore>> OpenUplinkStore() const {
    return UplinkStore::Open(samples_path_);
  }

  Outbox& outbox() { return *outbox_; }
  const std::string& samples_path() const { return samples_path_; }
  // What opening samples.db found (created, migrated, moved aside).
  const OpenReport& samples_report() const { return samples_report_; }

 private:
  Storage() = default;

  config::StorageConfig config_;
  std::string samples_path_;
  OpenReport samples_report_;
  std::unique_ptr<Outbox> outbox_;
};

}  // namespace edge::storage
