// DESIGN: threads. This file runs on the main thread only: it owns the configuration, the data
// directory lock and the signal watcher, and waits for signals. The pipeline stages that later
// run in their own threads (sources, storage writer, scoring, publisher) are started after the
// data directory is locked and stopped in reverse order before it is released.
#include "agent/daemon.h"

#include <systemd/sd-daemon.h>

#include <chrono>
#include <cstdio>

#include "agent/config_summary.h"
#include "agent/data_dir.h"
#include "agent/signals.h"
#include "config/config_loader.h"
#include "core/logging.h"
#include "core/version.h"

namespace edge::agent {
namespace {

constexpr auto kMainLoopTick = std::chrono::milliseconds(1000);

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
  log->warn("this build has no data path yet: sources, storage, models and the upstream "
            "publisher are configured but not started");

  sd_notifyf(0, "READY=1\nSTATUS=running: %s", SummarizeConfig(*config).c_str());
  log->info("running; SIGTERM or SIGINT stops, SIGHUP re-reads {}", options.config_path);

  for (;;) {
    const SignalEvent event = signals.Wait(kMainLoopTick);
    if (event == SignalEvent::kStop) break;
    if (event == SignalEvent::kReload) {
      sd_notify(0, "RELOADING=1");
      config::LoadResult reloaded = config::LoadConfigFile(options.config_path);
      if (!reloaded.ok()) {
        for (const config::Diagnostic& d : reloaded.errors) log->error("{}", d.ToString());
        log->error("reload: {} is invalid; keeping the running configuration",
                   options.config_path);
      } else {
        log->warn("reload: {} is valid, but applying a new configuration without a restart "
                  "is not supported by this build; restart the service to apply it",
                  options.config_path);
      }
      sd_notify(0, "READY=1");
    }
  }

  sd_notify(0, "STOPPING=1");
  log->info("stopping");
  // Stages stop here in reverse start order; the data directory lock is released last.
  log->info("stopped");
  return 0;
}

}  // namespace edge::agent
