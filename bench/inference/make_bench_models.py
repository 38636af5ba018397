#!/usr/bin/python3
"""Benchmark models for bench/inference (issue #6).

Usage: /usr/bin/python3 bench/inference/make_bench_models.py OUTDIR

Writes to OUTDIR, for each benchmark model (8 features, GRU/LSTM stack with
batch_first, last step, Linear head to one score, random weights, fixed seed):
  <name>.onnx  torch.onnx.export, opset 17, input "input" [batch, window, 8]
               with a dynamic batch axis, output "output" [batch, 1]
  <name>.pt    the PyTorch state (config + state_dict) torch_bench.py rebuilds
               the module from
plus trivial.onnx (input "input" [batch, window, features], all dynamic; one
Slice + Squeeze giving [batch, 1]: the smallest graph with the same input, to
measure the ONNX Runtime binding's per-call overhead) and models.json:
  [{"name", "file", "window", "features", "cell", "layers", "hidden",
    "flops_per_window"}, ...]
flops_per_window counts a multiply-add as 2 FLOPs: the input projection and
the recurrent product of every layer and step (GRU 3 gates, LSTM 4) and the
head; elementwise gate arithmetic is not counted.
"""

import json
import os
import sys
import warnings

import onnx
import torch
from onnx import TensorProto, helper
from torch import nn

FEATURES = 8
OPSET = 17
MODELS = [
    # name, cell, layers, hidden, window
    ("gru_2x32_t64", "gru", 2, 32, 64),
    ("gru_1x64_t128", "gru", 1, 64, 128),
    ("gru_2x128_t128", "gru", 2, 128, 128),
    ("lstm_2x64_t128", "lstm", 2, 64, 128),
]


class BenchModel(nn.Module):
    def __init__(self, cell, features, layers, hidden):
        super().__init__()
        cls = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = cls(features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.head(y[:, -1, :])


def build(config):
    """Rebuilds the module from a config dict (used by torch_bench.py)."""
    return BenchModel(config["cell"], config["features"], config["layers"],
                      config["hidden"])


def flops_per_window(cell, features, layers, hidden, window):
    gates = 3 if cell == "gru" else 4
    total = 0
    inp = features
    for _ in range(layers):
        total += window * 2 * gates * hidden * (inp + hidden)
        inp = hidden
    return total + 2 * hidden


def write_trivial(path):
    dims = ["batch", "window", "features"]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])
    inits = [
        helper.make_tensor("starts", TensorProto.INT64, [2], [0, 0]),
        helper.make_tensor("ends", TensorProto.INT64, [2], [1, 1]),
        helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2]),
        helper.make_tensor("sq_axes", TensorProto.INT64, [1], [2]),
    ]
    nodes = [
        helper.make_node("Slice", ["input", "starts", "ends", "axes"], ["s"]),
        helper.make_node("Squeeze", ["s", "sq_axes"], ["output"]),
    ]
    graph = helper.make_graph(nodes, "trivial", [x], [y], inits)
    model = helper.make_model(graph, producer_name="make_bench_models",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main(argv):
    if len(argv) != 1:
        print("usage: make_bench_models.py OUTDIR", file=sys.stderr)
        return 2
    outdir = argv[0]
    os.makedirs(outdir, exist_ok=True)
    index = []
    for seed, (name, cell, layers, hidden, window) in enumerate(MODELS, 7):
        torch.manual_seed(seed)
        config = dict(cell=cell, features=FEATURES, layers=layers,
                      hidden=hidden, window=window)
        module = build(config).eval()
        onnx_file = name + ".onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, torch.zeros(2, window, FEATURES),
                              os.path.join(outdir, onnx_file),
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"},
                                            "output": {0: "batch"}},
                              opset_version=OPSET, do_constant_folding=True)
        model = onnx.load(os.path.join(outdir, onnx_file))
        onnx.checker.check_model(model)
        rnn_ops = [n.op_type for n in model.graph.node
                   if n.op_type in ("GRU", "LSTM")]
        if rnn_ops != [cell.upper()] * layers:
            raise RuntimeError("%s: RNN nodes %s" % (name, rnn_ops))
        torch.save({"config": config, "state_dict": module.state_dict()},
                   os.path.join(outdir, name + ".pt"))
        index.append(dict(name=name, file=onnx_file, window=window,
                          features=FEATURES, cell=cell, layers=layers,
                          hidden=hidden,
                          flops_per_window=flops_per_window(
                              cell, FEATURES, layers, hidden, window)))
    write_trivial(os.path.join(outdir, "trivial.onnx"))
    with open(os.path.join(outdir, "models.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    print("make_bench_models: %d models + trivial.onnx in %s" %
          (len(index), outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
