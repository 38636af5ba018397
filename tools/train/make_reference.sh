#!/usr/bin/env bash
# Builds the reference model package models/skab-pump/ (issue #9): a GRU window autoencoder
# trained on normal operation of several SKAB runs of the valve test series, never on the runs the
# demo replays or the held-out runs.
#
#   tools/train/make_reference.sh EDGE_AGENT PRIVATE_KEY OUT_DIR [SKAB_DIR]
#
# Training rows: the first 400 rows (normal operation, before any fault) of valve1/1..12, 14 and
# valve2/0..3. Calibration (threshold = 1.25 x the 99th percentile of the window scores): rows
# 400..540 of the same runs, still normal (every fault of these runs starts after row 559) but not
# seen in training. Held out: valve1/0, valve1/13 (the demo's run) and valve1/15.
# Deterministic (seed 0, one thread): the same inputs give the same model.onnx.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ $# -ge 3 ] || { echo "usage: make_reference.sh EDGE_AGENT PRIVATE_KEY OUT_DIR [SKAB_DIR]" >&2; exit 2; }
agent=$1 key=$2 out=$3
data=${4:-$root/../shared/datasets/skab}
train=() calibrate=()
for run in valve1/{1..12} valve1/14 valve2/{0..3}; do
  train+=(--train "$data/$run.csv@0:400")
  calibrate+=(--calibrate "$data/$run.csv@400:540")
done
exec /usr/bin/python3 "$root/tools/train/train.py" "${train[@]}" "${calibrate[@]}" \
  --name skab-pump --version 1.0.0 --window 30 --hidden 16 --epochs 20 --seed 0 \
  --quantile 0.99 --factor 1.25 --edge-agent "$agent" --key "$key" --out "$out"
