#!/usr/bin/python3
"""Pools the per-row alarms of `edge-agent predict --alarm` over the 34 SKAB test parts.

  score.py --data DATASET_DIR --pred PRED_DIR --out predictions.csv [--train-rows 400]
           [--size-bytes N --params N --ours-us X --torch-us Y]

PRED_DIR holds one `edge-agent predict --alarm` output per experiment, named <folder>-<n>.csv
(valve1-0.csv for valve1/0.csv). Every test row (row >= --train-rows) of every labelled file must
have a prediction. Writes one line per test row to --out (file,row,datetime,anomaly,score,alarm),
so the figures can be recomputed from it alone, and prints the pooled F1/FAR/MAR next to the
published leaderboard (SOURCE.md of the dataset).
"""

import argparse
import csv
import glob
import os
import sys

LEADERBOARD = [  # SOURCE.md: outlier detection, test parts only
    ("Conv-AE", 0.78, 13.55, 28.02), ("MSET", 0.78, 39.73, 14.13),
    ("T-squared + Q (PCA)", 0.76, 26.62, 24.92), ("LSTM-AE", 0.74, 29.96, 25.92),
    ("T-squared", 0.66, 19.21, 42.60), ("LSTM-VAE", 0.56, 9.13, 55.03),
    ("Vanilla LSTM", 0.54, 12.54, 59.53), ("Vanilla AE", 0.39, 2.59, 75.15),
    ("Isolation forest", 0.29, 2.56, 82.89),
]


def labelled_files(data):
    out = []
    for folder in ("valve1", "valve2", "other"):
        for path in glob.glob(os.path.join(data, folder, "*.csv")):
            out.append((folder, int(os.path.splitext(os.path.basename(path))[0]), path))
    return sorted(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--pred", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train-rows", type=int, default=400)
    ap.add_argument("--label", default="edge-agent GRU-AE")
    ap.add_argument("--size-bytes", type=int)
    ap.add_argument("--params", type=int)
    ap.add_argument("--ours-us", type=float)
    ap.add_argument("--torch-us", type=float)
    args = ap.parse_args()

    files = labelled_files(args.data)
    if len(files) != 34:
        sys.exit(f"score.py: {args.data}: expected 34 labelled files, found {len(files)}")
    tp = fp = fn = tn = 0
    per_file = []
    with open(args.out, "w", newline="") as out_file:
        out = csv.writer(out_file)
        out.writerow(["file", "row", "datetime", "anomaly", "score", "alarm"])
        for folder, n, path in files:
            name = f"{folder}/{n}.csv"
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f, delimiter=";"))
            pred_path = os.path.join(args.pred, f"{folder}-{n}.csv")
            with open(pred_path, newline="") as f:
                pred = {int(r["index"]): r for r in csv.DictReader(f)}
            c = [0, 0, 0, 0]  # tp fp fn tn of this file
            for i in range(args.train_rows, len(rows)):
                if i not in pred:
                    sys.exit(f"score.py: {pred_path}: no prediction for row {i} of {name}")
                label = int(float(rows[i]["anomaly"]))
                alarm = int(pred[i]["alarm"])
                if pred[i]["datetime"] != rows[i]["datetime"]:
                    sys.exit(f"score.py: {pred_path}: row {i} is {pred[i]['datetime']}, "
                             f"{name} says {rows[i]['datetime']}")
                c[(0 if alarm else 2) + (0 if label else 1)] += 1  # tp fp fn tn
                out.writerow([name, i, rows[i]["datetime"], label, pred[i]["score"], alarm])
            tp, fp, fn, tn = tp + c[0], fp + c[1], fn + c[2], tn + c[3]
            per_file.append((name, c))

    f1 = 2 * tp / (2 * tp + fp + fn)
    far = 100.0 * fp / (fp + tn)
    mar = 100.0 * fn / (fn + tp)
    print(f"SKAB outlier detection, {len(files)} files, test rows {tp + fp + fn + tn} "
          f"(TP {tp} FP {fp} FN {fn} TN {tn})")
    print()
    print("| Algorithm | F1 | FAR % | MAR % |")
    print("|---|---|---|---|")
    print(f"| **{args.label} (this run)** | **{f1:.3f}** | **{far:.2f}** | **{mar:.2f}** |")
    for name, lf1, lfar, lmar in LEADERBOARD:
        print(f"| {name} (published) | {lf1:.2f} | {lfar:.2f} | {lmar:.2f} |")
    print()
    print(f"Target F1 >= 0.80, FAR <= 15 %, MAR <= 25 %: F1 {'met' if f1 >= 0.80 else 'missed'}"
          f" ({f1 - 0.80:+.3f}), FAR {'met' if far <= 15 else 'missed'} ({far - 15:+.2f} pts),"
          f" MAR {'met' if mar <= 25 else 'missed'} ({mar - 25:+.2f} pts)")
    print()
    print("per file (TP FP FN TN):", ", ".join(f"{n} {c[0]} {c[1]} {c[2]} {c[3]}"
                                            for n, c in per_file))
    if args.size_bytes:
        print()
        print(f"model size: {args.size_bytes} bytes of ONNX, {args.params} parameters")
    if args.ours_us and args.torch_us:
        print(f"latency per window (batch 1, one thread): edge-agent {args.ours_us:.1f} us, "
              f"PyTorch eager {args.torch_us:.1f} us, ratio ours/torch "
              f"{args.ours_us / args.torch_us:.2f}")
    print(f"per-row predictions: {args.out}")


if __name__ == "__main__":
    main()
