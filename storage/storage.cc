#include "storage/storage.h"

#include <filesystem>
#include <system_error>

namespace edge::storage {

StatusOr<std::unique_ptr<Storage>> Storage::Open(const std::string& data_dir,
                                                 const config::StorageConfig& config) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) return Status::IoError(data_dir + ": cannot create the data directory: " + ec.message());
  std::unique_ptr<Storage> storage(new Storage());
  storage->config_ = config;
  storage->samples_path_ = (std::filesystem::path(data_dir) / kSamplesFile).string();
  {
    // Recovery and migrations run here, on a connection closed right after: the writer and
    // the readers open their own.
    EDGE_ASSIGN_OR_RETURN(SqliteDb db, OpenWithRecovery(storage->samples_path_, &PrepareSampleDb,
                                                        &storage->samples_report_));
  }
  EDGE_ASSIGN_OR_RETURN(storage->outbox_,
                        Outbox::Open((std::filesystem::path(data_dir) / kOutboxFile).string()));
  return storage;
}

StatusOr<std::unique_ptr<SampleWriter>> Storage::CreateWriter(const TagRegistry& tags,
                                                              BoundedQueue<Sample>& queue,
                                                              WriterOptions options,
                                                              const Clock& clock) {
  return SampleWriter::Create(samples_path_, config_, tags, queue, std::move(options), clock);
}

}  // namespace edge::storage
