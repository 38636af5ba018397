#!/usr/bin/env bash
# Builds the Debian package from a configured build directory and checks it, without touching
# this system (run by scripts/test.sh after the tests; usable by hand):
#
#   scripts/check-package.sh BUILD_DIR
#
#  1. `cmake --install` into a staging root lays out the FHS paths the unit refers to;
#  2. `cpack -G DEB` builds edge-agent_<version>_<arch>.deb; `dpkg-deb -I/-c` show the control
#     fields, every file with its owner and mode, the conffiles and the maintainer scripts, and
#     Depends names the Debian package of every shared library the binary links (from its
#     DT_NEEDED entries and `dpkg -S`, not from a list kept here);
#  3. dpkg installs the .deb into a scratch root (--root, maintainer scripts run with DPKG_ROOT,
#     which systemd-sysusers and deb-systemd-helper honour): the user is created, the unit
#     enabled, the installed binary's `version` and `check-config` run; a reinstall keeps a
#     locally edited conffile; remove masks the unit, purge removes the conffile;
#  4. `systemd-analyze verify` on the installed unit (and with the serial-port drop-in) prints
#     nothing, and `systemd-analyze security --offline=yes` rates both at 2.0 or lower. The
#     scratch root gets the unit files and /usr/bin/kill of this system (the base system the
#     package depends on), so verify resolves targets and ExecReload=. A deliberately broken copy
#     of the unit must make verify complain, so the check is known to be able to fail;
#  5. the installed binary runs as an unprivileged user under strace against real peers on
#     loopback (plc-sim, mosquitto, an HTTP model repository) and every system call, socket
#     family and memory protection it uses must be allowed by the installed unit's
#     SystemCallFilter=, RestrictAddressFamilies= and MemoryDenyWriteExecute= (no systemd runs
#     here to enforce them, so this is how a sandbox that is too tight gets caught).
#
# Needs: cmake/cpack, dpkg, dpkg-deb, dpkg-shlibdeps (dpkg-dev), objdump (binutils),
# systemd-analyze and systemd-sysusers (systemd), deb-systemd-helper (init-system-helpers),
# strace, mosquitto, mosquitto_pub, python3, and plc-sim built in BUILD_DIR; all installed by
# scripts/install-deps.sh. Exit 0 when every check passes, 1 otherwise; the last line counts.
# Ports: ephemeral, 127.0.0.1 only. Every process it starts is stopped.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -f "$1/CMakeCache.txt" ]; then
  echo "usage: $0 BUILD_DIR   (a configured CMake build directory of edge-agent)" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
