#include "agent/cli/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <string>

#include "agent/cli/export_command.h"
#include "agent/cli/model_commands.h"
#include "agent/cli/predict_command.h"
#include "agent/cli/version_info.h"
#include "agent/config_summary.h"
#include "agent/daemon.h"
#include "agent/exit_codes.h"
#include "config/config_loader.h"

namespace edge::agent {
namespace {

int CheckConfig(const std::string& path) {
  const config::LoadResult result = config::LoadConfigFile(path);
  if (!result.ok()) {
    for (const config::Diagnostic& d : result.errors)
      std::fprintf(stderr, "%s\n", d.ToString().c_str());
    return kExitBadInput;
  }
  std::printf("%s: ok (%s)\n", path.c_str(), SummarizeConfig(*result.config).c_str());
  return 0;
}

}  // namespace

int RunCommandLine(int argc, char** argv) {
  CLI::App app{
      "edge-agent: machine-learning fault prediction next to the production line.\n"
      "Polls PLCs (Modbus) and sensors (MQTT), stores readings in SQLite, scores\n"
      "GRU/LSTM models on fixed-step windows and publishes alarms over MQTT.",
      "edge-agent"};
  app.require_subcommand(1);
  app.footer("Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input.");
  int exit_code = 0;

  // run
  RunOptions run_options;
  CLI::App* run = app.add_subcommand("run", "Run the daemon");
  run->add_option("--config", run_options.config_path, "Configuration file")->capture_default_str();
  run->add_option("--data-dir", run_options.data_dir, "Override gateway.data_dir");
  run->add_option("--log-level", run_options.log_level,
                  "Override gateway.log_level (trace debug info warn error critical off)");
  run->add_option("--status-interval", run_options.status_interval,
                  "How often the per-device poll summary is logged (e.g. 10s)")
      ->capture_default_str();
  run->callback([&] { exit_code = RunDaemon(run_options); });

  // check-config
  std::string check_path;
  CLI::App* check = app.add_subcommand(
      "check-config", "Validate a configuration file; errors as PATH:LINE:COL: error: MESSAGE");
  check->add_option("PATH", check_path, "Configuration file")->required();
  check->callback([&] { exit_code = CheckConfig(check_path); });

  // predict
  PredictOptions predict_options;
  CLI::App* predict = app.add_subcommand("predict", "Score a CSV offline with a model package");
  predict->add_option("--model", predict_options.model_dir, "Model package directory")->required();
  predict
      ->add_option("--input", predict_options.input_csv, "Input CSV (header row; , or ; separated)")
      ->required();
  predict->add_option("--output", predict_options.output_csv,
                      "Output CSV (default: standard output)");
  predict->add_option("--alarm", predict_options.alarm,
                      "RAISE,CLEAR[,THRESHOLD]: add an alarm column (0/1) per window, decided by "
                      "the daemon's alarm rule (threshold default: the manifest's)");
  predict->callback([&] { exit_code = RunPredict(predict_options); });

  // model keygen | pack | verify | publish
  CLI::App* model = app.add_subcommand("model", "Build, sign, verify and publish model packages");
  model->require_subcommand(1);
  std::string private_key, public_key;
  CLI::App* keygen = model->add_subcommand("keygen", "Make an ed25519 key pair (PEM)");
  keygen->add_option("--private", private_key, "Private key file to write")->required();
  keygen->add_option("--public", public_key, "Public key file to write")->required();
  keygen->callback([&] { exit_code = RunModelKeygen(private_key, public_key); });

  PackOptions pack_options;
  CLI::App* pack = model->add_subcommand("pack", "Build and sign a model package");
  pack->add_option("--onnx", pack_options.onnx, "ONNX model file")->required();
  pack->add_option("--name", pack_options.name, "Model name")->required();
  pack->add_option("--version", pack_options.version, "Model version (x.y.z)")->required();
  pack->add_option("--features", pack_options.features, "Input feature names, comma separated")
      ->required();
  pack->add_option("--window", pack_options.window, "Window length in steps")->required();
  pack->add_option("--stride", pack_options.stride, "Steps between windows")->capture_default_str();
  pack->add_option("--step-ms", pack_options.step_ms, "Step of the time grid in ms")
      ->capture_default_str();
  pack->add_option("--normalize", pack_options.normalize,
                   R"(JSON file {"mean":[...],"std":[...]})");
  pack->add_option("--threshold", pack_options.threshold,
                   "Score threshold for an anomalous window");
  pack->add_option("--key", pack_options.private_key, "Private key to sign with")->required();
  pack->add_option("--out", pack_options.out_dir, "Output directory")->required();
  pack->callback([&] { exit_code = RunModelPack(pack_options); });

  std::string package_dir;
  CLI::App* verify = model->add_subcommand("verify", "Check a package's signature, size, sha256");
  verify->add_option("DIR", package_dir, "Package directory")->required();
  verify->add_option("--key", public_key, "Public key")->required();
  verify->callback([&] { exit_code = RunModelVerify(package_dir, public_key); });

  PublishOptions publish_options;
  CLI::App* publish = model->add_subcommand(
      "publish", "Copy a package into a repository tree and sign its latest.json");
  publish->add_option("DIR", publish_options.package_dir, "Package directory")->required();
  publish->add_option("--repo", publish_options.repo_root, "Repository root directory")
      ->required();
  publish->add_option("--key", publish_options.private_key, "Private key to sign latest.json")
      ->required();
  publish->add_option("--expires-in", publish_options.expires_in,
                      "Lifetime of latest.json (1h..366d); publish again before it ends")
      ->capture_default_str();
  publish->add_flag("--pin", publish_options.pin,
                    "Name this version even if it is lower (the signed way back from a bad one)");
  publish->callback([&] { exit_code = RunModelPublish(publish_options); });

  // version
  app.add_subcommand("version", "Print the version and the linked libraries' versions")
      ->callback([] { std::fputs(VersionReport().c_str(), stdout); });

  // export
  std::string export_config = run_options.config_path, tags, from, to;
  CLI::App* export_cmd =
      app.add_subcommand("export", "Stored samples as CSV: ts,tag,value,quality");
  export_cmd->add_option("--config", export_config, "Configuration file")->capture_default_str();
  export_cmd->add_option("--tags", tags, "Tags, comma separated (default: all)");
  export_cmd->add_option("--from", from, "Start: RFC 3339 or relative (-10m)");
  export_cmd->add_option("--to", to, "End: RFC 3339 or relative");
  export_cmd->callback([&] { exit_code = RunExport({export_config, tags, from, to}); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "edge-agent: error: %s\nRun 'edge-agent --help' for usage.\n", e.what());
    return kExitBadInput;
  }
  return exit_code;
}

}  // namespace edge::agent
