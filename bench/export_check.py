#!/usr/bin/env python3
"""The README's export numbers: how far the exported encoders' features are from `simclr embed`'s
on real images. Run by bench/export_check.sh, once per format:

  export_check.py onnx  ENCODER.onnx         IMAGES.npy FEATURES.npy   (the python of tests/python_env.sh)
  export_check.py torch ENCODER.safetensors  IMAGES.npy FEATURES.npy   (a python with torch)

Prints one Markdown table row per setting: runtime, max |ours - theirs|, max |features|.
"""
import os
import sys

import numpy as np


def row(encoder, runtime, ours, theirs):
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)).max()
    print(f"| {encoder} | {runtime} | {diff:.2g} | {np.abs(theirs).max():.3g} |")


def main():
    kind, model, images, features = sys.argv[1:5]
    x = np.load(images)
    ours = np.load(features)
    name = os.path.basename(os.path.dirname(os.path.abspath(model)))
    if kind == "onnx":
        import onnxruntime as ort
        for label, level in [("no graph optimization", ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
                             ("default optimization", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)]:
            options = ort.SessionOptions()
            options.graph_optimization_level = level
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            row(name, f"onnxruntime {ort.__version__}, {label}", ours, session.run(["features"], {"images": x})[0])
    else:
        import torch
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
        import simclr_torch
        encoder = simclr_torch.load_encoder(model)
        with torch.no_grad():
            row(name, f"PyTorch {torch.__version__} (python/simclr_torch.py)", ours, encoder(torch.from_numpy(x)).numpy())


if __name__ == "__main__":
    main()
