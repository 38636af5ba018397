// DESIGN: threads. The main thread owns the configuration, the data directory lock and the
// signal watcher, and waits for signals; every other thread belongs to the Pipeline
// (agent/pipeline.h), which is created and started after the data directory is locked and
// stopped before it is released. The main thread logs the pipeline's status every
// --status-interval and passes a one-line summary to systemd (STATUS=).
#include "agent/daemon.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "agent/config_summary.h"
#include "agent/data_dir.h"
#include "agent/exit_codes.h"
#include "agent/http_endpoint.h"
#include "agent/pipeline.h"
#include "agent/signals.h"
#include "config/config_loader.h"
#include "config/units.h"
#include "core/logging.h"
#include "core/rate_limited_log.h"
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

// The pipeline and the HTTP endpoint that reads it. A reload stops and starts the pipeline but
// keeps the endpoint listening (detached meanwhile: /health answers 503) unless http.listen
// changes, so that no client can hold a reload up and the address is never dropped.
struct Running {
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<HttpEndpoint> http;
  std::string http_listen;  // where `http` listens

  Status Start(const config::AgentConfig& config, std::chrono::milliseconds stuck_limit) {
    EDGE_ASSIGN_OR_RETURN(pipeline, Pipeline::Create(config));
    if (Status s = pipeline->Start(); !s.ok()) {
      pipeline->Stop();
      pipeline.reset();
      return s;
    }
    if (config.http.listen != http_listen) {
      http.reset();
      http_listen.clear();
    }
    if (http == nullptr && !config.http.listen.empty()) {
      StatusOr<std::unique_ptr<HttpEndpoint>> started =
          HttpEndpoint::Start(config.http.listen, stuck_limit);
      if (!started.ok()) {
        Stop();
        return started.status();
      }
      http = std::move(*started);
      http_listen = config.http.listen;
      GetLogger("agent")->info("serving /metrics and /health on http://{}", config.http.listen);
    }
    if (http != nullptr) http->Attach(pipeline.get());
    return Status::Ok();
  }

  // Every stage drains before the next one closes: samples in the queues are committed, alarms
  // stay in the outbox. Nothing accepted is lost. `keep_listening`: for a reload.
  void Stop(bool keep_listening = false) {
    if (http != nullptr) http->Attach(nullptr);
    if (!keep_listening) {
      http.reset();
      http_listen.clear();
    }
    if (pipeline != nullptr) {
      pipeline->Stop();
      pipeline->LogStatus();
      pipeline.reset();
    }
  }
};

// SIGHUP: the file is parsed and validated into a fresh configuration. If it is invalid, or
// changes what cannot change while running (the data directory), the running one stays. If it
// is valid, the pipeline is stopped (draining every queue into storage and the outbox) and
// started again with it; if the new one cannot start (a model package that does not load, a
// port in use), the previous configuration is started again. Returns an error only if neither
// starts.
Status Reload(const RunOptions& options, config::AgentConfig& current, Running& running,
              std::chrono::milliseconds stuck_limit) {
  auto log = GetLogger("agent");
  config::LoadResult reloaded = config::LoadConfigFile(options.config_path);
  if (!reloaded.ok()) {
    for (const config::Diagnostic& d : reloaded.errors) log->error("{}", d.ToString());
    log->error("reload: {} is invalid; keeping the running configuration", options.config_path);
    return Status::Ok();
  }
  config::AgentConfig next = std::move(*reloaded.config);
  if (!options.data_dir.empty()) next.gateway.data_dir = options.data_dir;
  if (!options.log_level.empty()) next.gateway.log_level = options.log_level;
  if (next.gateway.data_dir != current.gateway.data_dir) {
    log->error(
        "reload: gateway.data_dir changes from {} to {}, which needs a restart; keeping the "
        "running configuration",
        current.gateway.data_dir, next.gateway.data_dir);
    return Status::Ok();
  }
  log->info("reload: {} is valid; restarting the pipeline with it", options.config_path);
  running.Stop(/*keep_listening=*/true);
  if (Status s = running.Start(next, stuck_limit); !s.ok()) {
    log->error("reload: the new configuration does not start: {}; going back to the previous one",
               s.message());
    return running.Start(current, stuck_limit);
  }
  LogConfiguration(next, *log);
  current = std::move(next);
  log->info("reload: applied");
  return Status::Ok();
}

