#!/bin/bash
# Inference benchmark (issue #6): ours (inference_bench) next to ONNX Runtime
# 1.20.1 (onnxruntime-node) and PyTorch eager on the same ONNX files, same run.
#
#   bench/inference/run.sh [PATH_TO_inference_bench]
#
# Without an argument the first existing of build-inference/bench/inference_bench,
# build/bench/inference_bench, build-c2/bench/inference_bench is used; if none
# exists, "ours" shows as n/a. Environment: MIN_SECONDS (per timer, default 2),
# BATCHES (default "1 16"), ROUNDS (default 3: the whole sequence of timers is
# run that many times, interleaved, and the table takes each timer's best
# round, so that a burst of load on the shared machine hits one round of one
# implementation rather than decide the ratio), KEEP_DIR=DIR (write models and raw CSV there instead
# of a temporary directory that is removed). Installs onnxruntime-node into
# bench/inference/node_modules on first use (npm, --ignore-scripts: the CPU
# library ships in the package). Prints the raw CSV lines, then one Markdown
# table. One thread everywhere.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py=/usr/bin/python3
min_seconds="${MIN_SECONDS:-2}"
batches="${BATCHES:-1 16}"
rounds="${ROUNDS:-3}"

ours="${1:-}"
if [[ -z "$ours" ]]; then
  for c in build-inference build build-c2; do
    if [[ -x "$root/$c/bench/inference_bench" ]]; then
      ours="$root/$c/bench/inference_bench"
      break
    fi
  done
elif [[ ! -x "$ours" ]]; then
  echo "run.sh: $ours is not an executable" >&2
  exit 2
fi

if ! "$py" -c 'import torch, onnx' 2>/dev/null; then
  echo "run.sh: $py lacks torch/onnx (apt-get install python3-torch python3-onnx)" >&2
  exit 2
fi
if [[ ! -f "$here/node_modules/onnxruntime-node/package.json" ]]; then
  echo "run.sh: installing onnxruntime-node 1.20.1 into $here/node_modules" >&2
  (cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >&2)  # exactly package-lock.json
fi

if [[ -n "${KEEP_DIR:-}" ]]; then
  work="$KEEP_DIR"
  mkdir -p "$work"
else
  work="$(mktemp -d /tmp/inference-bench.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
fi
results="$work/results.csv"
: >"$results"

"$py" "$here/make_bench_models.py" "$work" >&2

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -n), load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "# ours: ${ours:-n/a}; MIN_SECONDS=$min_seconds; batches: $batches; rounds: $rounds" >&2

if [[ -n "$ours" ]]; then
  if peak="$("$ours" --peak-fma 2>>"$work/ours.err")"; then
    echo "$peak" | grep '^fma_peak_gflops,' >>"$results" || true
  else
    echo "run.sh: $ours --peak-fma failed (see below)" >&2
    cat "$work/ours.err" >&2
  fi
  if l2="$("$ours" --peak-l2 2>>"$work/ours.err")"; then
    echo "$l2" | grep -E '^(l1d_bytes|l2_read_gbytes),' >>"$results" || true
  else
    echo "run.sh: $ours --peak-l2 failed (see below)" >&2
    cat "$work/ours.err" >&2
  fi
fi

# name window features, one model per line.
mapfile -t models < <("$py" -c '
import json, sys
for m in json.load(open(sys.argv[1])):
    print(m["name"], m["window"], m["features"])' "$work/models.json")

for ((round = 1; round <= rounds; ++round)); do
  for b in $batches; do
    for line in "${models[@]}"; do
      read -r name window features <<<"$line"
      if [[ -n "$ours" ]]; then
        # Keep the timing line for this batch; name the model as models.json does.
        if out="$("$ours" --onnx "$work/$name.onnx" --window "$window" --features "$features" \
                    --batch "$b" --min-seconds "$min_seconds" 2>>"$work/ours.err")"; then
          echo "$out" | awk -F, -v n="$name" -v b="$b" \
            'NF == 5 && $3 == b && $4 ~ /^[0-9.eE+-]+$/ { l = "ours," n "," b "," $4 "," $5 }
             END { if (l != "") print l }' >>"$results"
        else
          echo "run.sh: inference_bench failed on $name batch $b:" >&2
          tail -5 "$work/ours.err" >&2
        fi
      fi
      node "$here/ort_bench.js" --onnx "$work/$name.onnx" --trivial "$work/trivial.onnx" \
        --window "$window" --features "$features" --batch "$b" \
        --min-seconds "$min_seconds" --model "$name" >>"$results"
      "$py" "$here/torch_bench.py" --state "$work/$name.pt" --batch "$b" \
        --min-seconds "$min_seconds" --model "$name" >>"$results"
    done
  done
done

echo "impl,model,batch,us_per_call,calls"
cat "$results"
echo
"$py" "$here/report.py" "$work/models.json" "$results"
