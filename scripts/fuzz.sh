#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) and runs each for a bounded
# time (EDGE_FUZZ_SECONDS, default 30). A crash, leak or sanitizer report fails the run and leaves
# the reproducer in build/fuzz/findings/<target>/.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${EDGE_JOBS:-$(nproc)}
seconds=${EDGE_FUZZ_SECONDS:-30}
build="$root/build/fuzz"

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DEDGE_WERROR=ON \
  -DEDGE_FUZZ=ON -DEDGE_BUILD_TESTS=OFF -DEDGE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target fuzzers

targets=$(sed -n 's/^edge_add_fuzzer(\([A-Za-z0-9_]*\).*/\1/p' "$root/tests/fuzz/CMakeLists.txt")
for t in $targets; do
  corpus="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$corpus" "$findings"
  seeds=()
  [ -d "$root/tests/fuzz/corpus/$t" ] && seeds=("$root/tests/fuzz/corpus/$t")
  echo "== fuzz $t for ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/tests/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$findings/" "$corpus" "${seeds[@]}" 2>"$build/$t.log" \
    || { tail -50 "$build/$t.log"; echo "fuzz: $t failed; reproducer in $findings" >&2; exit 1; }
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$build/$t.log" | sed "s/^/  $t /"
done
