#!/usr/bin/env bash
# Sensitivity of the SKAB figures to the calibration factor and the alarm rule, on the packages a
# previous bench/skab/run.sh left in SKAB_OUT (no retraining: each package's threshold is
# 1.25 x the 99th percentile of its training windows' scores, so factor F is the threshold times
# F / 1.25, passed to `edge-agent predict --alarm RAISE,CLEAR,THRESHOLD`).
#
#   bench/skab/sweep.sh BUILD_DIR [FACTOR,RAISE,CLEAR ...]    (default: a small grid)
#
# These rows are chosen looking at the test parts: a sensitivity study, not a result to claim.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: bench/skab/sweep.sh BUILD_DIR [FACTOR,RAISE,CLEAR ...]" >&2; exit 2; }
build=$(cd "$1" && pwd)
shift
agent="$build/agent/edge-agent"
data=${SKAB_DIR:-$root/../shared/datasets/skab}
out=${SKAB_OUT:-$build/skab-eval}
[ -d "$out/packages" ] || { echo "sweep.sh: $out/packages: run bench/skab/run.sh first" >&2; exit 2; }
settings=("$@")
# shellcheck disable=SC2054  # each element is FACTOR,RAISE,CLEAR
[ ${#settings[@]} -gt 0 ] || settings=(1.0,3,10 1.25,3,10 1.5,3,10 2.0,3,10 1.25,1,1 1.25,5,30)
echo "| factor | raise_after | clear_after | F1 | FAR % | MAR % |"
echo "|---|---|---|---|---|---|"
for s in "${settings[@]}"; do
  IFS=, read -r factor raise clear <<<"$s"
  pred="$out/sweep/$factor-$raise-$clear"
  mkdir -p "$pred"
  for pkg in "$out"/packages/*/; do
    name=$(basename "$pkg")
    folder=${name%-*} n=${name##*-}
    threshold=$(/usr/bin/python3 -c "import json,sys; print(repr(json.load(open(sys.argv[1]))['output']['threshold'] * $factor / 1.25))" "$pkg/manifest.json")
    "$agent" predict --model "$pkg" --input "$data/$folder/$n.csv" \
      --alarm "$raise,$clear,$threshold" --output "$pred/$name.csv"
  done
  /usr/bin/python3 "$root/bench/skab/score.py" --data "$data" --pred "$pred" \
    --out "$pred/predictions.csv" | awk -F'|' -v f="$factor" -v r="$raise" -v c="$clear" \
    '/this run/ { gsub(/\*/, ""); printf "| %s | %s | %s |%s|%s|%s|\n", f, r, c, $3, $4, $5 }'
done
