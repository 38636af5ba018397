#include "agent/pipeline.h"

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include "agent/data_dir.h"
#include "agent/messages.h"
#include "agent/outbox_publisher.h"
#include "agent/scoring_stage.h"
#include "agent/sync/model_sync.h"
#include "core/bounded_queue.h"
#include "core/logging.h"
#include "core/rate_limited_log.h"
#include "core/state_file.h"
#include "core/tag_registry.h"
#include "core/version.h"
#include "drivers/modbus_source.h"
#include "drivers/mqtt_publisher.h"
#include "drivers/mqtt_source.h"
#include "storage/sample_db.h"
#include "storage/sample_reader.h"
#include "storage/storage.h"
#include "uplink/telemetry_uplink.h"

namespace edge::agent {

// The composition root. Members are declared so that each is destroyed before what it uses:
// the broker connection (whose callbacks reach the publisher and model sync) first, storage
// last. Stop() has stopped every thread by then.
class Pipeline::Impl : public ModelSync::Host {
 public:
  Impl(const config::AgentConfig& config, PipelineOptions options)
      : config_(config),
        clock_(options.clock != nullptr ? *options.clock : SystemClockInstance()),
        ingest_(options.ingest_capacity),
        to_storage_(options.storage_capacity),
        log_(GetLogger("pipeline")),
        rate_log_(log_, 5, std::chrono::minutes(1)) {}

  Status Init();
  Status Start();
  void Stop();
  PipelineSnapshot Snapshot() const;
  std::string LogStatus() const { return agent::LogStatus(Snapshot(), *log_); }
  std::string Stuck(std::chrono::milliseconds limit) const;

  // ModelSync::Host, on the sync thread: the scoring stage checks and swaps models; outcomes go
  // upstream through the outbox.
  Status CheckFits(const std::string& model, const inference::Manifest& manifest) override {
    return stage_->CheckFits(model, manifest);
  }
  void InstallModel(const std::string& model, LoadedModel loaded) override {
    stage_->QueueInstall(model, std::move(loaded));
  }
  void ReportModel(const ModelStatusMessage& message) override;

 private:
  void InternTags();
  Status CreateModelSync();
  Status CreateSources();
  Status CreateUpstream();
  void PublishOnline();
  void WakePublisher() {
    if (publisher_ != nullptr) publisher_->Wake();
  }
  void WakeUplink() {
    if (uplink_ != nullptr) uplink_->Wake();
  }

  const config::AgentConfig config_;
  const Clock& clock_;

  TagRegistry tags_;  // thread-safe: MQTT sources intern template names at run time
  BoundedQueue<Sample> ingest_;
  BoundedQueue<Sample> to_storage_;
  Timestamp started_{};
  bool stopped_ = false;

  std::unique_ptr<storage::Storage> storage_;
  std::optional<DataDirWatch> dir_watch_;  // the data directory and its databases, as opened
  mutable std::atomic<bool> dir_problem_logged_{false};
  std::unique_ptr<ScoringStage> stage_;
  std::unique_ptr<storage::SampleWriter> writer_;
  std::unique_ptr<drivers::ModbusSource> modbus_;
  std::unique_ptr<drivers::MqttSource> mqtt_;
  // Open while the MQTT sources replay their journals (Start), to skip what is stored.
  std::optional<storage::SampleReader> replay_reader_;
  std::vector<Sample> replay_found_;
  std::unique_ptr<ModelSync> sync_;
  std::unique_ptr<OutboxPublisher> publisher_;
  std::unique_ptr<uplink::TelemetryUplink> uplink_;
  std::unique_ptr<drivers::MqttPublisher> upstream_;

