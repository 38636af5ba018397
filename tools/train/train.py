#!/usr/bin/python3
"""Train a GRU/LSTM window autoencoder on normal rows, calibrate its threshold, export ONNX and
pack a signed model package with `edge-agent model pack`.

  tools/train/train.py --train valve1/0.csv@0:400 --edge-agent build/agent/edge-agent \
      --key repo.key --out pkg/ [--name skab-pump --version 1.0.0] [--window 30 --hidden 16]

--train and --calibrate take PATH or PATH@START:END (0-based rows, END exclusive), and may be
repeated; windows never span two of them. Normalisation (mean/std per feature) is fitted on the
training rows; the threshold is `--factor` times the `--quantile` of the scores of the calibration
windows (default: the training windows). After packing, the package is checked: `edge-agent
predict` on the first training part must give PyTorch's scores (relative 1e-4), else exit 1.
Deterministic for a given --seed (one thread unless --threads). Exit 2 on bad input (a file,
rows or option; the message names it), 1 when packing or the check fails.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import skab_model  # noqa: E402


def parse_part(spec, features):
    path, start, end = spec, None, None
    if "@" in spec:
        path, rows = spec.rsplit("@", 1)
        try:
            start, end = (int(v) if v else None for v in rows.split(":"))
        except ValueError:
            raise skab_model.BadInput(f"'{spec}': rows must be START:END, e.g. 0:400")
    if not os.path.isfile(path):
        raise skab_model.BadInput(f"{path}: no such file")
    values, _ = skab_model.read_csv(path, features)
    part = values[start:end]
    if len(part) == 0:
        raise skab_model.BadInput(f"'{spec}': no rows selected ({len(values)} in the file)")
    return path, part


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--train", action="append", required=True, help="PATH[@START:END], repeatable")
    ap.add_argument("--calibrate", action="append", help="PATH[@START:END] (default: --train)")
    ap.add_argument("--features", default=",".join(skab_model.DEFAULT_FEATURES))
    ap.add_argument("--cell", choices=["gru", "lstm"], default="gru")
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--quantile", type=float, default=0.99)
    ap.add_argument("--factor", type=float, default=1.25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--name", default="skab-pump")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--step-ms", type=int, default=1000)
    ap.add_argument("--edge-agent", required=True, help="the edge-agent binary")
    ap.add_argument("--key", required=True, help="private key to sign with (model keygen)")
    ap.add_argument("--out", required=True, help="package directory to write")
    ap.add_argument("--save-torch", help="also save the PyTorch module (for bench/skab timing)")
    ap.add_argument("--no-check", action="store_true", help="skip the predict parity check")
    args = ap.parse_args()

    features = [f.strip() for f in args.features.split(",") if f.strip()]
    if not features or args.window < 2 or args.hidden < 1 or args.epochs < 1:
        raise skab_model.BadInput("need features, --window >= 2, --hidden >= 1, --epochs >= 1")
    if not 0 < args.quantile <= 1 or args.factor <= 0:
        raise skab_model.BadInput("--quantile must be in (0, 1], --factor > 0")
    skab_model.setup_determinism(args.seed, args.threads)

    train_parts = [parse_part(s, features) for s in args.train]
    calib_parts = [parse_part(s, features) for s in (args.calibrate or args.train)]
    rows = np.concatenate([p for _, p in train_parts])
    mean = rows.mean(axis=0)
    std = np.maximum(rows.std(axis=0), 1e-6 * np.maximum(np.abs(mean), 1.0))

    def norm_windows(parts):
        ws = [skab_model.windows((p - mean) / std, args.window) for _, p in parts]
        ws = [w for w in ws if len(w)]
        if not ws:
            raise skab_model.BadInput(f"every part is shorter than the window of {args.window}")
        return np.concatenate(ws)

    train_w = norm_windows(train_parts)
    model = skab_model.train(train_w, len(features), args.window, args.hidden, args.cell,
                             args.epochs, args.seed, lr=args.lr)
    threshold = skab_model.calibrate(skab_model.score(model, norm_windows(calib_parts)),
                                     args.quantile, args.factor)

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, "model.onnx")
        norm_path = os.path.join(tmp, "normalize.json")
        skab_model.export_onnx(model, args.window, len(features), onnx_path)
        skab_model.write_normalize(norm_path, mean, std)
        pack = [args.edge_agent, "model", "pack", "--onnx", onnx_path, "--name", args.name,
                "--version", args.version, "--features", ",".join(features),
                "--window", str(args.window), "--step-ms", str(args.step_ms),
                "--normalize", norm_path, "--threshold", repr(threshold),
                "--key", args.key, "--out", args.out]
        r = subprocess.run(pack, capture_output=True, text=True)
        if r.returncode != 0:
            # Its exit code passes on: 2 for bad input (a key, a name), 1 otherwise.
            sys.stderr.write(r.stdout + r.stderr)
            sys.stderr.write(f"train.py: edge-agent model pack failed (exit {r.returncode})\n")
            sys.exit(2 if r.returncode == 2 else 1)

        if not args.no_check:
            # The first training part through the packaged model and `edge-agent predict`.
            path, part = train_parts[0]
            csv_path = os.path.join(tmp, "check.csv")
            with open(csv_path, "w") as f:
                f.write(",".join(features) + "\n")
                for row in part:
                    f.write(",".join(repr(float(v)) for v in row) + "\n")
            r = subprocess.run([args.edge_agent, "predict", "--model", args.out, "--input",
                                csv_path], capture_output=True, text=True)
            if r.returncode != 0:
                sys.stderr.write(r.stderr)
                raise SystemExit(f"train.py: edge-agent predict on {path} failed")
            ours = np.array([float(l.split(",")[1]) for l in r.stdout.splitlines()[1:]])
            torch_scores = skab_model.score(
                model, skab_model.windows((part - mean) / std, args.window))
            # The CSV carries the raw values as float64 text; the agent reads float32 and
            # normalises in float32: allow for that as well as for kernel rounding.
            tol = 1e-4 * np.abs(torch_scores) + 1e-6
            if len(ours) != len(torch_scores) or np.any(np.abs(ours - torch_scores) > tol):
                worst = np.max(np.abs(ours - torch_scores) / np.maximum(np.abs(torch_scores),
                                                                         1e-9))
                raise SystemExit(f"train.py: edge-agent predict disagrees with PyTorch "
                                 f"(worst relative difference {worst:.2e})")
    if args.save_torch:
        skab_model.save_torch(args.save_torch, model, args.cell, args.window, len(features),
                              args.hidden)
    print(f"train.py: {args.out}: {args.cell} window {args.window} hidden {args.hidden}, "
          f"{len(train_w)} training windows, threshold {threshold:.6g}")


if __name__ == "__main__":
    try:
        main()
    except skab_model.BadInput as e:
        sys.stderr.write(f"train.py: {e}\n")
        sys.exit(2)
