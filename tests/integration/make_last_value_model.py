#!/usr/bin/env python3
"""Exports a tiny ONNX model whose score is the last step's value of feature 0, as the model
receives it (pack it without --normalize), for end-to-end tests that drive a register into a
fault range and back.

usage: make_last_value_model.py OUT.onnx WINDOW FEATURES [VARIANT]
The model takes [batch, WINDOW, FEATURES] float32 and gives [batch, 1]. A GRU runs alongside
(its output weighted by zero) so that the file carries the recurrent ops the agent must plan.
VARIANT (for model sync tests) changes the score:
  last  the last value (default)
  sqrt  its square root: finite for the smoke test's zeros, NaN once the value goes negative
  log   its logarithm: -inf for the smoke test's zeros
"""
import sys
import warnings

import torch


class LastValue(torch.nn.Module):
    def __init__(self, features, variant):
        super().__init__()
        self.gru = torch.nn.GRU(features, 4, batch_first=True)
        self.variant = variant

    def forward(self, x):
        out, _ = self.gru(x)
        last = x[:, -1, 0:1]
        if self.variant == "sqrt":
            last = torch.sqrt(last)
        elif self.variant == "log":
            last = torch.log(last)
        return last + 0.0 * out[:, -1, 0:1]


def main():
    out, window, features = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    variant = sys.argv[4] if len(sys.argv) > 4 else "last"
    if variant not in ("last", "sqrt", "log"):
        sys.exit(f"unknown variant {variant}")
    warnings.filterwarnings("ignore")  # torch 1.13's exporter warns about the GRU's batch size
    torch.manual_seed(0)
    model = LastValue(features, variant).eval()
    example = torch.zeros(1, window, features)
    torch.onnx.export(model, example, out, input_names=["input"], output_names=["score"],
                      dynamic_axes={"input": {0: "batch"}, "score": {0: "batch"}}, opset_version=13)


if __name__ == "__main__":
    main()
