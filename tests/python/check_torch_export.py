#!/usr/bin/env python3
"""Loads an encoder exported by `simclr export` (safetensors) into PyTorch with the repo's
module python/simclr_torch.py, runs it in eval mode on the same images, and compares the
features with ours. Run by tests/test_export_torch.cpp (skipped without torch):

  check_torch_export.py ENCODER.safetensors INPUTS.npy FEATURES.npy ARCHITECTURE

ARCHITECTURE ("convnet" or "resnet18") must be what load_encoder built from the metadata.
Exit 0 when |ours - torch| <= 1e-5 + 1e-5 * |torch| everywhere (numpy.allclose with
atol = rtol = 1e-5), 1 otherwise.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import simclr_torch  # noqa: E402  (found through the line above)


def main():
    path, inputs, features, architecture = sys.argv[1:5]
    torch.set_num_threads(1)
    encoder = simclr_torch.load_encoder(path)
    expected_type = {"convnet": simclr_torch.ConvNet, "resnet18": simclr_torch.ResNet18}[architecture]
    if not isinstance(encoder, expected_type) or encoder.training:
        print(f"load_encoder gave a {type(encoder).__name__} (training={encoder.training}), expected an eval-mode "
              f"{expected_type.__name__}")
        sys.exit(1)
    x = torch.from_numpy(np.load(inputs))
    ours = np.load(features)
    with torch.no_grad():
        theirs = encoder(x).numpy()
    diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
    ok = ours.shape == theirs.shape and bool(np.all(diff <= 1e-5 + 1e-5 * np.abs(theirs)))
    print(f"torch {torch.__version__}, {architecture}: max |ours - torch| = {diff.max():.3g} "
          f"(max |features| = {np.abs(theirs).max():.3g}) over {theirs.shape}: {'ok' if ok else 'DIFFERENT'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