max_exposure=2.0

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL $*"; }
check() {  # check DESCRIPTION COMMAND...: passes when the command exits 0
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/check-package.XXXXXX")
trap 'rm -rf "$work"' EXIT

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || { echo "check-package: no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt" >&2; exit 2; }
arch=$(dpkg --print-architecture)

# Every path the package must hold (dpkg-deb -c spelling), with its mode.
expected_files=(
  "-rwxr-xr-x ./usr/bin/edge-agent"
  "-rw-r--r-- ./lib/systemd/system/edge-agent.service"
  "-rw-r--r-- ./usr/lib/sysusers.d/edge-agent.conf"
  "-rw-r--r-- ./etc/edge-agent/agent.yaml"
  "-rw-r--r-- ./usr/share/doc/edge-agent/README.md"
  "-rw-r--r-- ./usr/share/doc/edge-agent/DEPLOYING.md"
  "-rw-r--r-- ./usr/share/doc/edge-agent/TROUBLESHOOTING.md"
  "-rw-r--r-- ./usr/share/doc/edge-agent/REFERENCE.md"
  "-rw-r--r-- ./usr/share/doc/edge-agent/examples/serial-port.conf"
  "-rw-r--r-- ./usr/share/doc/edge-agent/examples/modbus-tcp.yaml"
  "-rw-r--r-- ./usr/share/doc/edge-agent/examples/modbus-rtu.yaml"
  "-rw-r--r-- ./usr/share/doc/edge-agent/examples/mqtt-sensors.yaml"
  "-rw-r--r-- ./usr/share/doc/edge-agent/examples/full-line.yaml"
)
for schema in "$root"/docs/schemas/*.json; do
  expected_files+=("-rw-r--r-- ./usr/share/doc/edge-agent/schemas/$(basename "$schema")")
done

echo "== check-package: build (cmake re-reads the project, so CPackConfig.cmake is current)"
if cmake "$build" >"$work/configure.log" 2>&1 &&
  cmake --build "$build" -j "${EDGE_JOBS:-$(nproc)}" >"$work/build.log" 2>&1; then
  ok "configure and build $build"
else
  fail "configure and build $build"; tail -50 "$work/configure.log" "$work/build.log"
  echo "check-package: $passed passed, $failed failed"
  exit 1
fi

echo "== check-package: cmake --install into a staging root"
stage="$work/stage"
if DESTDIR="$stage" cmake --install "$build" --prefix /usr >"$work/install.log" 2>&1; then
  ok "cmake --install --prefix /usr (DESTDIR staging root)"
else
  fail "cmake --install"; cat "$work/install.log"
fi
for entry in "${expected_files[@]}"; do
  path=${entry#* ./}
  check "installed /$path" test -f "$stage/$path"
done
check "installed binary runs: version" "$stage/usr/bin/edge-agent" version

echo "== check-package: cpack -G DEB"
rm -rf "$build/package"
if (cd "$build" && cpack -G DEB -B "$build/package") >"$work/cpack.log" 2>&1; then
  ok "cpack -G DEB"
else
  fail "cpack -G DEB"; cat "$work/cpack.log"
  echo "check-package: $passed passed, $failed failed"
  exit 1
fi
deb="$build/package/edge-agent_${version}_${arch}.deb"
if [ ! -f "$deb" ]; then
  fail "package file $deb"; ls -l "$build/package" || true
  echo "check-package: $passed passed, $failed failed"
  exit 1
fi
ok "package file $(basename "$deb")"

echo "== check-package: control fields (dpkg-deb -I)"
dpkg-deb -I "$deb" >"$work/info"
field() { dpkg-deb -f "$deb" "$1"; }
check "Package: edge-agent" test "$(field Package)" = edge-agent
check "Version: $version" test "$(field Version)" = "$version"
check "Architecture: $arch" test "$(field Architecture)" = "$arch"
check "Maintainer set" test -n "$(field Maintainer)"
check "Description set" test -n "$(field Description)"
depends=$(field Depends)
echo "       Depends: $depends"
# Each alternative group of Depends, one per line, as package names only.
dep_names() { tr ',' '\n' <<<"$depends" | sed 's/([^)]*)//g; s/|/ /g; s/^ *//; s/ *$//'; }
has_dep() { dep_names | tr ' ' '\n' | grep -qx "$1"; }
needed=$(objdump -p "$stage/usr/bin/edge-agent" 2>/dev/null | awk '$1 == "NEEDED" {print $2}' || true)
if [ -z "$needed" ]; then
  fail "the binary links shared libraries (objdump -p found no NEEDED entry)"
fi
for lib in $needed; do
  # The first ldconfig entry of that soname (awk reads all its input: no SIGPIPE under pipefail).
  path=$(ldconfig -p | awk -v lib="$lib" '$1 == lib && path == "" {path = $NF} END {print path}')
  pkg=""
  if [ -n "$path" ]; then
    real=$(readlink -f "$path")
    pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || true)
    pkg=${pkg%%:*}
  fi
  if [ -z "$pkg" ]; then
    fail "$lib: no Debian package owns it on this system"
    continue
  fi
  # The package, or a virtual package it provides (its shlibs may name that: libspdlog1.10-fmt9).
  names="$pkg $(dpkg-query -W -f='${Provides}' "$pkg" 2>/dev/null | sed 's/([^)]*)//g; s/,/ /g')"
  found=""
  for name in $names; do has_dep "$name" && found=$name && break; done
  if [ -n "$found" ]; then
    ok "Depends names $found (for $lib, from $pkg)"
  else
    fail "Depends lacks $pkg (for $lib)"
  fi
done
for pkg in libmodbus5 libpaho-mqttpp3-1 libsqlite3-0 libyaml-cpp0.7 libcurl4 libssl3 libsystemd0; do
  check "Depends names $pkg" has_dep "$pkg"
done
check "Depends names systemd (systemd-sysusers in postinst)" has_dep systemd
# apt would install it here: every dependency resolves on this Debian (a simulation; changes nothing).
if apt-get -s install "$deb" >"$work/apt-sim.log" 2>&1 && grep -q '^Inst edge-agent ' "$work/apt-sim.log"; then
  ok "apt-get -s install resolves every dependency"
else
  fail "apt-get -s install"; tail -20 "$work/apt-sim.log"
