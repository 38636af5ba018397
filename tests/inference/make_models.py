#!/usr/bin/python3
"""Reference models for the inference parity tests (issue #6).

Usage: /usr/bin/python3 tests/inference/make_models.py OUTDIR [--quick]

Builds PyTorch GRU/LSTM stacks with random weights (fixed seeds), exports each
with torch.onnx.export (dynamic batch axis, input "input" [batch, window,
features]) and writes, per model, OUTDIR/<name>/ with:
  model.onnx     the exported graph (passes onnx.checker)
  manifest.json  DESIGN section 5 package manifest (unsigned)
  input.csv      ts,f0,f1,... raw (un-normalised) values, window + 20 rows
  expected.csv   what `edge-agent predict --model DIR --input input.csv` must
                 print: index,ts,score[_k] with PyTorch eager float32 values
                 on the normalised windows, %.9g
and OUTDIR/index.json: [{name, description, opset, window, features, k,
graph_outputs, ops}, ...] where k is the width of the first output,
graph_outputs the number of graph outputs and ops a histogram of the ONNX op
types in the graph.

The GRU with linear_before_reset=0 (torch itself always exports 1) is made by
editing the exported GRU node's attribute; its expected values come from an
eager PyTorch GRU written out by hand with that gate formula, which is first
checked against nn.GRU in the linear_before_reset=1 form.
"""

import argparse
import collections
import datetime
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np
import onnx
import torch
from torch import nn

