// The cloud side's tooling in the one binary (DESIGN §4, §5, §7): `edge-agent model keygen`,
// `model pack`, `model verify` and `model publish`. A data scientist goes from an ONNX file to a
// signed package in a repository tree with two commands (pack, publish), after a one-time keygen.
//
// Each returns the process exit code: 0 success, 1 runtime failure (a file that cannot be
// written), 2 bad input (a model, key, package or option that is wrong), with a message on
// stderr naming the file and the fault.
//
// Thread-safety: called once, from the command line.
#pragma once

#include <optional>
#include <string>

namespace edge::agent {

int RunModelKeygen(const std::string& private_key, const std::string& public_key);

struct PackOptions {
  std::string onnx;
  std::string name;
  std::string version;
  std::string features;  // comma separated
  int window = 0;
  int stride = 1;
  int step_ms = 1000;
  std::string normalize;  // JSON file {"mean":[...],"std":[...]}; empty: none
  std::optional<double> threshold;
  std::string private_key;
  std::string out_dir;
};

int RunModelPack(const PackOptions& options);

int RunModelVerify(const std::string& package_dir, const std::string& public_key);

struct PublishOptions {
  std::string package_dir;
  std::string repo_root;
  std::string private_key;             // signs latest.json (latest.json.sig)
  std::string expires_in = "30d";      // latest.json's lifetime: republish before it ends
  bool pin = false;                    // name this version even if lower (the way back)
};

// Copies the package into <repo>/<name>/<version>/ (once; the same contents again is fine) and
// writes a signed latest.json (agent/sync/latest_document.h) with the next serial and a fresh
// expiry: naming the higher of this version and the one it named, or this one with `pin`.
// Running it again for the published version renews the expiry.
int RunModelPublish(const PublishOptions& options);

}  // namespace edge::agent