fi
check "Depends names init-system-helpers (deb-systemd-helper)" has_dep init-system-helpers

echo "== check-package: files (dpkg-deb -c), conffiles and maintainer scripts"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' >"$work/contents"
for entry in "${expected_files[@]}"; do
  mode=${entry%% *}
  path=${entry#* }
  check "$path $mode root/root" grep -qxF -e "$mode root/root $path" "$work/contents"
done
# Nothing outside the FHS places above (no headers, static libraries, /usr/local, tests).
stray=$(awk '{print $3}' "$work/contents" | grep -v -E \
  '^\./(usr/bin/edge-agent|lib/systemd/system/edge-agent\.service|usr/lib/sysusers\.d/edge-agent\.conf|etc/edge-agent/agent\.yaml|usr/share/doc/edge-agent/.+)$' |
  grep -v -E '/$' || true)
if [ -z "$stray" ]; then ok "no files outside the expected places"; else fail "unexpected files: $stray"; fi
ctrl="$work/control"
dpkg-deb -e "$deb" "$ctrl"
check "conffiles lists /etc/edge-agent/agent.yaml" grep -qx /etc/edge-agent/agent.yaml "$ctrl/conffiles"
for script in postinst prerm postrm; do
  check "$script is executable" test -x "$ctrl/$script"
  check "$script parses (sh -n)" sh -n "$ctrl/$script"
done
check "postinst creates the user (systemd-sysusers)" grep -q 'systemd-sysusers' "$ctrl/postinst"
check "postinst enables the unit (deb-systemd-helper)" grep -q 'deb-systemd-helper enable' "$ctrl/postinst"
check "packaged unit is systemd/edge-agent.service" cmp -s \
  <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/edge-agent.service) \
  "$root/systemd/edge-agent.service"

echo "== check-package: dpkg --root install into a scratch root"
sroot="$work/root"
mkdir -p "$sroot/var/lib/dpkg/info" "$sroot/var/lib/dpkg/updates" "$sroot/etc" "$sroot/usr/bin"
touch "$sroot/var/lib/dpkg/status" "$sroot/var/lib/dpkg/available"
ln -s usr/bin "$sroot/bin"
# Dependencies are not installed into the scratch root (this system has them); the maintainer
# scripts run outside a chroot with DPKG_ROOT set.
dpkg_root=(dpkg --root="$sroot" --force-script-chrootless --force-depends --log=/dev/null)
[ "$(id -u)" -eq 0 ] || dpkg_root+=(--force-not-root)
if "${dpkg_root[@]}" -i "$deb" >"$work/dpkg-install.log" 2>&1; then
  ok "dpkg --root -i (postinst ran)"
else
  fail "dpkg --root -i"; cat "$work/dpkg-install.log"
fi
status=$(dpkg-query --admindir="$sroot/var/lib/dpkg" -W -f='${db:Status-Status}' edge-agent 2>/dev/null || true)
check "package state is installed (got '$status')" test "$status" = installed
check "installed /usr/bin/edge-agent version" "$sroot/usr/bin/edge-agent" version
if "$sroot/usr/bin/edge-agent" version | grep -q "$version"; then ok "version prints $version"; else fail "version prints $version"; fi
check "shipped agent.yaml passes check-config" \
  "$sroot/usr/bin/edge-agent" check-config "$sroot/etc/edge-agent/agent.yaml"
check "postinst created user edge-agent (no login shell)" \
  grep -qE '^edge-agent:x:[0-9]+:[0-9]+:[^:]*:/var/lib/edge-agent:/(usr/)?s?bin/nologin$' "$sroot/etc/passwd"
check "postinst created group edge-agent" grep -q '^edge-agent:x:' "$sroot/etc/group"
check "postinst enabled the unit (multi-user.target.wants)" \
  test "$(readlink "$sroot/etc/systemd/system/multi-user.target.wants/edge-agent.service")" = \
  /lib/systemd/system/edge-agent.service
check "dpkg records the conffile" grep -q '^ /etc/edge-agent/agent.yaml [0-9a-f]\{32\}$' \
  "$sroot/var/lib/dpkg/status"
echo "# edited on site" >>"$sroot/etc/edge-agent/agent.yaml"
if "${dpkg_root[@]}" -i "$deb" >"$work/dpkg-reinstall.log" 2>&1; then
  ok "dpkg --root -i again (upgrade path: postinst with a previous version)"
else
  fail "dpkg --root -i again"; cat "$work/dpkg-reinstall.log"
