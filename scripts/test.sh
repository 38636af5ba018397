#!/usr/bin/env bash
# The test command (README, and what CI runs): installs what is missing, builds with warnings as
# errors, runs every test, then builds again with AddressSanitizer + UndefinedBehaviorSanitizer
# and runs every test once more. Tests start and stop the real peers they need themselves.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${EDGE_JOBS:-$(nproc)}

"$root/scripts/install-deps.sh"

echo "== build (warnings are errors)"
cmake -S "$root" -B "$root/build/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGE_WERROR=ON >/dev/null
cmake --build "$root/build/test" -j "$jobs"
echo "== tests"
ctest --test-dir "$root/build/test" --output-on-failure -j "$jobs" --timeout 600 -LE reliability
# The fault-injection suite's quick profile (issue #11): one test at a time, since several of its
# figures are timings; prints the table of figures.
echo "== reliability (quick profile)"
"$root/scripts/reliability.sh" quick "$root/build/test"
# The .deb from this build: files, Depends, conffiles, dpkg install into a scratch root,
# systemd-analyze verify and security (exposure <= 2.0) on the installed unit (issue #10).
echo "== package"
"$root/scripts/check-package.sh" "$root/build/test"

echo "== build with ASan + UBSan"
cmake -S "$root" -B "$root/build/asan" -DCMAKE_BUILD_TYPE=Debug -DEDGE_WERROR=ON \
  -DEDGE_SANITIZE=ON -DEDGE_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build/asan" -j "$jobs"
echo "== tests under ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Not under the sanitizers: the reliability suite (timings; the binary is the one tested above)
# and the demo and training tests, which exercise Python scripts around the same agent code.
ctest --test-dir "$root/build/asan" --output-on-failure -j "$jobs" --timeout 900 \
  -LE reliability -E '^(DemoTest|TrainTest)\.'

echo "== fuzz targets (clang, libFuzzer + ASan + UBSan, bounded time)"
"$root/scripts/fuzz.sh"
