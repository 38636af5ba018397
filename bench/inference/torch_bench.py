#!/usr/bin/python3
"""PyTorch eager peer timer for bench/inference (issue #6).

Usage: /usr/bin/python3 bench/inference/torch_bench.py --state FILE.pt
           --batch B [--min-seconds S] [--model NAME]

Rebuilds the module saved by make_bench_models.py (config + state_dict) and
times module(x) on a fixed random input [B, window, features] with
torch.set_num_threads(1) and torch.no_grad(). Like ort_bench.js: warm-up of
S/10, then 5 slices of S/5 seconds, the fastest slice's mean is reported.
Prints one CSV line: torch,<model>,<batch>,<us_per_call>,<calls>
"""

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_bench_models  # noqa: E402

SLICES = 5


def run_for(module, x, seconds):
    calls = 0
    t0 = time.perf_counter_ns()
    limit = int(seconds * 1e9)
    while True:
        module(x)
        calls += 1
        elapsed = time.perf_counter_ns() - t0
        if elapsed >= limit:
            return calls, elapsed


def main(argv):
    ap = argparse.ArgumentParser(description="PyTorch eager timer")
    ap.add_argument("--state", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--model")
    args = ap.parse_args(argv)
    if args.batch <= 0 or args.min_seconds <= 0:
        ap.error("--batch and --min-seconds must be positive")
    torch.set_num_threads(1)
    saved = torch.load(args.state)
    config = saved["config"]
    module = make_bench_models.build(config).eval()
    module.load_state_dict(saved["state_dict"])
    name = args.model or os.path.splitext(os.path.basename(args.state))[0]
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch, config["window"], config["features"],
                    generator=gen)
    with torch.no_grad():
        y = module(x)
        if tuple(y.shape) != (args.batch, 1):
            raise RuntimeError("%s: output shape %s" % (args.state, tuple(y.shape)))
        run_for(module, x, args.min_seconds / 10)  # warm-up
        best = float("inf")
        total = 0
        for _ in range(SLICES):
            calls, ns = run_for(module, x, args.min_seconds / SLICES)
            best = min(best, ns / calls / 1e3)
            total += calls
    print("torch,%s,%d,%.3f,%d" % (name, args.batch, best, total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