fi
check "a locally edited conffile survives the reinstall" \
  grep -qx '# edited on site' "$sroot/etc/edge-agent/agent.yaml"

echo "== check-package: systemd-analyze on the installed unit"
# The base system the unit refers to: systemd's own units (targets) and /usr/bin/kill.
cp -an /lib/systemd/system/. "$sroot/lib/systemd/system/"
cp -n /usr/bin/kill "$sroot/usr/bin/kill"
analyze() {  # analyze LABEL: verify and security of edge-agent.service in the scratch root
  local label=$1 out exposure
  out=$(systemd-analyze verify --root="$sroot" edge-agent.service 2>&1) && [ -z "$out" ] &&
    ok "systemd-analyze verify ($label) prints nothing" ||
    { fail "systemd-analyze verify ($label)"; echo "$out"; }
  out=$(systemd-analyze security --offline=yes --root="$sroot" edge-agent.service 2>&1 || true)
  exposure=$(sed -n 's/.*Overall exposure level for edge-agent.service: \([0-9.]*\).*/\1/p' <<<"$out")
  if [ -z "$exposure" ]; then
    fail "systemd-analyze security ($label): no exposure level"; echo "$out"
  elif awk -v e="$exposure" -v m="$max_exposure" 'BEGIN {exit !(e <= m)}'; then
    ok "systemd-analyze security --offline=yes ($label): exposure $exposure <= $max_exposure"
  else
    fail "systemd-analyze security ($label): exposure $exposure > $max_exposure"
    grep '✗' <<<"$out" || true
  fi
}
analyze "as shipped"
dropin="$sroot/etc/systemd/system/edge-agent.service.d"
mkdir -p "$dropin"
if cp "$sroot/usr/share/doc/edge-agent/examples/serial-port.conf" "$dropin/" 2>/dev/null; then
  analyze "with the serial-port drop-in"
else
  fail "examples/serial-port.conf installed in the scratch root"
fi
check "the drop-in is applied (security counts PrivateDevices=no)" sh -c \
  "systemd-analyze security --offline=yes --root='$sroot' edge-agent.service | grep -q 'PrivateDevices=.*0\.2'"
rm -rf "$dropin"
# The verify check can fail: a misspelt key and a missing binary are reported.
cp "$sroot/lib/systemd/system/edge-agent.service" "$work/edge-agent.service.good"
sed -i 's/^ProtectHome=yes$/ProtectHome=yes\nProtectHomme=yes/; s|^ExecStart=/usr/bin/edge-agent |ExecStart=/usr/bin/edge-agent-missing |' \
  "$sroot/lib/systemd/system/edge-agent.service"
canary=$(systemd-analyze verify --root="$sroot" edge-agent.service 2>&1 || true)
if grep -q "ProtectHomme" <<<"$canary" && grep -q "edge-agent-missing" <<<"$canary"; then
  ok "verify reports a broken copy of the unit (the check can fail)"
else
  fail "verify did not report a broken copy of the unit: $canary"
fi
cp "$work/edge-agent.service.good" "$sroot/lib/systemd/system/edge-agent.service"

