#!/usr/bin/env bash
# Installs the Debian 12 packages edge-agent needs to build and test, when they are missing.
# Runs apt-get update first (only when something must be installed). Needs root, or sudo.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config git ccache
  # libraries (DESIGN §2)
  libmodbus-dev libpaho-mqttpp-dev libpaho-mqtt-dev libeigen3-dev libyaml-cpp-dev
  libsqlite3-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libsystemd-dev
  libssl-dev libcurl4-openssl-dev libcpp-httplib-dev libonnx-dev libprotobuf-dev protobuf-compiler
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzz targets and the -Wthread-safety + ThreadSanitizer build (libFuzzer and the sanitizer
  # runtimes come with clang); lld links every build of scripts/test.sh
  clang libclang-rt-14-dev lld
  # real peers the tests start
  mosquitto mosquitto-clients python3 python3-pymodbus python3-serial python3-serial-asyncio socat openssl
  # reference models exported by PyTorch; JSON Schema checks of published messages
  python3-torch python3-onnx python3-numpy python3-jsonschema
  # HTTPS model repository in tests
  nginx-light
  dpkg-dev systemd init-system-helpers binutils strace  # the .deb and scripts/check-package.sh
  python3-prometheus-client  # parses /metrics in tests
  influxdb  # the telemetry uplink's reliability test writes the influx stream into a real InfluxDB
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
