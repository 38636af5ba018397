// DESIGN: threads. The main thread owns the configuration, the data directory lock, the signal
// watcher and the ingest queue, and waits for signals. The Modbus source runs one thread per
// PLC connection (drivers/modbus_source.h); it is started after the data directory is locked
// and stopped before it is released. Until storage lands, the main thread drains the ingest
// queue once a tick and counts what it takes; it logs a poll summary every --status-interval.
#include "agent/daemon.h"

#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdio>

#include "agent/config_summary.h"
#include "agent/data_dir.h"
#include "agent/signals.h"
#include "config/config_loader.h"
#include "config/units.h"
#include "core/bounded_queue.h"
#include "core/logging.h"
#include "core/sample.h"
#include "core/tag_registry.h"
#include "core/version.h"
#include "drivers/modbus_source.h"

namespace edge::agent {
namespace {

constexpr auto kMainLoopTick = std::chrono::milliseconds(1000);
// Enough for several seconds of 1,000 tags at 10 Hz: the queue absorbs a slow consumer.
constexpr size_t kIngestQueueCapacity = 1 << 16;

void LogPollStatus(const drivers::ModbusSource& source, const QueueStats& queue,
                   spdlog::logger& log) {
  for (const drivers::ModbusDeviceStats& d : source.stats()) {
    log.info(
        "modbus device {} ({}): {}, {} polls, {} samples, {} timeouts, {} exceptions, "
        "{} bad responses, {} connection errors, last latency {} us",
        d.device, d.endpoint, d.connected ? "connected" : "not connected", d.polls, d.samples,
        d.timeouts, d.exceptions, d.bad_responses, d.connection_errors, d.last_latency.count());
  }
  log.info("ingest queue: depth {}, high water {}, dropped {}", queue.depth, queue.high_water,
           queue.dropped);
}

// Prints every diagnostic; returns the configuration or nullopt.
std::optional<config::AgentConfig> LoadOrReport(const std::string& path) {
  config::LoadResult result = config::LoadConfigFile(path);
  if (!result.ok()) {
    for (const config::Diagnostic& d : result.errors) {
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
    }
    return std::nullopt;
  }
  return std::move(result.config);
}

}  // namespace

int RunDaemon(const RunOptions& options) {
  std::optional<config::AgentConfig> config = LoadOrReport(options.config_path);
  if (!config) return 2;
  if (!options.data_dir.empty()) config->gateway.data_dir = options.data_dir;
  if (!options.log_level.empty()) config->gateway.log_level = options.log_level;

  StatusOr<config::Duration> status_interval = config::ParseDuration(options.status_interval);
  if (!status_interval.ok() || status_interval->count() <= 0) {
    std::fprintf(
        stderr, "edge-agent: --status-interval '%s': %s\n", options.status_interval.c_str(),
        status_interval.ok() ? "must be positive" : status_interval.status().message().c_str());
    return 2;
  }

  LogOptions log_options;
  log_options.level = config->gateway.log_level;
  if (Status s = InitLogging(log_options); !s.ok()) {
    std::fprintf(stderr, "edge-agent: --log-level: %s\n", s.message().c_str());
    return 2;
  }
  auto log = GetLogger("agent");
  log->info("edge-agent {} starting with {}", kAgentVersion, options.config_path);

  StatusOr<DataDirectory> data_dir = DataDirectory::Open(config->gateway.data_dir);
  if (!data_dir.ok()) {
    log->critical("{}", data_dir.status().message());
    return data_dir.status().ExitCode();
  }
  log->info("data directory {}", data_dir->path());

  SignalWatcher signals;
  if (Status s = signals.Install(); !s.ok()) {
    log->critical("{}", s.message());
    return 1;
  }

  LogConfiguration(*config, *log);

  TagRegistry tags;
  for (const config::ModbusDevice& device : config->modbus) {
    for (const config::ModbusTag& tag : device.tags) tags.Intern(tag.name);
  }
  BoundedQueue<Sample> ingest(kIngestQueueCapacity);
  StatusOr<std::unique_ptr<drivers::ModbusSource>> modbus =
      drivers::ModbusSource::Create(config->modbus, tags, ingest);
  if (!modbus.ok()) {
    log->critical("{}", modbus.status().message());
    return modbus.status().ExitCode();
  }
  if (Status s = (*modbus)->Start(); !s.ok()) {
    log->critical("{}", s.message());
    return 1;
  }
  if (!config->mqtt_sources.empty() || !config->models.deployments.empty() || config->upstream) {
    log->warn(
        "this build does not start MQTT sources, storage, models or the upstream "
        "publisher yet; they are configured but idle");
  }
  log->warn("this build has no storage yet: polled samples are counted and discarded");

  sd_notifyf(0, "READY=1\nSTATUS=running: %s", SummarizeConfig(*config).c_str());
  log->info("running; SIGTERM or SIGINT stops, SIGHUP re-reads {}", options.config_path);

  std::vector<Sample> drained;
  drained.reserve(kIngestQueueCapacity);
  auto next_status = std::chrono::steady_clock::now() + *status_interval;
  for (;;) {
    const SignalEvent event = signals.Wait(kMainLoopTick);
    while (ingest.PopBatch(drained, kIngestQueueCapacity, std::chrono::nanoseconds(0)) > 0) {
      drained.clear();
    }
    if (std::chrono::steady_clock::now() >= next_status) {
      LogPollStatus(**modbus, ingest.GetStats(), *log);
      next_status += *status_interval;
    }
    if (event == SignalEvent::kStop) break;
    if (event == SignalEvent::kReload) {
      sd_notify(0, "RELOADING=1");
      config::LoadResult reloaded = config::LoadConfigFile(options.config_path);
      if (!reloaded.ok()) {
        for (const config::Diagnostic& d : reloaded.errors) log->error("{}", d.ToString());
        log->error("reload: {} is invalid; keeping the running configuration", options.config_path);
      } else {
        log->warn(
            "reload: {} is valid, but applying a new configuration without a restart "
            "is not supported by this build; restart the service to apply it",
            options.config_path);
      }
      sd_notify(0, "READY=1");
    }
  }

  sd_notify(0, "STOPPING=1");
  log->info("stopping");
  // Reverse start order: sources first, then the queue; the data directory lock goes last.
  (*modbus)->Stop();
  ingest.Close();
  LogPollStatus(**modbus, ingest.GetStats(), *log);
  log->info("stopped");
  return 0;
}

}  // namespace edge::agent
