#!/usr/bin/env python3
"""Runs an encoder exported by `simclr export --format onnx` in onnxruntime and compares its
features with ours. Run by tests/test_export_onnx.cpp with the python of tests/python_env.sh:

  check_onnx.py MODEL.onnx INPUTS.npy FEATURES.npy

INPUTS.npy holds images float32 [N, C, H, W], FEATURES.npy our features [N, D] for them
(Method::encode in eval mode, or `simclr embed`). The model runs twice: with onnxruntime's
graph optimizations off (each node as written) and at its default level (it then folds each
BatchNormalization into the Conv before it, among others). Both must match ours elementwise:

  |ours - onnxruntime| <= 1e-5 + 1e-5 * |onnxruntime|      (numpy.allclose, atol = rtol = 1e-5)

The model is also run on the first image alone, since the batch dimension must be free.
Prints one line per setting with the largest absolute difference, next to the largest feature. Exit 0 when
everything matches, 1 otherwise.
"""
import sys

import numpy as np
import onnxruntime as ort

ATOL = 1e-5
RTOL = 1e-5


def session(path, level):
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def compare(name, ours, theirs):
    if ours.shape != theirs.shape:
        print(f"{name}: shapes differ: ours {ours.shape}, onnxruntime {theirs.shape}")
        return False
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    ok = bool(np.all(diff <= ATOL + RTOL * np.abs(theirs)))
    scale = float(np.abs(theirs).max())
    print(f"{name}: max |ours - ort| = {diff.max():.3g} (max |features| = {scale:.3g}, ratio {diff.max() / max(scale, 1e-30):.3g}) "
          f"over {theirs.shape}: {'ok' if ok else 'DIFFERENT'}")
    return ok


def main():
    model, inputs, features = sys.argv[1:4]
    x = np.load(inputs)
    ours = np.load(features)
    ok = True
    first = None
    for name, level in [("no graph optimization", ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
                        ("default optimization", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)]:
        s = session(model, level)
        if first is None:
            first = s
            i, o = s.get_inputs()[0], s.get_outputs()[0]
            print(f"onnxruntime {ort.__version__}: {i.name} {i.type} {i.shape} -> {o.name} {o.type} {o.shape}")
            expected_in = ["N", x.shape[1], "H", "W"]
            expected_out = ["N", ours.shape[1]]
            if (i.name, i.shape, o.name, o.shape) != ("images", expected_in, "features", expected_out):
                print(f"the model's signature should be images {expected_in} -> features {expected_out}")
                ok = False
        theirs = s.run(["features"], {"images": x})[0]
        ok = compare(name, ours, theirs) and ok
    one = first.run(["features"], {"images": x[:1]})[0]
    ok = compare("batch of one image", ours[:1], one) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
