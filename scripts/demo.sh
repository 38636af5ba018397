#!/usr/bin/env bash
# The demo command (README): installs what is missing, builds a release binary and runs the
# agent in the foreground on config/examples/full-line.yaml, with its data directory in
# $EDGE_DEMO_DIR (default /tmp/edge-agent-demo). Ctrl-C stops it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${EDGE_JOBS:-$(nproc)}
data_dir=${EDGE_DEMO_DIR:-/tmp/edge-agent-demo}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build/release" -DCMAKE_BUILD_TYPE=Release -DEDGE_BUILD_TESTS=OFF \
  -DEDGE_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build/release" -j "$jobs" --target edge-agent

exec "$root/build/release/agent/edge-agent" run --config "$root/config/examples/full-line.yaml" --data-dir "$data_dir"
