// Signed packages of the test model "pump" (tests/support/last_value_model.h: input "pressure",
// window 4, step 100 ms, threshold 0.5), made once per build tree and shared by every test
// process of agent_test: each export starts python and torch, so they are made in a scratch
// directory beside the cache and renamed into it in one step.
//
// Thread-safety: one call per process (from SetUpTestSuite); concurrent processes race safely.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace edge::agent::testing {

struct TestPackage {
  std::string dir;      // below the cache
  std::string version;  // x.y.z
  std::string variant;  // make_last_value_model.py: "last", "sqrt", "log"
  std::string key;      // private key file below the cache; made with its ".pub" if missing
};

// Makes every package of `packages` below `cache` unless a previous run did. Returns "" on
// success, otherwise what failed.
std::string MakeTestPackagesOnce(const std::filesystem::path& cache,
                                 const std::vector<TestPackage>& packages);

}  // namespace edge::agent::testing