// The systemd watchdog (WatchdogSec=): pinged every tick while every pipeline stage is going
// round its loop; a stuck stage withholds the pings, so that systemd restarts the agent.
struct Watchdog {
  bool enabled = false;
  uint64_t interval_usec = 0;
  // Half the interval (10 s without a watchdog, for /health), but never less than 3 s: the
  // publisher's loop sleeps up to a second.
  std::chrono::milliseconds stuck_limit{};

  static Watchdog FromSystemd() {
    Watchdog w;
    w.enabled = sd_watchdog_enabled(0, &w.interval_usec) > 0;
    w.stuck_limit = std::max<std::chrono::milliseconds>(
        w.enabled ? std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::microseconds(w.interval_usec / 2))
                  : std::chrono::seconds(10),
        std::chrono::seconds(3));
    return w;
  }
};

// Until SIGTERM or SIGINT: the watchdog pings, the periodic status, and SIGHUP's reload. An
// error only when a reload leaves no configuration running.
Status MainLoop(const RunOptions& options, config::Duration status_interval,
                const Watchdog& watchdog, SignalWatcher& signals, config::AgentConfig& config,
                Running& running) {
  auto log = GetLogger("agent");
  RateLimitedLog rate_log(log, 1, std::chrono::minutes(1));
  auto next_status = std::chrono::steady_clock::now() + status_interval;
  for (;;) {
    const SignalEvent event = signals.Wait(kMainLoopTick);
    if (watchdog.enabled) {
      const std::string stuck = running.pipeline->Stuck(watchdog.stuck_limit);
      if (stuck.empty()) {
        sd_notify(0, "WATCHDOG=1");
      } else {
        rate_log.Error("watchdog",
                       "watchdog: {} has made no progress for over {} ms; withholding "
                       "the watchdog ping so that systemd restarts the agent",
                       stuck, watchdog.stuck_limit.count());
      }
    }
    if (std::chrono::steady_clock::now() >= next_status) {
      sd_notifyf(0, "STATUS=%s", running.pipeline->LogStatus().c_str());
      next_status += status_interval;
    }
    if (event == SignalEvent::kStop) return Status::Ok();
    if (event == SignalEvent::kReload) {
      sd_notify(0, "RELOADING=1");
      EDGE_RETURN_IF_ERROR(Reload(options, config, running, watchdog.stuck_limit));
      sd_notifyf(0, "READY=1\nSTATUS=running: %s", SummarizeConfig(config).c_str());
    }
  }
}

}  // namespace

int RunDaemon(const RunOptions& options) {
  std::optional<config::AgentConfig> config = LoadOrReport(options.config_path);
  if (!config) return kExitBadInput;
  if (!options.data_dir.empty()) config->gateway.data_dir = options.data_dir;
  if (!options.log_level.empty()) config->gateway.log_level = options.log_level;

  StatusOr<config::Duration> status_interval = config::ParseDuration(options.status_interval);
  if (!status_interval.ok() || status_interval->count() <= 0) {
    std::fprintf(
        stderr, "edge-agent: --status-interval '%s': %s\n", options.status_interval.c_str(),
        status_interval.ok() ? "must be positive" : status_interval.status().message().c_str());
    return kExitBadInput;
  }

  LogOptions log_options;
  log_options.level = config->gateway.log_level;
  if (Status s = InitLogging(log_options); !s.ok()) {
    std::fprintf(stderr, "edge-agent: --log-level: %s\n", s.message().c_str());
    return kExitBadInput;
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
    return kExitRuntimeFailure;
  }

  LogConfiguration(*config, *log);

  const Watchdog watchdog = Watchdog::FromSystemd();
  if (watchdog.enabled) {
    log->info("systemd watchdog every {} ms; a stage stuck for {} ms stops the pings",
              watchdog.interval_usec / 1000, watchdog.stuck_limit.count());
  }

  Running running;
  if (Status s = running.Start(*config, watchdog.stuck_limit); !s.ok()) {
    log->critical("{}", s.message());
    return s.ExitCode();
  }
  sd_notifyf(0, "READY=1\nSTATUS=running: %s", SummarizeConfig(*config).c_str());
  log->info("running; SIGTERM or SIGINT stops, SIGHUP re-reads {}", options.config_path);

  if (Status s = MainLoop(options, *status_interval, watchdog, signals, *config, running);
      !s.ok()) {
    log->critical("{}", s.message());
    return s.ExitCode();
  }

  sd_notify(0, "STOPPING=1");
  log->info("stopping");
  // The pipeline stops its stages in reverse start order; the data directory lock goes last.
  running.Stop();
  log->info("stopped");
  return 0;
}

}  // namespace edge::agent
