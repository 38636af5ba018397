#!/usr/bin/env bash
# The demo command (README): installs what is missing, builds, starts plc-sim replaying a real
# pump experiment (SKAB valve1/0, tools/demo/skab/) on a loopback port, and runs the agent in the
# foreground polling it every 100 ms, logging a poll summary every 5 s. Ctrl-C stops both.
# The data directory is $EDGE_DEMO_DIR (default /tmp/edge-agent-demo).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${EDGE_JOBS:-$(nproc)}
data_dir=${EDGE_DEMO_DIR:-/tmp/edge-agent-demo}
build="$root/build/release"

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEDGE_BUILD_TESTS=OFF \
  -DEDGE_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target edge-agent plc-sim

mkdir -p "$data_dir"
rm -f "$data_dir/plc-sim.port"
"$build/tools/plc-sim/plc-sim" --map "$root/tools/demo/pump-plc.yaml" \
  --replay "$root/tools/demo/skab/valve1-0.csv" --step 1s --loop \
  --port-file "$data_dir/plc-sim.port" >"$data_dir/plc-sim.log" 2>&1 &
plc_sim=$!
trap 'kill $plc_sim 2>/dev/null; wait $plc_sim 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$data_dir/plc-sim.port" ] && break; sleep 0.1; done
[ -s "$data_dir/plc-sim.port" ] || { echo "demo: plc-sim did not start:" >&2; cat "$data_dir/plc-sim.log" >&2; exit 1; }
port=$(cat "$data_dir/plc-sim.port")
echo "demo: plc-sim (pid $plc_sim) replays SKAB valve1/0 on 127.0.0.1:$port; Ctrl-C stops" >&2

sed -e "s|@PORT@|$port|" -e "s|@DATA_DIR@|$data_dir/agent|" \
  "$root/tools/demo/agent.yaml.in" >"$data_dir/agent.yaml"
"$build/agent/edge-agent" run --config "$data_dir/agent.yaml" --status-interval 5s
