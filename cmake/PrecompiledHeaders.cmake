# Precompiled headers: the third-party headers that most sources of a target include, parsed once
# per target instead of once per source. Each target names the groups it uses on one line,
#   target_precompile_headers(drivers_test PRIVATE ${EDGE_PCH_GTEST} ${EDGE_PCH_JSON})
# in its own CMakeLists.txt. -DCMAKE_DISABLE_PRECOMPILE_HEADERS=ON turns them all off: the clang
# ASan build of scripts/test.sh does, so that a source missing an #include still fails to build
# (a precompiled header is included first in every source of its target).
#
# Only headers that do not depend on a target's flags or macros: Eigen stays out, since
# inference/rnn_kernels_avx2.cc renames Eigen's namespace before including it and is compiled
# with -mavx2 (inference/CMakeLists.txt).

# Logging: most sources log (core/logging.h) or format messages.
set(EDGE_PCH_LOG <spdlog/logger.h> <fmt/format.h>)
# YAML: the configuration loader's readers.
set(EDGE_PCH_YAML <yaml-cpp/yaml.h>)
# JSON: messages, manifests, the agent's HTTP answers, and the tests that read them.
set(EDGE_PCH_JSON <nlohmann/json.hpp>)
# GoogleTest: every test source.
set(EDGE_PCH_GTEST <gtest/gtest.h>)