EXTRA_ROWS = 20
START = datetime.datetime(2026, 11, 20, 10, 0, 0, tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------------------
# Models. Every forward takes x [batch, window, features] (already normalised)
# and returns the score tensor [batch, K] first.


def make_rnn(cell, features, hidden, layers, bidirectional):
    cls = nn.GRU if cell == "gru" else nn.LSTM
    return cls(features, hidden, num_layers=layers, batch_first=True,
               bidirectional=bidirectional)


class Classifier(nn.Module):
    """RNN stack + pooling + Linear head (+ optional ReLU hidden layer)."""

    def __init__(self, cell, features, hidden, layers, bidirectional, pool,
                 outputs, mlp, sigmoid):
        super().__init__()
        self.rnn = make_rnn(cell, features, hidden, layers, bidirectional)
        width = hidden * (2 if bidirectional else 1)
        self.pool = pool
        if mlp:
            self.head = nn.Sequential(nn.Linear(width, mlp), nn.ReLU(),
                                      nn.Linear(mlp, outputs))
        else:
            self.head = nn.Linear(width, outputs)
        self.sigmoid = sigmoid

    def forward(self, x):
        y, _ = self.rnn(x)  # [batch, window, width]
        if self.pool == "last":
            z = y[:, -1, :]
        elif self.pool == "mean":
            z = y.mean(dim=1)
        elif self.pool == "max":
            z = y.max(dim=1).values
        else:
            raise ValueError(self.pool)
        z = self.head(z)
        return torch.sigmoid(z) if self.sigmoid else z


class LstmAutoencoder(nn.Module):
    """LSTM encoder -> last hidden state repeated over the window -> LSTM
    decoder -> Linear back to the features; score = MSE over the window."""

    def __init__(self, features, hidden, window):
        super().__init__()
        self.window = window
        self.encoder = nn.LSTM(features, hidden, batch_first=True)
        self.decoder = nn.LSTM(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def forward(self, x):
        _, (h, _) = self.encoder(x)  # h [1, batch, hidden]
        code = h[-1]  # [batch, hidden]
        rep = code.unsqueeze(1).expand(-1, self.window, -1)  # repeat vector
        d, _ = self.decoder(rep)
        recon = self.out(d)  # [batch, window, features]
        err = (recon - x).pow(2).mean(dim=2).mean(dim=1, keepdim=True)
        return err, recon


class Forecaster(nn.Module):
    """GRU over rows 0..T-2 predicts row T-1. Output 0 [batch, 2]: MSE and max
    absolute error of that prediction; output 1 [batch, features]: the
    forecast itself."""

    def __init__(self, features, hidden, layers):
        super().__init__()
        self.rnn = nn.GRU(features, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def forward(self, x):
        y, _ = self.rnn(x[:, :-1, :])
        pred = self.out(y[:, -1, :])  # [batch, features]
        diff = pred - x[:, -1, :]
        mse = (diff * diff).mean(dim=1, keepdim=True)
        mae = diff.abs().max(dim=1, keepdim=True).values
        return torch.cat([mse, mae], dim=1), pred


# ---------------------------------------------------------------------------
# A hand-written eager GRU (ONNX gate formulas) for linear_before_reset=0.


def eager_gru(gru, x, linear_before_reset):
    """Unidirectional nn.GRU weights, batch_first x. Returns y [B, T, H]."""
    assert not gru.bidirectional
    out = x
    for layer in range(gru.num_layers):
        w_ih = getattr(gru, "weight_ih_l%d" % layer)  # [3H, I], rows r, z, n
        w_hh = getattr(gru, "weight_hh_l%d" % layer)
        b_ih = getattr(gru, "bias_ih_l%d" % layer)
        b_hh = getattr(gru, "bias_hh_l%d" % layer)
        hsz = gru.hidden_size
        wr, wz, wn = w_ih[:hsz], w_ih[hsz:2 * hsz], w_ih[2 * hsz:]
        rr, rz, rn = w_hh[:hsz], w_hh[hsz:2 * hsz], w_hh[2 * hsz:]
        bir, biz, bin_ = b_ih[:hsz], b_ih[hsz:2 * hsz], b_ih[2 * hsz:]
        bhr, bhz, bhn = b_hh[:hsz], b_hh[hsz:2 * hsz], b_hh[2 * hsz:]
        h = torch.zeros(out.shape[0], hsz, dtype=out.dtype)
        ys = []
        for t in range(out.shape[1]):
            xt = out[:, t, :]
            r = torch.sigmoid(xt @ wr.T + bir + h @ rr.T + bhr)
            z = torch.sigmoid(xt @ wz.T + biz + h @ rz.T + bhz)
            if linear_before_reset:
                n = torch.tanh(xt @ wn.T + bin_ + r * (h @ rn.T + bhn))
            else:
                n = torch.tanh(xt @ wn.T + bin_ + (r * h) @ rn.T + bhn)
            h = (1 - z) * n + z * h
            ys.append(h)
        out = torch.stack(ys, dim=1)
    return out


class GruLbr0(nn.Module):
    """GRU + last step + Linear + Sigmoid; exported like any other model, then
    the GRU nodes are switched to linear_before_reset=0. forward() is the
    torch export path; reference() the eager lbr=0 computation."""

    def __init__(self, features, hidden, layers):
        super().__init__()
        self.rnn = nn.GRU(features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        y, _ = self.rnn(x)
        return torch.sigmoid(self.head(y[:, -1, :]))

    def reference(self, x, linear_before_reset):
        y = eager_gru(self.rnn, x, linear_before_reset)
        return torch.sigmoid(self.head(y[:, -1, :]))


# ---------------------------------------------------------------------------
# The model set.


# The ops DESIGN section 5 promises to load; an export outside this set is a
# generator bug (or a DESIGN change), not something to hand to the engine.
DESIGN_OPS = {
    "GRU", "LSTM", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Sigmoid",
    "Tanh", "Relu", "Abs", "Pow", "ReduceMean", "ReduceSum", "ReduceMax",
    "Transpose", "Squeeze", "Unsqueeze", "Slice", "Gather", "Shape", "Concat",
    "Constant", "ConstantOfShape", "Reshape", "Expand", "Equal", "Where",
}


def spec(name, description, opset, window, features, build, expect,
         quick=False, lbr0=False):
    """expect: {op_type: count} the exported graph must contain exactly."""
    return dict(name=name, description=description, opset=opset,
                window=window, features=features, build=build, expect=expect,
                quick=quick, lbr0=lbr0)


def model_specs():
    c = Classifier
    return [
        spec("gru_1x16_last", "GRU 1 layer hidden 16, last step, Linear, "
             "Sigmoid", 13, 24, 4,
             lambda: c("gru", 4, 16, 1, False, "last", 1, 0, True),
             {"GRU": 1, "LSTM": 0, "Gemm": 1, "Sigmoid": 1}, quick=True),
        spec("gru_2x32_mean", "GRU 2 layers hidden 32, mean over time, "
             "Linear", 17, 32, 6,
             lambda: c("gru", 6, 32, 2, False, "mean", 1, 0, False),
             {"GRU": 2, "ReduceMean": 1, "Gemm": 1, "Sigmoid": 0}),
        spec("gru_3x8_bi_last", "bidirectional GRU 3 layers hidden 8, last "
             "step, Linear 16-ReLU-Linear, Sigmoid", 13, 16, 3,
             lambda: c("gru", 3, 8, 3, True, "last", 1, 16, True),
             {"GRU": 3, "Gemm": 2, "Relu": 1, "Sigmoid": 1}),
        spec("gru_1x128_bi_mean_k3", "bidirectional GRU 1 layer hidden 128, "
             "mean over time, Linear to 3 scores", 17, 20, 5,
             lambda: c("gru", 5, 128, 1, True, "mean", 3, 0, False),
             {"GRU": 1, "ReduceMean": 1, "Gemm": 1}, quick=True),
        spec("lstm_1x64_last", "LSTM 1 layer hidden 64, last step, Linear, "
             "Sigmoid", 17, 32, 8,
             lambda: c("lstm", 8, 64, 1, False, "last", 1, 0, True),
             {"LSTM": 1, "GRU": 0, "Gemm": 1, "Sigmoid": 1}),
        spec("lstm_2x24_bi_mean", "bidirectional LSTM 2 layers hidden 24, "
             "mean over time, Linear, Sigmoid", 13, 20, 4,
             lambda: c("lstm", 4, 24, 2, True, "mean", 1, 0, True),
             {"LSTM": 2, "ReduceMean": 1, "Gemm": 1, "Sigmoid": 1},
             quick=True),
        spec("lstm_3x128_last", "LSTM 3 layers hidden 128, last step, "
             "Linear", 13, 16, 8,
             lambda: c("lstm", 8, 128, 3, False, "last", 1, 0, False),
             {"LSTM": 3, "Gemm": 1, "Sigmoid": 0}),
        spec("lstm_2x16_bi_max", "bidirectional LSTM 2 layers hidden 16, max "
             "over time, Linear 8-ReLU-Linear to 2 scores", 17, 12, 2,
             lambda: c("lstm", 2, 16, 2, True, "max", 2, 8, False),
             {"LSTM": 2, "ReduceMax": 1, "Gemm": 2, "Relu": 1}),
        spec("lstm_autoencoder", "LSTM autoencoder hidden 16: encoder, "
             "repeat vector, LSTM decoder, Linear; score = reconstruction MSE "
             "in-graph; second output the reconstruction", 17, 16, 4,
             lambda: LstmAutoencoder(4, 16, 16),
             {"LSTM": 2, "Expand": 1, "MatMul": 1, "Sub": 1, "Pow": 1,
              "ReduceMean": 2}, quick=True),
        spec("gru_forecaster", "GRU 2 layers hidden 24 forecasts the last row "
             "from the others; output 0 [MSE, max abs error], output 1 the "
             "forecast", 13, 24, 5,
             lambda: Forecaster(5, 24, 2),
             {"GRU": 2, "Sub": 1, "Abs": 1, "ReduceMax": 1, "ReduceMean": 1},
             quick=True),
        spec("gru_2x16_lbr0", "GRU 2 layers hidden 16 with "
             "linear_before_reset=0 (attribute edited after export), last "
             "step, Linear, Sigmoid", 17, 20, 3,
             lambda: GruLbr0(3, 16, 2), {"GRU": 2, "Gemm": 1, "Sigmoid": 1},
             quick=True, lbr0=True),
    ]


# ---------------------------------------------------------------------------


def f9(v):
    return "%.9g" % v


def ts_text(i):
    t = START + datetime.timedelta(seconds=i)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def export(module, window, features, opset, path, n_outputs):
    dummy = torch.zeros(2, window, features)
    names = ["output"] + ["output_%d" % i for i in range(1, n_outputs)]
    dyn = {"input": {0: "batch"}}
    for n in names:
        dyn[n] = {0: "batch"}
    with warnings.catch_warnings():
        # The exporter warns that batch_first RNNs with a dynamic batch size
        # may behave differently; the parity data checks exactly that.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, dummy, path, input_names=["input"],
                          output_names=names, dynamic_axes=dyn,
                          opset_version=opset, do_constant_folding=True)


def op_histogram(model):
    hist = collections.Counter(node.op_type for node in model.graph.node)
    return dict(sorted(hist.items()))


def set_gru_lbr(path, value):
    model = onnx.load(path)
    count = 0
    for node in model.graph.node:
        if node.op_type != "GRU":
            continue
        for attr in node.attribute:
            if attr.name == "linear_before_reset":
                attr.i = value
                count += 1
    if count == 0:
        raise RuntimeError("%s: no GRU linear_before_reset attribute" % path)
    onnx.save(model, path)


def make_one(s, outdir, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    module = s["build"]().eval()
    window, features = s["window"], s["features"]
    mdir = os.path.join(outdir, s["name"])
    os.makedirs(mdir, exist_ok=True)
    onnx_path = os.path.join(mdir, "model.onnx")

    # Raw data: per-feature offset and scale, a slow sine and noise; stored as
    # float32 values printed so that they read back exactly.
    mean = np.round(rng.uniform(-50.0, 50.0, features), 4).astype(np.float32)
    std = np.round(rng.uniform(0.05, 20.0, features), 4).astype(np.float32)
    rows = window + EXTRA_ROWS
    t = np.arange(rows, dtype=np.float64)[:, None]
    phase = rng.uniform(0, 2 * np.pi, features)
    raw = (mean + std * (0.8 * np.sin(t / 7.0 + phase) +
                         rng.standard_normal((rows, features))))
    raw = np.array([[float(f9(v)) for v in row] for row in raw.astype(np.float32)],
                   dtype=np.float32)
    norm = (raw - mean) / std  # float32 throughout
    windows = np.stack([norm[i:i + window] for i in range(rows - window + 1)])
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))

    with torch.no_grad():
        outs = module(x)
        if not isinstance(outs, tuple):
            outs = (outs,)
        if s["lbr0"]:
            # Check the hand-written GRU against nn.GRU in the form torch
            # exports, then take the lbr=0 scores from it.
            check = module.reference(x, linear_before_reset=1)
            if not torch.allclose(check, outs[0], rtol=1e-5, atol=1e-6):
                raise RuntimeError("hand-written GRU disagrees with nn.GRU")
            outs = (module.reference(x, linear_before_reset=0),)
    scores = outs[0].numpy()
    if scores.ndim != 2 or scores.shape[0] != windows.shape[0]:
        raise RuntimeError("%s: first output has shape %s" %
                           (s["name"], scores.shape))

    export(module, window, features, s["opset"], onnx_path, len(outs) if not
           s["lbr0"] else 1)
    if s["lbr0"]:
        set_gru_lbr(onnx_path, 0)
    model = onnx.load(onnx_path)
    onnx.checker.check_model(model)
    if model.opset_import[0].version != s["opset"]:
        raise RuntimeError("%s: opset %d, wanted %d" %
                           (s["name"], model.opset_import[0].version, s["opset"]))
    ops = op_histogram(model)
    for op, count in s["expect"].items():
        if ops.get(op, 0) != count:
            raise RuntimeError("%s: %d %s nodes, expected %d; ops: %s" %
                               (s["name"], ops.get(op, 0), op, count, ops))
    unknown = sorted(set(ops) - DESIGN_OPS)
    if unknown:
        raise RuntimeError("%s: ops outside DESIGN section 5: %s" %
                           (s["name"], unknown))
    if model.graph.input[0].name != "input":
        raise RuntimeError("%s: input named %s" % (s["name"], model.graph.input[0].name))

    data = open(onnx_path, "rb").read()
    feats = ["f%d" % i for i in range(features)]
    manifest = {
        "name": s["name"],
        "version": "1.0.0",
        "format": "onnx",
        "artifact": {"file": "model.onnx",
                     "sha256": hashlib.sha256(data).hexdigest(),
                     "size": len(data)},
        "inputs": {"features": feats, "window": window, "stride": 1,
                   "step_ms": 1000,
                   "normalize": {"mean": [round(float(v), 4) for v in mean],
                                 "std": [round(float(v), 4) for v in std]}},
        "output": {"threshold": 0.5},
        "created": "2026-11-20T10:00:00Z",
    }
    with open(os.path.join(mdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    with open(os.path.join(mdir, "input.csv"), "w") as f:
        f.write("ts," + ",".join(feats) + "\n")
        for i, row in enumerate(raw):
            f.write(ts_text(i) + "," + ",".join(f9(v) for v in row) + "\n")
    k = scores.shape[1]
    with open(os.path.join(mdir, "expected.csv"), "w") as f:
        head = ["score"] if k == 1 else ["score_%d" % j for j in range(k)]
        f.write("index,ts," + ",".join(head) + "\n")
        for w in range(scores.shape[0]):
            last = w + window - 1
            f.write("%d,%s,%s\n" % (last, ts_text(last),
                                    ",".join(f9(v) for v in scores[w])))
    return {"name": s["name"], "description": s["description"],
            "opset": s["opset"], "window": window, "features": features,
            "k": k, "graph_outputs": len(model.graph.output),
            "linear_before_reset": 0 if s["lbr0"] else None,
            "ops": ops}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--quick", action="store_true",
                    help="only the smaller set marked quick")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.outdir, exist_ok=True)
    started = time.monotonic()
    index = []
    for seed, s in enumerate(model_specs(), start=1000):
        if args.quick and not s["quick"]:
            continue
        entry = make_one(s, args.outdir, seed)
        if entry["linear_before_reset"] is None:
            del entry["linear_before_reset"]
        index.append(entry)
    with open(os.path.join(args.outdir, "index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    print("make_models: %d models in %s (%.1f s)" %
          (len(index), args.outdir, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
