#!/usr/bin/env bash
# The fault-injection suite (issue #11, docs/RELIABILITY.md).
#
#   scripts/reliability.sh [quick|full] [BUILD_DIR]
#
# EDGE_POWER_CUT_CYCLES overrides the profile's number of power cuts (PowerLoss.*: quick 10,
# full 100).
#
# quick (the default) is what CI runs, from scripts/test.sh, on the build it has just tested; full
# is run by hand and takes about two hours (the soak alone is one). Without BUILD_DIR the project
# is built in build/reliability. Prints every figure as a table and exits non-zero if a test or a
# figure failed. The full profile also runs each fuzz target for EDGE_FUZZ_SECONDS (default 300).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
profile=${1:-quick}
build=${2:-}
jobs=${EDGE_JOBS:-$(nproc)}
case "$profile" in
  quick) timeout=900; power_cuts=10 ;;
  full) timeout=5400; power_cuts=100 ;;
  *) echo "usage: $0 [quick|full] [BUILD_DIR]" >&2; exit 2 ;;
esac

if [ -z "$build" ]; then
  build="$root/build/reliability"
  "$root/scripts/install-deps.sh"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j "$jobs" --target reliability_test
fi
# The tests write their figures to this path from their own working directories: make it absolute.
build=$(realpath "$build")

figures="$build/reliability-$profile.jsonl"
rm -f "$figures"
status=0
EDGE_RELIABILITY_PROFILE=$profile EDGE_RELIABILITY_REPORT=$figures \
  EDGE_POWER_CUT_CYCLES=${EDGE_POWER_CUT_CYCLES:-$power_cuts} \
  ctest --test-dir "$build" -L reliability --output-on-failure --timeout "$timeout" || status=1
echo "== reliability figures ($profile profile)"
/usr/bin/python3 "$root/tests/reliability/report.py" "$figures" || status=1

if [ "$profile" = full ]; then
  EDGE_FUZZ_SECONDS=${EDGE_FUZZ_SECONDS:-300} "$root/scripts/fuzz.sh" || status=1
fi
exit $status
