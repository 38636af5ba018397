#include "tests/agent/test_packages.h"

#include <unistd.h>

#include <fstream>

#include "tests/support/last_value_model.h"

namespace edge::agent::testing {

namespace fs = std::filesystem;

std::string MakeTestPackagesOnce(const fs::path& cache, const std::vector<TestPackage>& packages) {
  if (fs::exists(cache / "done")) return "";
  // Built beside the cache, so that the rename stays within one file system.
  const fs::path dir = cache.parent_path() / (".building-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  edge::testing::LastValueModel model;
  model.agent_binary = EDGE_AGENT_BINARY;
  model.python = EDGE_TEST_PYTHON;
  model.source_dir = EDGE_SOURCE_DIR;
  for (const TestPackage& p : packages) {
    edge::testing::PackageIdentity as;
    as.name = "pump";
    as.version = p.version;
    as.variant = p.variant;
    as.private_key = (dir / p.key).string();
    const std::string error = edge::testing::MakeLastValuePackage(model, dir / p.dir, as);
    if (!error.empty()) return error;
  }
  std::ofstream(dir / "done") << "ok\n";
  std::error_code ec;
  fs::rename(dir, cache, ec);  // another test process may have won the race: fine
  fs::remove_all(dir, ec);
  return fs::exists(cache / "done") ? "" : "cannot move the packages into " + cache.string();
}

}  // namespace edge::agent::testing
