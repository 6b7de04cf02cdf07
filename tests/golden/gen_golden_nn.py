#!/usr/bin/python3
"""Writes the nn_*.golden files that tests/test_nn_golden.cpp and tests/test_nn_layers.cpp
compare our modules against.

Run with Debian's PyTorch (python3-torch), from the repository root:

    /usr/bin/python3 tests/golden/gen_golden_nn.py

The PyTorch models here are written out by hand to have exactly the structure (and so the
state_dict names) of ours: ConvNet (nn/convnet.h), ResNet-18 with the CIFAR stem
(nn/resnet.h, names as torchvision's resnet18 without fc) and the projection head
(nn/projection_head.h). Each model case:

  1. sets every state_dict entry to known values (conv weights, BN weight/bias and
     non-trivial running statistics, num_batches_tracked = 0);
  2. runs one training-mode forward on a fixed input, forms L = sum(out * R) with a fixed
     random R, and calls backward;
  3. stores out, L, every parameter gradient (grad/<name>) and the buffers after the step
     (after/<name>: running_mean, running_var, num_batches_tracked). ResNet-18's gradients of
     more than GRADIENT_SAMPLE values are stored as every k-th value plus the whole tensor's
     largest magnitude, sum and sum of magnitudes (add_gradient), which keeps its two files
     small (they held 4.3 MB of whole gradients).

ConvNet and the head store their weights (weights/<name>). ResNet-18 is too large for that:
its weights come from formula_value() below, which tests/test_nn_golden.cpp computes bit
for bit the same way (integer hashing, then float64 operations whose products are exact
or not followed by an addition, so rounding and FMA contraction cannot differ), and the
file stores each entry's sum (weight_sum/<name>) so the test can confirm it rebuilt them.

nn_structure.golden holds, for the default-size models, the state_dict names with shapes
and the parameter names, as text (int64 character codes), and the parameter counts.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, OUT_DIR)
from gen_golden import Golden, randn, uniform, write_golden  # noqa: E402


# ---- the models, mirroring nn/ ----------------------------------------------------------

class ConvNet(nn.Module):
    """nn/convnet.h: features = Sequential(conv-bn-relu x4 with max-pools after blocks 2, 3)."""

    def __init__(self, width, in_channels):
        super().__init__()
        layers = []
        channels = in_channels
        for block, w in enumerate([width, 2 * width, 4 * width, 8 * width]):
            layers += [nn.Conv2d(channels, w, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            if block in (1, 2):
                layers.append(nn.MaxPool2d(2))
            channels = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()

    def forward(self, x):
        return self.flatten(self.pool(self.features(x)))


class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
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
    """CIFAR stem (3x3 stride 1, no max-pool), [2, 2, 2, 2] BasicBlocks, global pool, no fc."""

    def __init__(self, in_channels, base):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, base, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU()
        channels = base
        for i, (width, stride) in enumerate([(base, 1), (2 * base, 2), (4 * base, 2), (8 * base, 2)]):
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(channels, width, stride),
                                                         BasicBlock(width, width, 1)))
            channels = width
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.flatten(self.avgpool(out))


def projection_head(in_dim, hidden_dim, out_dim, num_layers, batch_norm):
    """nn/projection_head.h: hidden Linear has a bias only without BN; the last has one."""
    layers = []
    dim = in_dim
    for _ in range(num_layers - 1):
        layers.append(nn.Linear(dim, hidden_dim, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers.append(nn.ReLU())
        dim = hidden_dim
    layers.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*layers)


# ---- weights ------------------------------------------------------------------------------

def random_state(model, gen):
    """Every state_dict entry set from the generator (stored in the file afterwards)."""
    state = {}
    for name, t in model.state_dict().items():
        kind = name.rsplit(".", 1)[1]
        if kind == "num_batches_tracked":
            state[name] = torch.zeros((), dtype=torch.int64)
        elif kind == "running_mean":
            state[name] = randn(gen, t.shape, torch.float64, scale=0.1)
        elif kind == "running_var":
            state[name] = uniform(gen, t.shape, torch.float64, 0.5, 1.5)
        elif t.dim() == 1 and kind == "weight":  # a BN weight
            state[name] = uniform(gen, t.shape, torch.float64, 0.5, 1.5)
        elif kind == "bias":
            state[name] = randn(gen, t.shape, torch.float64, scale=0.1)
        else:  # conv / linear weight: PyTorch's default bound 1/sqrt(fan_in)
            fan_in = t[0].numel()
            bound = 1.0 / np.sqrt(fan_in)
            state[name] = uniform(gen, t.shape, torch.float64, -bound, bound)
    return state


MASK64 = (1 << 64) - 1


def formula_uniform(seed, entry, count):
    """count values in [0, 1) from splitmix64 of key = seed << 48 ^ (entry + 1) << 32 ^ i."""
    with np.errstate(over="ignore"):
        key = np.uint64((seed << 48) ^ ((entry + 1) << 32)) ^ np.arange(count, dtype=np.uint64)
        z = key + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)


def formula_value(seed, entry, name, shape):
    """The ResNet weights, in float64 (test_nn_golden.cpp: formula_state)."""
    kind = name.rsplit(".", 1)[1]
    count = int(np.prod(shape)) if len(shape) else 1
    u = formula_uniform(seed, entry, count)
    centred = 2.0 * u - 1.0  # exact
    if kind == "num_batches_tracked":
        return torch.zeros((), dtype=torch.int64)
    if kind == "running_mean":
        v = 0.1 * centred
    elif kind == "running_var":
        v = 1.0 + 0.5 * u  # 0.5 * u is exact
    elif len(shape) == 1 and kind == "weight":
        v = 1.0 + 0.25 * centred  # exact product
    elif kind == "bias":
        v = 0.1 * centred
    else:
        fan_in = count // shape[0]
        v = centred * (1.0 / np.sqrt(float(fan_in)))
    return torch.from_numpy(v.reshape(shape).copy())


def formula_state(model, seed):
    return {name: formula_value(seed, i, name, tuple(t.shape)) for i, (name, t) in enumerate(model.state_dict().items())}


# ---- one training step ----------------------------------------------------------------------

# A ResNet-18 gradient is too large to store whole (733,328 values at base 16): the files keep
# every SAMPLE_STRIDE-th value, chosen so that at most GRADIENT_SAMPLE remain, and the whole
# tensor's largest magnitude, sum and sum of magnitudes (grad_sample/<name>, grad_stats/<name>).
GRADIENT_SAMPLE = 512


def add_gradient(g, case, name, grad, sampled):
    if not sampled or grad.numel() <= GRADIENT_SAMPLE:
        g.add(case, f"grad/{name}", grad)
        return
    flat = grad.flatten()
    stride = (flat.numel() + GRADIENT_SAMPLE - 1) // GRADIENT_SAMPLE
    g.add(case, f"grad_sample/{name}", flat[::stride].clone())
    whole = flat.to(torch.float64)
    g.add(case, f"grad_stats/{name}", torch.tensor([float(stride), whole.abs().max().item(), whole.sum().item(),
                                                    whole.abs().sum().item()], dtype=torch.float64))


def training_step(g, case, model, state, x, r, dtype, sampled=False):
    """Loads state (converted to dtype), runs forward/backward in training mode, stores the results.
    sampled: the large gradients as a sample and statistics (add_gradient) instead of whole."""
    model.to(dtype)  # before loading: loading float64 values into float32 tensors would round them
    model.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()})
    model.train()
    model.zero_grad()
    out = model(x.to(dtype))
    loss = (out * r.to(dtype)).sum()
    loss.backward()
    g.add(case, "out", out)
    g.add(case, "loss", loss.reshape(1))
    for name, p in model.named_parameters():
        add_gradient(g, case, name, p.grad, sampled)
    for name, b in model.named_buffers():
        g.add(case, f"after/{name}", b)


def gen_convnet():
    gen = torch.Generator().manual_seed(2001)
    g = Golden()
    model = ConvNet(8, 1)
    state = random_state(model, gen)
    for name, t in state.items():
        g.add("convnet", f"weights/{name}", t)
    x = randn(gen, (4, 1, 28, 28), torch.float64)
    r = randn(gen, (4, 64), torch.float64)
    g.add("convnet", "input", x)
    g.add("convnet", "R", r)
    training_step(g, "convnet_f64", model, state, x, r, torch.float64)
    training_step(g, "convnet_f32", model, state, x, r, torch.float32)
    write_golden(os.path.join(OUT_DIR, "nn_convnet.golden"), g.tensors)


def gen_resnet(base, dtype, dname, seed):
    gen = torch.Generator().manual_seed(seed)
    g = Golden()
    model = ResNet18(3, base)
    state = formula_state(model, seed)
    case = f"resnet18_b{base}_{dname}"
    g.add(case, "formula_seed", torch.tensor([seed]))
    for name, t in state.items():
        if t.is_floating_point():
            g.add(case, f"weight_sum/{name}", t.sum().reshape(1))
    x = randn(gen, (2, 3, 32, 32), dtype)
    r = randn(gen, (2, 8 * base), dtype)
    g.add(case, "input", x)
    g.add(case, "R", r)
    training_step(g, case, model, state, x, r, dtype, sampled=True)
    write_golden(os.path.join(OUT_DIR, f"nn_resnet18_b{base}_{dname}.golden"), g.tensors)


def gen_head():
    gen = torch.Generator().manual_seed(2003)
    g = Golden()
    # name, in, hidden, out, layers, batch_norm, batch
    for case, in_dim, hidden, out_dim, layers, bn, batch in [("head_bn", 16, 32, 8, 2, True, 6),
                                                             ("head_nobn_3layers", 16, 24, 8, 3, False, 6)]:
        model = projection_head(in_dim, hidden, out_dim, layers, bn)
        state = random_state(model, gen)
        for name, t in state.items():
            g.add(case, f"weights/{name}", t)
        x = randn(gen, (batch, in_dim), torch.float64)
        r = randn(gen, (batch, out_dim), torch.float64)
        g.add(case, "input", x)
        g.add(case, "R", r)
        training_step(g, case + "_f64", model, state, x, r, torch.float64)
    write_golden(os.path.join(OUT_DIR, "nn_head.golden"), g.tensors)


def text_tensor(text):
    return torch.tensor(list(text.encode("ascii")), dtype=torch.int64)


def gen_structure():
    g = Golden()
    models = {
        "convnet_w32_c3": ConvNet(32, 3),
        "convnet_w16_c1": ConvNet(16, 1),
        "resnet18_b64_c3": ResNet18(3, 64),
        "head_512_512_128": projection_head(512, 512, 128, 2, True),
    }
    for case, model in models.items():
        # "name dtype d0,d1,...": one line per state_dict entry, in PyTorch's order.
        lines = []
        for name, t in model.state_dict().items():
            dtype = "int64" if t.dtype == torch.int64 else "float32"
            lines.append(f"{name} {dtype} {','.join(str(d) for d in t.shape)}")
        g.add(case, "state_dict", text_tensor("\n".join(lines)))
        g.add(case, "parameter_names", text_tensor("\n".join(n for n, _ in model.named_parameters())))
        g.add(case, "parameter_count", torch.tensor([sum(p.numel() for p in model.parameters())]))
    write_golden(os.path.join(OUT_DIR, "nn_structure.golden"), g.tensors)


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}")
    gen_structure()
    gen_convnet()
    gen_head()
    gen_resnet(8, torch.float64, "f64", 2101)
    gen_resnet(16, torch.float32, "f32", 2102)


if __name__ == "__main__":
    main()
