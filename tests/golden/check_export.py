#!/usr/bin/env python3
"""Loads an encoder exported by `simclr export` (safetensors) into a PyTorch ConvNet
defined as in the README, runs it in eval mode on the same inputs, and compares the
features with ours. Run by tests/test_export_torch.cpp (skipped without torch):

  check_export.py ENCODER.safetensors INPUTS.npy FEATURES.npy WIDTH CHANNELS
Exit 0 when max |ours - torch| <= 1e-4 * (1 + max |torch|), 1 otherwise.
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn


def load_safetensors(path):  # u64 header size, JSON header, raw little-endian data
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    dt = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(raw[8 + n + a:8 + n + b], dt[v["dtype"]]).reshape(v["shape"]).copy())
    return out


def block(i, o):
    return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]


class ConvNet(nn.Module):  # the same layers, in the same order, as nn/convnet.h
    def __init__(self, w, c):
        super().__init__()
        self.features = nn.Sequential(*block(c, w), *block(w, 2 * w), nn.MaxPool2d(2),
                                      *block(2 * w, 4 * w), nn.MaxPool2d(2), *block(4 * w, 8 * w))
        self.pool, self.flatten = nn.AdaptiveAvgPool2d(1), nn.Flatten()

    def forward(self, x):
        return self.flatten(self.pool(self.features(x)))


def main():
    path, inputs, features, width, channels = sys.argv[1:6]
    torch.set_num_threads(1)
    net = ConvNet(int(width), int(channels))
    net.load_state_dict(load_safetensors(path))  # strict: every name and shape must match
    net.eval()
    x = torch.from_numpy(np.load(inputs))
    ours = np.load(features)
    with torch.no_grad():
        theirs = net(x).numpy()
    diff = float(np.max(np.abs(ours - theirs)))
    limit = 1e-4 * (1.0 + float(np.max(np.abs(theirs))))
    print(f"torch {torch.__version__}: max |ours - torch| = {diff:.3g} (limit {limit:.3g}) over {theirs.shape}")
    sys.exit(0 if diff <= limit else 1)


if __name__ == "__main__":
    main()
