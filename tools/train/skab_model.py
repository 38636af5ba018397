"""GRU/LSTM window autoencoders for SKAB-like pump data: data loading, training, scoring, export.

The model takes one normalised window [batch, window, features] and returns [batch, 1]: the mean
squared error of its reconstruction of that window. Inside the ONNX graph that is GRU/LSTM,
MatMul/Add (the linear head), Tile, Sub, Mul and ReduceMean: all operators the agent runs
(README "Supported ONNX operators").

Everything is deterministic for a given seed: one thread, torch's deterministic algorithms, and a
fixed order of mini-batches drawn from a seeded generator.
"""

import csv
import json
import warnings

import numpy as np
import torch
from torch import nn

# The eight sensors of SKAB, as named in its CSV header.
SKAB_FEATURES = [
    "Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature",
    "Thermocouple", "Voltage", "Volume Flow RateRMS",
]
# Without the two temperatures: they drift over a run (the motor and the water warm up) and
# would make the first 400 rows a poor picture of normal (measured: bench/RESULTS.md, SKAB section).
DEFAULT_FEATURES = [
    "Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Voltage",
    "Volume Flow RateRMS",
]


class BadInput(Exception):
    """A fault in the user's input (file, rows, options): the tools exit 2 with its message."""


def read_csv(path, features):
    """Returns (values [rows, features] float64, labels [rows] or None) of a SKAB CSV (';' or ',')."""
    with open(path, newline="") as f:
        header = f.readline()
        sep = ";" if header.count(";") > header.count(",") else ","
        f.seek(0)
        reader = csv.reader(f, delimiter=sep)
        names = [h.strip() for h in next(reader)]
        missing = [n for n in features if n not in names]
        if missing:
            raise BadInput(f"{path}:1: column(s) {', '.join(missing)} missing from the header")
        cols = [names.index(n) for n in features]
        label_col = names.index("anomaly") if "anomaly" in names else None
        values, labels = [], []
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                values.append([float(row[c]) for c in cols])
                if label_col is not None:
                    labels.append(int(float(row[label_col])))
            except (ValueError, IndexError) as e:
                raise BadInput(f"{path}:{line_no}: {e}")
    return np.asarray(values, dtype=np.float64), (np.asarray(labels) if label_col is not None
                                                   else None)


def windows(z, window):
    """Every window of `window` consecutive rows of z [rows, features], ending at rows window-1..."""
    n = len(z) - window + 1
    if n <= 0:
        return np.zeros((0, window, z.shape[1]), dtype=np.float32)
    idx = np.arange(window)[None, :] + np.arange(n)[:, None]
    return z[idx].astype(np.float32)


class WindowAutoencoder(nn.Module):
    """Encoder RNN -> last hidden state, repeated over the window -> decoder RNN -> linear head.

    forward() returns the reconstruction error per window, [batch, 1]."""

    def __init__(self, features, window, hidden, cell="gru"):
        super().__init__()
        rnn = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
        self.window = window
        self.encoder = rnn(features, hidden, batch_first=True)
        self.decoder = rnn(hidden, hidden, batch_first=True)
        self.head = nn.Linear(hidden, features)

    def reconstruct(self, x):
        encoded, _ = self.encoder(x)
        code = encoded[:, -1:, :].repeat(1, self.window, 1)
        decoded, _ = self.decoder(code)
        return self.head(decoded)

    def forward(self, x):
        err = self.reconstruct(x) - x
        return (err * err).mean(dim=2).mean(dim=1, keepdim=True)


def setup_determinism(seed, threads=1):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


def train(train_windows, features, window, hidden, cell, epochs, seed, lr=1e-2, batch=32):
    """Fits a WindowAutoencoder on normalised windows [n, window, features]; returns it in eval mode."""
    torch.manual_seed(seed)
    model = WindowAutoencoder(features, window, hidden, cell)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x = torch.from_numpy(train_windows)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            opt.zero_grad()
            loss = model(x[perm[i:i + batch]]).mean()
            loss.backward()
            opt.step()
    model.eval()
    return model


def score(model, win):
    with torch.no_grad():
        return model(torch.from_numpy(win)).numpy()[:, 0].astype(np.float64)


def calibrate(scores, quantile, factor):
    """The threshold: `factor` times the `quantile` of the scores of normal windows."""
    return float(np.quantile(scores, quantile) * factor)


def export_onnx(model, window, features, path, opset=17):
    dummy = torch.zeros(1, window, features)
    with warnings.catch_warnings():
        # torch's notes on batch sizes of RNN exports and prim::Constant shape inference: the
        # exported graph is checked against PyTorch through `edge-agent predict` (train.py).
        warnings.simplefilter("ignore")
        torch.onnx.export(model, dummy, path, input_names=["x"], output_names=["score"],
                          dynamic_axes={"x": {0: "batch"}, "score": {0: "batch"}},
                          opset_version=opset, do_constant_folding=True)


def write_normalize(path, mean, std):
    with open(path, "w") as f:
        json.dump({"mean": [float(v) for v in mean], "std": [float(v) for v in std]}, f)


def save_torch(path, model, cell, window, features, hidden):
    torch.save({"cell": cell, "window": window, "features": features, "hidden": hidden,
                "state": model.state_dict()}, path)


def load_torch(path):
    saved = torch.load(path)
    model = WindowAutoencoder(saved["features"], saved["window"], saved["hidden"], saved["cell"])
    model.load_state_dict(saved["state"])
    model.eval()
    return model, saved
