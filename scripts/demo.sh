#!/usr/bin/env bash
# The demo command (README): installs what is missing, builds, and starts on loopback ports
#   - mosquitto, the upstream broker;
#   - plc-sim replaying a real pump experiment with a valve fault (SKAB valve1/13 from 20 s before
#     the fault, tools/demo/skab/) at its own pace, one row a second;
#   - the agent (tools/demo/agent.yaml.in) polling plc-sim every 100 ms and scoring 30 s windows
#     with the reference model models/skab-pump/ (signature verified first), its log in
#     $EDGE_DEMO_DIR/agent.log;
#   - a subscriber that prints every alarm and status message readably, in the foreground.
# The first alarm arrives about a minute after the start. Ctrl-C stops everything it started.
#
# Environment: EDGE_DEMO_DIR (default /tmp/edge-agent-demo; the agent's data directory in it is
# wiped at the start), EDGE_JOBS (build
# jobs). For tests: EDGE_DEMO_BUILD_DIR=DIR uses DIR/agent/edge-agent and
# DIR/tools/plc-sim/plc-sim as they are (no install, no build), and EDGE_DEMO_EXIT_AFTER=N ends
# the demo after N alarm messages (exit 0), or with exit 1 after EDGE_DEMO_TIMEOUT seconds
# (default 300) without them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${EDGE_JOBS:-$(nproc)}
data_dir=${EDGE_DEMO_DIR:-/tmp/edge-agent-demo}
python=/usr/bin/python3

if [ -n "${EDGE_DEMO_BUILD_DIR:-}" ]; then
  build=$EDGE_DEMO_BUILD_DIR
else
  build="$root/build/release"
  "$root/scripts/install-deps.sh"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEDGE_BUILD_TESTS=OFF \
    -DEDGE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$build" -j "$jobs" --target edge-agent plc-sim
fi
agent="$build/agent/edge-agent"
plc_sim="$build/tools/plc-sim/plc-sim"
model="$root/models/skab-pump"

# Only what an earlier demo left (its alarm state above all, so that every demo starts cleared).
mkdir -p "$data_dir"
rm -rf "${data_dir:?}/agent" "$data_dir/messages" "$data_dir/plc-sim.port"
pids=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  trap - EXIT INT TERM
  # In reverse order of starting: the agent first, so that it drains and says goodbye.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "demo: $1" >&2
  [ -n "${2:-}" ] && [ -f "$2" ] && tail -20 "$2" >&2
  exit 1
}

"$agent" model verify "$model" --key "$root/models/keys/skab-pump.pub" >&2 ||
  fail "the model package $model does not verify"

# mosquitto on a free loopback port (asked of the kernel, then handed to mosquitto).
mqtt_port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mqtt_port" \
  >"$data_dir/mosquitto.conf"
mosquitto -c "$data_dir/mosquitto.conf" >"$data_dir/mosquitto.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null && break
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null ||
  fail "mosquitto did not start on port $mqtt_port:" "$data_dir/mosquitto.log"

# The subscriber first, so that it sees the agent's first message.
mkfifo "$data_dir/messages"
mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -q 1 -v -t 'demo/#' >"$data_dir/messages" 2>&1 &
pids+=("$!")
exit_after=()
[ -n "${EDGE_DEMO_EXIT_AFTER:-}" ] && exit_after=(--exit-after "$EDGE_DEMO_EXIT_AFTER")
"$python" "$root/tools/demo/show_alarms.py" "${exit_after[@]}" <"$data_dir/messages" &
show=$!
pids+=("$show")

"$plc_sim" --map "$root/tools/demo/pump-plc.yaml" --replay "$root/tools/demo/skab/valve1-13.csv" \
  --step 1s --loop --port-file "$data_dir/plc-sim.port" >"$data_dir/plc-sim.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do [ -s "$data_dir/plc-sim.port" ] && break; sleep 0.1; done
[ -s "$data_dir/plc-sim.port" ] || fail "plc-sim did not start:" "$data_dir/plc-sim.log"
port=$(cat "$data_dir/plc-sim.port")

sed -e "s|@PORT@|$port|" -e "s|@MQTT_PORT@|$mqtt_port|" -e "s|@DATA_DIR@|$data_dir/agent|" \
  -e "s|@MODEL@|$model|" "$root/tools/demo/agent.yaml.in" >"$data_dir/agent.yaml"
"$agent" run --config "$data_dir/agent.yaml" --status-interval 10s >"$data_dir/agent.log" 2>&1 &
pids+=("$!")
agent_pid=$!

cat >&2 <<MSG
demo: mosquitto on 127.0.0.1:$mqtt_port, plc-sim on 127.0.0.1:$port replaying SKAB valve1/13
demo: (a valve closes 20 s in), the agent (pid $agent_pid, log $data_dir/agent.log) scoring
demo: 30 s windows with models/skab-pump; the first alarm comes about a minute from now.
demo: alarms and status as the subscriber (mosquitto_sub -t 'demo/#') receives them; Ctrl-C stops.
MSG

if [ -n "${EDGE_DEMO_EXIT_AFTER:-}" ]; then
  deadline=$((SECONDS + ${EDGE_DEMO_TIMEOUT:-300}))
  while kill -0 "$show" 2>/dev/null; do
    kill -0 "$agent_pid" 2>/dev/null || fail "the agent exited:" "$data_dir/agent.log"
    [ $SECONDS -lt $deadline ] || fail "no alarm within ${EDGE_DEMO_TIMEOUT:-300} s; agent log:" \
      "$data_dir/agent.log"
    sleep 0.5
  done
  wait "$show" || fail "the subscriber ended before $EDGE_DEMO_EXIT_AFTER alarm(s)"
  exit 0
fi
while kill -0 "$agent_pid" 2>/dev/null; do sleep 1; done
fail "the agent exited:" "$data_dir/agent.log"
