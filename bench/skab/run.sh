#!/usr/bin/env bash
# SKAB evaluation (issue #9), one command:  bench/skab/run.sh BUILD_DIR
#
# The benchmark's protocol (../shared/datasets/skab/SOURCE.md): for each of the 34 labelled
# experiments, tools/train/train.py fits a GRU window autoencoder, its normalisation and its
# threshold on the first 400 rows only and packs it with `edge-agent model pack`; then
# `edge-agent predict --alarm 3,10` scores the whole file with the agent's own inference and marks
# every row with the daemon's alarm rule (agent/alarm_engine.h, raise after 3 anomalous windows,
# clear after 10 normal ones: the configuration defaults). score.py pools the confusion matrix over
# the test rows (row >= 400) of all 34 files and prints F1, FAR, MAR next to the leaderboard, the
# model size and the per-window latency (ours from BUILD_DIR/bench/inference_bench when built with
# -DEDGE_BUILD_BENCH=ON; PyTorch eager in the same run).
#
# Environment: SKAB_DIR (default ../shared/datasets/skab next to the repository), SKAB_OUT (default
# BUILD_DIR/skab-eval), SKAB_TRAIN_ARGS (extra train.py options, e.g. "--cell lstm"), SKAB_FEATURES
# (train.py --features, comma separated; names may hold spaces),
# SKAB_ALARM (default 3,10), SKAB_INFERENCE_BENCH (default BUILD_DIR/bench/inference_bench).
# Takes 8-14 minutes (measured on a busy 2-core machine: 34 trainings of about 15 s each).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: bench/skab/run.sh BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
agent="$build/agent/edge-agent"
[ -x "$agent" ] || { echo "run.sh: $agent: not built (cmake --build $1 --target edge-agent)" >&2; exit 2; }
data=${SKAB_DIR:-$root/../shared/datasets/skab}
[ -d "$data/valve1" ] || { echo "run.sh: $data: no SKAB data (set SKAB_DIR)" >&2; exit 2; }
out=${SKAB_OUT:-$build/skab-eval}
alarm=${SKAB_ALARM:-3,10}
python=/usr/bin/python3

rm -rf "$out"
mkdir -p "$out/packages" "$out/pred"
# A throw-away signing key: these packages are only scored here.
"$agent" model keygen --private "$out/eval.key" --public "$out/eval.pub" >/dev/null

for folder in valve1 valve2 other; do
  for csv in "$data/$folder"/*.csv; do
    name="$folder-$(basename "$csv" .csv)"
    # shellcheck disable=SC2086
    "$python" "$root/tools/train/train.py" --train "$csv@0:400" --name "skab-$name" \
      --edge-agent "$agent" --key "$out/eval.key" --out "$out/packages/$name" \
      --save-torch "$out/packages/$name.pt" ${SKAB_FEATURES:+--features "$SKAB_FEATURES"} \
      ${SKAB_TRAIN_ARGS:-} >"$out/packages/$name.log"
    "$agent" predict --model "$out/packages/$name" --input "$csv" --alarm "$alarm" \
      --output "$out/pred/$name.csv"
    echo "run.sh: $name: $(tail -1 "$out/packages/$name.log" | sed 's/^train.py: [^:]*: //')" >&2
  done
done

# Size and latency of one of the 34 models (they share the architecture): valve1/0's.
sample="$out/packages/valve1-0"
size=$(stat -c %s "$sample/model.onnx")
read -r cell window features params < <("$python" - "$sample.pt" <<'PY'
import sys, torch
s = torch.load(sys.argv[1])
print(s["cell"].upper(), s["window"], s["features"], sum(v.numel() for v in s["state"].values()))
PY
)
latency=()
bench=${SKAB_INFERENCE_BENCH:-$build/bench/inference_bench}
if [ -x "$bench" ]; then
  ours=$("$bench" --onnx "$sample/model.onnx" --window "$window" \
    --features "$features" --batch 1 --min-seconds 2 | cut -d, -f4)
  theirs=$("$python" "$root/bench/skab/torch_latency.py" "$sample.pt" 2 | cut -d, -f2)
  latency=(--ours-us "$ours" --torch-us "$theirs")
else
  echo "run.sh: $bench not built: no latency figures" >&2
fi

"$python" "$root/bench/skab/score.py" --data "$data" --pred "$out/pred" \
  --out "$out/predictions.csv" --label "edge-agent $cell-AE, window $window" --size-bytes "$size" --params "$params" "${latency[@]}" |
  tee "$out/results.md"
