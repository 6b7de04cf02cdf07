"""Load an encoder exported by `simclr export` (safetensors) into PyTorch.

    import sys; sys.path.insert(0, "python")      # this folder of the simclr.cpp checkout
    import simclr_torch
    encoder = simclr_torch.load_encoder("encoder.safetensors")   # a torch.nn.Module, eval mode
    features = encoder(images)   # images: float32 [N, C, H, W], pixels / 255 -> features [N, D]

Both encoders of simclr.cpp are rebuilt with the same structure and the same module names:

  ConvNet    (nn/convnet.h)  features = Sequential(conv, bn, relu, conv, bn, relu, maxpool,
                                                   conv, bn, relu, maxpool, conv, bn, relu),
                             pool, flatten; widths w, 2w, 4w, 8w -> D = 8w
  ResNet-18  (nn/resnet.h)   torchvision's names (conv1, bn1, layer1.0.conv1, ...,
                             layer2.0.downsample.0) with the CIFAR stem: a 3x3 stride-1 conv
                             and no max-pool; no fc -> D = 8 * width

The architecture, width and channel count come from the file's metadata, which
`simclr export` writes, and load_state_dict(strict=True) then checks every name and shape.
The file is read by hand (read_safetensors below), so only torch and numpy are needed.

Run as a script, it loads a file and prints what it found:
    python3 python/simclr_torch.py encoder.safetensors
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

__all__ = ["read_safetensors", "ConvNet", "BasicBlock", "ResNet18", "build_encoder", "load_encoder"]

_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """Returns (tensors, metadata) of a safetensors file: name -> torch.Tensor, str -> str.

    The format: a little-endian uint64 N, then N bytes of JSON header mapping each tensor name
    to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the data that
    follows the header) plus an optional "__metadata__" object, then the raw data.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (header_size,) = struct.unpack("<Q", raw[:8])
    if 8 + header_size > len(raw):
        raise ValueError(f"{path}: the header length {header_size} runs past the end of the file")
    header = json.loads(raw[8:8 + header_size])
    data = memoryview(raw)[8 + header_size:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: tensor {name!r} has dtype {entry['dtype']}; only {list(_DTYPES)} are read")
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=_DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())  # a copy: frombuffer's array is read-only
    return tensors, metadata


def _conv_bn_relu(in_channels, out_channels):
    # No conv bias: the BatchNorm right after it removes any per-channel constant anyway.
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]


class ConvNet(nn.Module):
    """nn/convnet.h: four conv3x3-BN-ReLU blocks (widths w, 2w, 4w, 8w), a 2x2 max-pool after
    blocks 2 and 3, global average pool, flatten -> [N, 8w]."""

    def __init__(self, width=32, in_channels=3):
        super().__init__()
        w = width
        self.features = nn.Sequential(*_conv_bn_relu(in_channels, w), *_conv_bn_relu(w, 2 * w), nn.MaxPool2d(2),
                                      *_conv_bn_relu(2 * w, 4 * w), nn.MaxPool2d(2), *_conv_bn_relu(4 * w, 8 * w))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()

    def forward(self, x):
        return self.flatten(self.pool(self.features(x)))


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN, plus the shortcut (identity, or a 1x1 conv + BN when the shape
    changes), then ReLU; as torchvision's BasicBlock and nn/resnet.h's."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet18(nn.Module):
    """nn/resnet.h: ResNet-18 with the CIFAR stem (3x3 stride-1 conv, no max-pool), four
    stages of two BasicBlocks (widths b, 2b, 4b, 8b; first-block strides 1, 2, 2, 2), global
    average pool, flatten -> [N, 8b]. No fc layer."""

    def __init__(self, in_channels=3, base_width=64):
        super().__init__()
        b = base_width
        self.conv1 = nn.Conv2d(in_channels, b, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(b)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(b, b, 1), BasicBlock(b, b, 1))
        self.layer2 = nn.Sequential(BasicBlock(b, 2 * b, 2), BasicBlock(2 * b, 2 * b, 1))
        self.layer3 = nn.Sequential(BasicBlock(2 * b, 4 * b, 2), BasicBlock(4 * b, 4 * b, 1))
        self.layer4 = nn.Sequential(BasicBlock(4 * b, 8 * b, 2), BasicBlock(8 * b, 8 * b, 1))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.flatten(self.avgpool(out))


def build_encoder(architecture, width, in_channels):
    """A freshly initialised encoder: architecture "convnet" or "resnet18" (simclr's --encoder)."""
    if architecture == "convnet":
        return ConvNet(width, in_channels)
    if architecture == "resnet18":
        return ResNet18(in_channels, width)
    raise ValueError(f"unknown architecture {architecture!r}; simclr.cpp exports 'convnet' and 'resnet18'")


def load_encoder(path, device="cpu"):
    """The encoder saved by `simclr export` (safetensors) as a torch.nn.Module in eval mode
    (BatchNorm uses the running statistics, as `simclr embed` does)."""
    tensors, metadata = read_safetensors(path)
    missing = [key for key in ("architecture", "width", "in_channels") if key not in metadata]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} in the metadata; was it written by `simclr export`?")
    encoder = build_encoder(metadata["architecture"], int(metadata["width"]), int(metadata["in_channels"]))
    encoder.load_state_dict(tensors, strict=True)  # every name and shape must match
    return encoder.to(device).eval()


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    encoder = load_encoder(argv[1])
    _, metadata = read_safetensors(argv[1])
    parameters = sum(p.numel() for p in encoder.parameters())
    print(f"{argv[1]}: {metadata['architecture']} width {metadata['width']}, {metadata['in_channels']} channel(s), "
          f"{metadata.get('feature_dim', '?')}-d features, {parameters:,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
