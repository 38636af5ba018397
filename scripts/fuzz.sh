#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) and runs each for a bounded
# time (EDGE_FUZZ_SECONDS, default 20: seven targets stay within CI's budget; the full profile of
# scripts/reliability.sh passes 300). A crash, leak, sanitizer report or an input that runs longer
# than EDGE_FUZZ_TIMEOUT seconds (default 30: a hang) fails the run and leaves the reproducer in
# <build>/findings/<target>/. Each target ends with one summary line for docs/RELIABILITY.md:
#   fuzz summary: <target> seconds=S executions=N peak_rss_mb=M cov=C ft=F corpus=K crashes=0
# The build is build/fuzz, configured here; EDGE_FUZZ_BUILD=<dir> reuses instead a build configured
# with -DEDGE_FUZZ=ON (scripts/test.sh: its clang ASan + UBSan build, which runs the tests too).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${EDGE_JOBS:-$(nproc)}
seconds=${EDGE_FUZZ_SECONDS:-20}
timeout=${EDGE_FUZZ_TIMEOUT:-30}

if [ -n "${EDGE_FUZZ_BUILD:-}" ]; then
  build=$(cd "$EDGE_FUZZ_BUILD" && pwd)
  grep -q '^EDGE_FUZZ:BOOL=ON$' "$build/CMakeCache.txt" 2>/dev/null || {
    echo "fuzz.sh: EDGE_FUZZ_BUILD=$EDGE_FUZZ_BUILD: not a build configured with -DEDGE_FUZZ=ON" \
      "($build/CMakeCache.txt)" >&2
    exit 1
  }
else
  build="$root/build/fuzz"
  # Debug keeps the assertions; -O1 (as libFuzzer's documentation advises) runs the targets
  # several times faster than -O0, so the bounded time covers more inputs. Line tables are enough
  # for the file:line of a report's stack, and compile faster than full debug information.
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DEDGE_WERROR=ON \
    -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O1" \
    -DEDGE_FUZZ=ON -DEDGE_BUILD_TESTS=OFF -DEDGE_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" -j "$jobs" --target fuzzers

# One of libFuzzer's -print_final_stats figures ("stat::peak_rss_mb: 57") from a target's log.
final_stat() { sed -n "s/^stat::$2: *//p" "$build/$1.log" | tail -1; }

targets=$(sed -n 's/^edge_add_fuzzer(\([A-Za-z0-9_]*\).*/\1/p' "$root/tests/fuzz/CMakeLists.txt")
for t in $targets; do
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings"
  seeds=()
  [ -d "$root/tests/fuzz/corpus/$t" ] && seeds=("$root/tests/fuzz/corpus/$t")
  # Seeds that live elsewhere in the tree are read where they are, not copied into
  # tests/fuzz/corpus (libFuzzer writes only to the first folder, $corpus): the configuration
  # loader starts from the bad-config corpus (its .expected messages and data/ files are small
  # inputs too) and the examples.
  case $t in
    config_loader_fuzzer) seeds+=("$root/tests/config/bad" "$root/config/examples") ;;
  esac
  echo "== fuzz $t for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" "${seeds[@]}" 2>"$build/$t.log" \
    || { tail -50 "$build/$t.log"; echo "fuzz: $t failed; reproducer in $findings" >&2; exit 1; }
  # The last status line: "#N DONE cov: C ft: F corp: K/..." (or "#N pulse ..." if cut short).
  last=$(grep -E '^#[0-9]+' "$build/$t.log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  echo "fuzz summary: $t seconds=$seconds executions=$(final_stat "$t" number_of_executed_units)" \
    "peak_rss_mb=$(final_stat "$t" peak_rss_mb) cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} crashes=0"
done