echo "== check-package: the running agent stays inside the unit's sandbox (strace)"
# The unit's SystemCallFilter=, RestrictAddressFamilies= and MemoryDenyWriteExecute= would stop a
# packaged agent that needs more; no systemd runs here to enforce them, so the installed binary
# runs as an unprivileged user under strace against real peers on loopback (plc-sim, mosquitto,
# an HTTP model repository serving a signed package): Modbus polling, MQTT ingest and upstream
# publishing, model download and install, scoring, SQLite, SIGHUP as ExecReload= sends it, and
# SIGTERM as systemd stops it. Every system call, socket family and memory protection it used
# must be what the installed unit allows.
sys="$work/sandbox"
mkdir -p "$sys/data" "$sys/repo"
chmod 755 "$work" "$sys"
agent="$sroot/usr/bin/edge-agent"
plcsim="$build/tools/plc-sim/plc-sim"
peers=()
stop_peers() { for p in "${peers[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; peers=(); }
trap 'stop_peers; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
missing_tools=""
for tool in strace mosquitto mosquitto_pub python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || missing_tools+=" $tool"
done
[ -x "$plcsim" ] || missing_tools+=" $plcsim"
if [ -n "$missing_tools" ]; then
  fail "sandbox run: missing$missing_tools (scripts/install-deps.sh installs them)"
else
  mqtt_port=$(free_port)
  http_port=$(free_port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mqtt_port" >"$sys/mosquitto.conf"
  "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$sys/mosquitto.conf" >"$sys/mosquitto.log" 2>&1 &
  peers+=($!)
  printf 'tags:\n  - {name: plc.f0, table: holding, address: 0, type: float32, value: 0.25}\n  - {name: plc.f1, table: holding, address: 2, type: int16, scale: 0.1, value: 1.5}\n' >"$sys/plc.yaml"
  "$plcsim" --map "$sys/plc.yaml" --port 0 --port-file "$sys/plc.port" >"$sys/plc.log" 2>&1 &
  peers+=($!)
  # A signed package of a small GRU model from the repository (input [batch, 4, 2]).
  "$agent" model keygen --private "$sys/repo.key" --public "$sys/repo.pub" >/dev/null
  "$agent" model pack --onnx "$root/tests/fuzz/corpus/onnx_loader_fuzzer/gru_h3.onnx" \
    --name pump-anomaly --version 1.0.0 --features f0,f1 --window 4 --step-ms 200 --threshold 0.5 \
    --key "$sys/repo.key" --out "$sys/pkg" >/dev/null
  "$agent" model publish "$sys/pkg" --repo "$sys/repo" --key "$sys/repo.key" >/dev/null
  python3 -m http.server --bind 127.0.0.1 --directory "$sys/repo" "$http_port" >"$sys/http.log" 2>&1 &
  peers+=($!)
  listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  for _ in $(seq 100); do  # peers up (at most 10 s)
    [ -s "$sys/plc.port" ] && listening "$mqtt_port" && listening "$http_port" && break
    sleep 0.1
  done
  cat >"$sys/agent.yaml" <<EOF
gateway: {id: sandbox-pc, data_dir: $sys/data}
modbus:
  - {name: plc, host: 127.0.0.1, port: $(cat "$sys/plc.port"), poll_interval: 50ms,
     tags: [{name: plc.f0, table: holding, address: 0, type: float32},
            {name: plc.f1, table: holding, address: 2, type: int16, scale: 0.1}]}
mqtt_sources:
  - {name: vib, broker: "tcp://127.0.0.1:$mqtt_port", topic: plant1/+/vib, tags: [{name: "{1}.vib", field: /rms}]}
upstream: {broker: "tcp://127.0.0.1:$mqtt_port", topic_prefix: plant1}
models:
  repository: {url: "http://127.0.0.1:$http_port/", poll_interval: 10s, trusted_keys: [repo.pub]}
  deployments:
    - {asset: pump1, model: pump-anomaly, inputs: {f0: plc.f0, f1: plc.f1}, alarm: {threshold: 0.01}}
EOF
  as_user=()
  if [ "$(id -u)" -eq 0 ]; then
    chown -R nobody "$sys/data"
    as_user=(-u nobody)  # the service never runs as root (SQLite as root calls fchown)
  fi
  chmod -R a+rX "$sys" "$sroot"
  strace -f -qq "${as_user[@]}" -o "$sys/trace" "$agent" run --config "$sys/agent.yaml" \
    --status-interval 1s >"$sys/agent.log" 2>&1 &
  tracer=$!
  for _ in $(seq 200); do  # until a window has been scored (at most 20 s)
    grep 'windows scored' "$sys/agent.log" | grep -qv ' 0 windows scored' && break
    sleep 0.1
  done
  # Retained, so that the source gets it whenever its subscription lands.
  mosquitto_pub -p "$mqtt_port" -r -t plant1/pump1/vib -m '{"rms": 0.5}' || true
  for _ in $(seq 100); do  # until a status line counts it (at most 10 s)
    grep -q 'mqtt source vib (.*[1-9][0-9]* messages' "$sys/agent.log" && break
    sleep 0.1
  done
  agent_pid=$(pgrep -P "$tracer" -x edge-agent || true)
  if [ -n "$agent_pid" ]; then
    /usr/bin/kill -HUP "$agent_pid"  # what ExecReload= runs
    sleep 1.5
    kill -TERM "$agent_pid"          # what systemctl stop sends
  fi
  agent_rc=0
  wait "$tracer" || agent_rc=$?
  stop_peers
  check "sandbox run: agent started under strace" test -n "$agent_pid"
  check "sandbox run: agent exited 0 on SIGTERM (got $agent_rc)" test "$agent_rc" -eq 0
  check "sandbox run: model downloaded, verified and installed" grep -q 'version 1.0.0 installed and running' "$sys/agent.log"
  check "sandbox run: windows scored" sh -c "grep 'windows scored' '$sys/agent.log' | grep -qv ' 0 windows scored'"
  check "sandbox run: Modbus polled" grep -q 'modbus device plc (.*): connected, [1-9]' "$sys/agent.log"
  check "sandbox run: MQTT message taken in" grep -q 'mqtt source vib (.*[1-9][0-9]* messages' "$sys/agent.log"
  check "sandbox run: alarm published upstream" grep -q '[1-9][0-9]* published, upstream connected' "$sys/agent.log"
  check "sandbox run: SIGHUP handled" grep -q 'reload:' "$sys/agent.log"
  if out=$(python3 - "$sys/trace" "$sroot/lib/systemd/system/edge-agent.service" 2>&1 <<'PY'
import re, subprocess, sys
trace, unit = sys.argv[1], sys.argv[2]

def expand(name, seen=None):
    """The system calls of a systemd-analyze syscall-filter group, nested groups expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                         text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if item and not item.startswith("#"):
            calls |= expand(item) if item.startswith("@") else {item}
    return calls

allowed, families, mdwe = None, None, False
for line in open(unit):
    key, _, value = line.strip().partition("=")
    if key == "SystemCallFilter":
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= expand(item) if item.startswith("@") else {item}
        allowed = (allowed or set()) - names if deny else (allowed or set()) | names
    elif key == "RestrictAddressFamilies":
        families = set(value.split())
    elif key == "MemoryDenyWriteExecute":
        mdwe = value in ("yes", "true", "1", "on")
if allowed is None or families is None or not mdwe:
    sys.exit("the unit lacks SystemCallFilter=, RestrictAddressFamilies= or MemoryDenyWriteExecute=")

used, problems = set(), []
for line in open(trace):
    parts = line.split(None, 1)
    if len(parts) < 2 or parts[1].startswith(("+++", "---", "<...")):
        continue
    m = re.match(r"([a-z0-9_]+)\((.*)", parts[1])
    if not m:
        continue
    call, args = m.groups()
    used.add(call)
    if call in ("socket", "socketpair"):
        family = args.split(",", 1)[0]
        # glibc's getaddrinfo probes the interfaces over netlink and falls back when the
        # family is refused, as RestrictAddressFamilies= refuses it (EAFNOSUPPORT).
        if family not in families and not (family == "AF_NETLINK" and "NETLINK_ROUTE" in args):
            problems.append(f"socket family {family} outside RestrictAddressFamilies=: {line.strip()}")
    if call in ("mmap", "mprotect", "pkey_mprotect") and "PROT_EXEC" in args:
        if "PROT_WRITE" in args or call != "mmap":
            problems.append(f"MemoryDenyWriteExecute= forbids: {line.strip()}")
outside = sorted(used - allowed)
if outside:
    problems.append("system calls outside SystemCallFilter=: " + " ".join(outside))
print(f"{len(used)} distinct system calls, all inside the filter" if not problems else "\n".join(problems))
sys.exit(1 if problems else 0)
PY
  ); then
    ok "sandbox run: $out"
  else
    fail "sandbox run: $out"
  fi
fi

echo "== check-package: dpkg --root remove and purge"
if "${dpkg_root[@]}" --remove edge-agent >"$work/dpkg-remove.log" 2>&1; then
  ok "dpkg --root --remove (prerm, postrm ran)"
else
  fail "dpkg --root --remove"; cat "$work/dpkg-remove.log"
fi
check "remove deletes the binary" test ! -e "$sroot/usr/bin/edge-agent"
check "remove keeps the conffile" test -f "$sroot/etc/edge-agent/agent.yaml"
check "remove masks the unit" test "$(readlink "$sroot/etc/systemd/system/edge-agent.service")" = /dev/null
if "${dpkg_root[@]}" --purge edge-agent >"$work/dpkg-purge.log" 2>&1; then
  ok "dpkg --root --purge"
else
  fail "dpkg --root --purge"; cat "$work/dpkg-purge.log"
fi
check "purge deletes the conffile" test ! -e "$sroot/etc/edge-agent/agent.yaml"
check "purge unmasks and disables the unit" sh -c \
  "test ! -L '$sroot/etc/systemd/system/edge-agent.service' && test ! -L '$sroot/etc/systemd/system/multi-user.target.wants/edge-agent.service'"

echo "check-package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