  std::shared_ptr<spdlog::logger> log_;
  RateLimitedLog rate_log_;
};

// Every configured name gets its id now, deployment inputs included, so that the scoring
// stage's routes can be a plain vector indexed by TagId. MQTT template names interned later
// never feed a model.
void Pipeline::Impl::InternTags() {
  for (const config::ModbusDevice& device : config_.modbus) {
    for (const config::ModbusTag& tag : device.tags) tags_.Intern(tag.name);
  }
  for (const config::MqttSource& source : config_.mqtt_sources) {
    for (const config::MqttSourceTag& tag : source.tags) {
      if (tag.name.find('{') == std::string::npos) tags_.Intern(tag.name);
    }
  }
  for (const config::Deployment& d : config_.models.deployments) {
    for (const auto& [feature, tag] : d.inputs) tags_.Intern(tag);
  }
}

Status Pipeline::Impl::Init() {
  InternTags();
  EDGE_ASSIGN_OR_RETURN(storage_,
                        storage::Storage::Open(config_.gateway.data_dir, config_.storage));
  const std::filesystem::path dir(config_.gateway.data_dir);
  dir_watch_ = DataDirWatch::Take(
      dir.string(),
      {(dir / storage::kSamplesFile).string(), (dir / storage::kOutboxFile).string()});
  ScoringStageOptions scoring;
  scoring.clock = &clock_;
  scoring.on_alarm_queued = [this] {
    WakePublisher();
    WakeUplink();  // the alarm-context stream looks for the new alarm
  };
  scoring.on_models_changed = [this] { PublishOnline(); };
  stage_ = std::make_unique<ScoringStage>(config_, tags_, *storage_, std::move(scoring));
  EDGE_RETURN_IF_ERROR(CreateModelSync());
  EDGE_RETURN_IF_ERROR(stage_->Init(sync_.get()));
  EDGE_ASSIGN_OR_RETURN(writer_, storage_->CreateWriter(tags_, to_storage_, {}, clock_));
  EDGE_RETURN_IF_ERROR(CreateSources());
  return CreateUpstream();
}

// Model sync runs only for deployments that name a repository model.
Status Pipeline::Impl::CreateModelSync() {
  std::map<std::string, int> models = ScoringStage::RepositoryModels(config_);
  if (models.empty() || !config_.models.repository) return Status::Ok();
  ModelSyncOptions options;
  options.clock = &clock_;
  options.memory_budget = static_cast<int64_t>(config_.models.memory_budget);
  EDGE_ASSIGN_OR_RETURN(sync_, ModelSync::Create(*config_.models.repository,
                                                 config_.gateway.data_dir, std::move(models),
                                                 *this, options));
  return Status::Ok();
}

Status Pipeline::Impl::CreateSources() {
  EDGE_ASSIGN_OR_RETURN(modbus_, drivers::ModbusSource::Create(config_.modbus, tags_, ingest_));
  if (config_.mqtt_sources.empty()) return Status::Ok();
  drivers::MqttSource::Options options;
  options.clock = &clock_;
  // Received messages stay journaled until committed: a crash costs no reading.
  options.journal_dir = config_.gateway.data_dir + "/mqtt-journal";
  // A replay skips what was committed before the crash: one indexed lookup per replayed sample,
  // during Start only (replay_reader_ is closed after it).
  options.stored = [this](TagId tag, Timestamp ts) {
    if (!replay_reader_) {
      StatusOr<storage::SampleReader> r = storage::SampleReader::Open(storage_->samples_path());
      if (!r.ok()) return false;  // cannot tell: store it (a duplicate at worst)
      replay_reader_.emplace(std::move(*r));
    }
    replay_found_.clear();
    const Status s = replay_reader_->ReadRange(tags_.Name(tag), ts, ts, tag, replay_found_);
    return s.ok() && !replay_found_.empty();
  };
  EDGE_ASSIGN_OR_RETURN(mqtt_,
                        drivers::MqttSource::Create(config_.mqtt_sources, tags_, ingest_, options));
  return Status::Ok();
}

// The upstream connection: the birth message on every connect, the Last Will, and model notify
// messages for model sync.
Status Pipeline::Impl::CreateUpstream() {
  if (!config_.upstream) return Status::Ok();
  const std::string& prefix = config_.upstream->topic_prefix;
  const std::string& gateway = config_.gateway.id;
  drivers::MqttPublisher::Options up;
  up.will = drivers::MqttWill{StatusTopic(prefix, gateway), OfflinePayload(gateway), 1, true};
  up.on_connected = [this] {
    PublishOnline();
    WakePublisher();
  };
  if (sync_ != nullptr) {
    up.subscriptions.push_back(ModelNotifyTopic(prefix, gateway));
    up.on_message = [this](std::string_view, std::string_view payload) {
      sync_->Notify(payload);
    };
  }
  EDGE_ASSIGN_OR_RETURN(upstream_, drivers::MqttPublisher::Create(config_.upstream->broker, up));
  publisher_ = std::make_unique<OutboxPublisher>(storage_->outbox(), *upstream_);
  uplink::UplinkOptions uplink;
  uplink.clock = &clock_;
  uplink.alarms_idle = [this] { return publisher_->Idle(); };
  uplink_ = uplink::TelemetryUplink::Create(config_, storage_->samples_path(), storage_->outbox(),
                                            *upstream_, std::move(uplink));
  return Status::Ok();
}

Status Pipeline::Impl::Start() {
  started_ = clock_.Now();
  EDGE_RETURN_IF_ERROR(writer_->Start());
  if (upstream_ != nullptr) {
    EDGE_RETURN_IF_ERROR(upstream_->Start());
    publisher_->Start();
    if (uplink_ != nullptr) uplink_->Start();
  }
  if (Status s = stage_->RebuildWindows(); !s.ok()) {
    log_->error("rebuilding windows from storage: {}; scoring starts with empty windows",
                s.message());
  }
  stage_->Start(ingest_, to_storage_);
  if (sync_ != nullptr) sync_->Start();
  EDGE_RETURN_IF_ERROR(modbus_->Start());
  if (mqtt_ != nullptr) {
    const Status s = mqtt_->Start();
    replay_reader_.reset();
    EDGE_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

void Pipeline::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (sync_ != nullptr) sync_->Stop();  // no install arrives while the stages stop
  if (modbus_ != nullptr) modbus_->Stop();
  if (mqtt_ != nullptr) mqtt_->Stop();
  ingest_.Close();
  if (stage_ != nullptr) stage_->Join();
  to_storage_.Close();
  if (writer_ != nullptr) writer_->Stop();
  // Everything the MQTT sources received is committed now, unless the last commit failed: then
  // the journals keep it for the next start.
  if (mqtt_ != nullptr && writer_ != nullptr && !writer_->stats().paused) mqtt_->DiscardJournals();
  if (uplink_ != nullptr) uplink_->Stop();
  if (publisher_ != nullptr) publisher_->Stop();
  if (upstream_ != nullptr) upstream_->Stop();
}

void Pipeline::Impl::ReportModel(const ModelStatusMessage& message) {
  if (!config_.upstream || storage_ == nullptr) return;
  const StatusOr<uint64_t> seq = storage_->outbox().Append(
      ModelStatusTopic(config_.upstream->topic_prefix, config_.gateway.id),
      ModelStatusPayload(message), 1, false);
  if (!seq.ok()) {
    rate_log_.Error("outbox-append", "model status for {} could not be stored: {}", message.model,
                    seq.status().message());
    return;
  }
  WakePublisher();
}

// The retained birth message, with the models running now: on every connect and after every
// model change. Not an alarm: published directly, not through the outbox.
void Pipeline::Impl::PublishOnline() {
  if (upstream_ == nullptr) return;
  const StatusMessage online{.gateway = config_.gateway.id,
                             .agent_version = kAgentVersion,
                             .started = started_,
                             .ts = clock_.Now(),
                             .models = stage_->ActiveModels()};
  (void)upstream_->Publish(StatusTopic(config_.upstream->topic_prefix, config_.gateway.id),
                           OnlinePayload(online), 1, true);
}

PipelineSnapshot Pipeline::Impl::Snapshot() const {
  PipelineSnapshot snap;
  const QueueStats ingest = ingest_.GetStats();
  const QueueStats storage = to_storage_.GetStats();
  snap.ingest_depth = ingest.depth;
  snap.ingest_dropped = ingest.dropped;
  snap.storage_depth = storage.depth;
  snap.storage_dropped = storage.dropped;
  if (writer_ != nullptr) {
    snap.writer = writer_->stats();
    snap.samples_committed = snap.writer.samples_committed;
    snap.storage_paused = snap.writer.paused;
  }
  if (storage_ != nullptr) {
    StatusOr<uint64_t> pending = storage_->outbox().Pending();
    snap.outbox_pending = pending.ok() ? *pending : 0;
    snap.outbox_damaged = storage_->outbox().damaged_rows();
  }
  snap.state_files_damaged = DamagedStateFiles();
  if (dir_watch_) {
    snap.data_dir_problem = dir_watch_->Check();
    if (!snap.data_dir_problem.empty() && !dir_problem_logged_.exchange(true)) {
      log_->error("data directory: {}", snap.data_dir_problem);
    }
  }
  if (publisher_ != nullptr) snap.published = publisher_->published();
  if (modbus_ != nullptr) snap.modbus = modbus_->stats();
  if (mqtt_ != nullptr) snap.mqtt = mqtt_->stats();
  if (sync_ != nullptr) snap.models = sync_->stats();
  snap.upstream_configured = upstream_ != nullptr;
  snap.upstream_connected =
      upstream_ != nullptr && upstream_->stats().state == drivers::MqttConnectionState::kConnected;
  if (stage_ != nullptr) stage_->AppendDeployments(snap.deployments);
  if (uplink_ != nullptr) snap.uplink = uplink_->stats();
  snap.retention_seconds = std::chrono::duration<double>(config_.storage.retention).count();
  snap.storage_max_bytes = config_.storage.max_size_bytes;
  return snap;
}

std::string Pipeline::Impl::Stuck(std::chrono::milliseconds limit) const {
  if (stage_->running() && stage_->heartbeat().Age() > limit) return "the scoring stage";
  if (writer_ != nullptr && writer_->heartbeat().Age() > limit) return "the storage writer";
  if (publisher_ != nullptr && publisher_->running() && publisher_->heartbeat().Age() > limit) {
    return "the publisher";
  }
  if (uplink_ != nullptr && uplink_->running() && uplink_->heartbeat().Age() > limit) {
    return "the telemetry uplink";
  }
  if (modbus_ != nullptr) {
    if (std::string stuck = modbus_->Stuck(limit); !stuck.empty()) return stuck;
  }
  if (sync_ != nullptr) return sync_->Stuck(limit);
  return "";
}

// ---- Pipeline ----

Pipeline::Pipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pipeline::~Pipeline() { Stop(); }

StatusOr<std::unique_ptr<Pipeline>> Pipeline::Create(const config::AgentConfig& config,
                                                     PipelineOptions options) {
  auto impl = std::make_unique<Impl>(config, options);
  EDGE_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Pipeline>(new Pipeline(std::move(impl)));
}

Status Pipeline::Start() { return impl_->Start(); }
void Pipeline::Stop() { impl_->Stop(); }
PipelineSnapshot Pipeline::Snapshot() const { return impl_->Snapshot(); }
std::string Pipeline::LogStatus() const { return impl_->LogStatus(); }
std::string Pipeline::Stuck(std::chrono::milliseconds limit) const { return impl_->Stuck(limit); }

}  // namespace edge::agent
