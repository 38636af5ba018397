#!/usr/bin/python3
"""Formats the CSV lines of bench/inference/run.sh as one Markdown table.

Usage: report.py MODELS_JSON RESULTS_CSV

RESULTS_CSV holds lines `impl,model,batch,us_per_call,calls` (impl ours,
ort, ort_trivial, ort_raw, torch) and optionally `fma_peak_gflops,<x>`,
`l1d_bytes,<n>` and `l2_read_gbytes,<x>` (inference_bench --peak-fma,
--peak-l2).
When a timer ran several rounds, its best (smallest) figure is used; ORT's own
figure is then best ort_raw minus best ort_trivial. A missing figure shows as
n/a.

The floor is a lower bound on any float32 implementation's time per window on
this core: the larger of (a) the window's FLOPs at the FMA peak and (b) the
part of each layer's recurrent matrix R (gates x hidden x hidden floats) that
cannot stay in L1 (its size less L1's), read from L2 at every step at the
measured L2 read rate (divided by the batch, as one read serves every row).
When the floor exceeds half of ONNX Runtime's time, the 0.5 target is out of
reach on this machine, whatever the kernels.
"""

import csv
import json
import sys


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    return "{:,.{}f}".format(v, digits)


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return None
    return a / b


def floor_us(m, batch, peak, l1d, l2_rate):
    """Lower bound on the time per window (µs), or None without the peaks."""
    if peak is None or l1d is None or l2_rate is None:
        return None
    compute = m["flops_per_window"] / (peak * 1e3)
    gates = 4 if m["cell"] == "lstm" else 3
    r_bytes = gates * m["hidden"] * m["hidden"] * 4
    streamed = m["layers"] * m["window"] * max(0, r_bytes - l1d)
    return max(compute, streamed / (l2_rate * 1e3) / batch)


def main(argv):
    if len(argv) != 2:
        print("usage: report.py MODELS_JSON RESULTS_CSV", file=sys.stderr)
        return 2
    models = json.load(open(argv[0]))
    per_call = {}
    peak = None
    l1d = None
    l2_rate = None
    with open(argv[1]) as f:
        for row in csv.reader(f):
            if not row:
                continue
            if row[0] == "fma_peak_gflops" and len(row) == 2:
                peak = float(row[1])
            elif row[0] == "l1d_bytes" and len(row) == 2:
                l1d = int(row[1])
            elif row[0] == "l2_read_gbytes" and len(row) == 2:
                l2_rate = float(row[1])
            elif len(row) == 5:
                try:
                    key, us = (row[0], row[1], int(row[2])), float(row[3])
                except ValueError:
                    continue
                per_call[key] = min(us, per_call.get(key, us))
    for (impl, name, b), raw in list(per_call.items()):
        triv = per_call.get(("ort_trivial", name, b))
        if impl == "ort_raw" and triv is not None:
            per_call[("ort", name, b)] = raw - triv
    batches = sorted({k[2] for k in per_call})
    head = ["model", "batch", "ours µs/window", "ORT µs/window",
            "PyTorch µs/window", "ours ÷ ORT", "ours ÷ PyTorch",
            "ours GFLOP/s", "ORT GFLOP/s", "FMA peak GFLOP/s",
            "floor µs/window", "0.5 × ORT µs/window",
            "ORT overhead µs/call (subtracted)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    misses = []
    out_of_reach = []
    for m in models:
        for b in batches:
            def window_us(impl):
                v = per_call.get((impl, m["name"], b))
                return None if v is None else v / b
            ours, ort, torch = window_us("ours"), window_us("ort"), window_us("torch")
            overhead = per_call.get(("ort_trivial", m["name"], b))

            def gflops(us):
                return None if not us else m["flops_per_window"] / us / 1e3
            r_ort = ratio(ours, ort)
            if r_ort is not None and r_ort > 0.5:
                misses.append("%s batch %d (%.2f)" % (m["name"], b, r_ort))
            floor = floor_us(m, b, peak, l1d, l2_rate)
            half = None if ort is None else ort / 2
            if floor is not None and half is not None and floor > half:
                out_of_reach.append("%s batch %d (floor %.1f µs > %.1f µs)"
                                    % (m["name"], b, floor, half))
            cells = [m["name"], str(b), fmt(ours), fmt(ort), fmt(torch),
                     fmt(r_ort, 2), fmt(ratio(ours, torch), 3),
                     fmt(gflops(ours), 2), fmt(gflops(ort), 2),
                     fmt(peak, 1), fmt(floor), fmt(half), fmt(overhead)]
            print("| " + " | ".join(cells) + " |")
    print()
    if not any(k[0] == "ours" for k in per_call):
        print("Target ours ÷ ORT ≤ 0.5: not measured (no inference_bench figures).")
    elif misses:
        print("Target ours ÷ ORT ≤ 0.5 missed for: " + ", ".join(misses) + ".")
    else:
        print("Target ours ÷ ORT ≤ 0.5 met on every measured row.")
    if out_of_reach:
        print("Out of reach on this machine (the floor is above half of ONNX "
              "Runtime's time): " + ", ".join(out_of_reach) + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
