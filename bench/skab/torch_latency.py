#!/usr/bin/python3
"""PyTorch eager's time per window at batch 1, one thread, for the module train.py --save-torch
wrote: the peer figure next to inference_bench's. Same method as bench/inference: warm-up of
S/10, then 5 slices of S/5 seconds, the fastest slice's mean. Prints `torch,<us per window>`."""

import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tools/train"))
import skab_model  # noqa: E402


def main():
    path, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    torch.set_num_threads(1)
    model, saved = skab_model.load_torch(path)
    x = torch.randn(1, saved["window"], saved["features"], generator=torch.Generator().manual_seed(1))

    def run_for(limit):
        calls, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < limit:
            model(x)
            calls += 1
        return (time.perf_counter() - t0) / calls

    with torch.no_grad():
        run_for(seconds / 10)
        best = min(run_for(seconds / 5) for _ in range(5))
    print(f"torch,{best * 1e6:.2f}")


if __name__ == "__main__":
    main()
