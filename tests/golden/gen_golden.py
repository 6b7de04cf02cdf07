#!/usr/bin/python3
"""Writes the golden files that tests/test_golden.cpp compares our ops against.

Run with Debian's PyTorch (python3-torch), from the repository root:

    /usr/bin/python3 tests/golden/gen_golden.py

Every case stores its inputs, the forward output, a fixed random weight R and the
gradients of the scalar loss L = sum(out * R) with respect to every differentiable
input. R makes every output element matter to the gradient with a different weight,
so a backward that mixes up two elements cannot pass by symmetry.

The file format (SCGOLD01) is described in tests/golden/README.md. The output is
deterministic: the same PyTorch version rewrites the same bytes.
"""
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = b"SCGOLD01"
DTYPE_CODES = {torch.float32: (0, "<f4"), torch.float64: (1, "<f8"), torch.int64: (2, "<i8")}
OUT_DIR = os.path.dirname(os.path.abspath(__file__))


def write_golden(path, tensors):
    """tensors: dict name -> torch.Tensor (float32, float64 or int64), written in key order."""
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", len(tensors)))
        for name, t in tensors.items():
            code, np_dtype = DTYPE_CODES[t.dtype]
            name_bytes = name.encode("ascii")
            f.write(struct.pack("<I", len(name_bytes)))
            f.write(name_bytes)
            f.write(struct.pack("<II", code, t.dim()))
            for d in t.shape:
                f.write(struct.pack("<q", d))
            f.write(t.detach().contiguous().numpy().astype(np_dtype, copy=False).tobytes())
    print(f"wrote {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


class Golden:
    """Collects the tensors of one file; every file starts with the PyTorch version."""

    def __init__(self):
        self.tensors = {}
        version = torch.__version__.encode("ascii")
        self.tensors["meta/torch_version"] = torch.tensor(list(version), dtype=torch.int64)

    def add(self, case, field, t):
        key = f"{case}/{field}"
        assert key not in self.tensors, key
        if t.is_floating_point():
            assert torch.isfinite(t).all(), f"{key} has a non-finite value"
        self.tensors[key] = t.detach().clone()


def randn(gen, shape, dtype, scale=1.0):
    # Drawn in float64 and rounded, so the float32 and float64 cases of one config see
    # the same values up to rounding.
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def uniform(gen, shape, dtype, low, high):
    return (low + (high - low) * torch.rand(shape, generator=gen, dtype=torch.float64)).to(dtype)


def leaf(t):
    return t.clone().requires_grad_(True)


def run_case(golden, case, inputs, forward, gen):
    """inputs: dict name -> tensor (float inputs get a gradient); forward(**leaves) -> out.

    Stores every input, R, out, and grad_<name> for each float input."""
    leaves = {k: (leaf(v) if v is not None and v.is_floating_point() else v) for k, v in inputs.items()}
    out = forward(**leaves)
    r = randn(gen, tuple(out.shape), out.dtype)
    loss = (out * r).sum()
    loss.backward()
    for k, v in inputs.items():
        if v is not None:
            golden.add(case, k, v)
    golden.add(case, "R", r)
    golden.add(case, "out", out)
    for k, v in leaves.items():
        if v is not None and v.is_floating_point():
            golden.add(case, f"grad_{k}", v.grad)
    return out


DTYPES = [(torch.float32, "f32"), (torch.float64, "f64")]


def gen_conv2d():
    gen = torch.Generator().manual_seed(1001)
    g = Golden()
    # name, x shape, weight shape, bias?, stride (h, w), padding (h, w), dilation (h, w)
    configs = [
        ("k3x3_s1_p1_bias", (2, 3, 6, 6), (4, 3, 3, 3), True, (1, 1), (1, 1), (1, 1)),
        ("k3x3_s2_p0_bias", (2, 3, 7, 7), (4, 3, 3, 3), True, (2, 2), (0, 0), (1, 1)),
        ("k3x3_d2_p2_bias", (2, 3, 6, 6), (4, 3, 3, 3), True, (1, 1), (2, 2), (2, 2)),
        # Rectangular kernel, no bias; unequal strides and padding per axis catch an h/w mix-up.
        ("k3x1_s1x2_p1x0_nobias", (2, 3, 6, 5), (4, 3, 3, 1), False, (1, 2), (1, 0), (1, 1)),
    ]
    for name, xs, ws, has_bias, stride, pad, dil in configs:
        for dtype, dname in DTYPES:
            case = f"{name}_{dname}"
            inputs = {
                "x": randn(gen, xs, dtype),
                "weight": randn(gen, ws, dtype, scale=0.5),
                "bias": randn(gen, (ws[0],), dtype) if has_bias else None,
            }
            # stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w (as sc::Conv2dOptions)
            g.add(case, "options", torch.tensor([stride[0], stride[1], pad[0], pad[1], dil[0], dil[1]]))
            run_case(g, case, inputs,
                     lambda x, weight, bias: F.conv2d(x, weight, bias, stride=stride, padding=pad, dilation=dil), gen)
    write_golden(os.path.join(OUT_DIR, "conv2d.golden"), g.tensors)


def gen_batch_norm():
    gen = torch.Generator().manual_seed(1002)
    g = Golden()
    momentum, eps = 0.1, 1e-5
    # name, x shape, training, dtype
    configs = [
        ("train_4d_f64", (4, 3, 5, 5), True, torch.float64),
        ("train_4d_f32", (4, 3, 5, 5), True, torch.float32),
        ("train_2d_f64", (8, 5), True, torch.float64),
        ("eval_4d_f64", (4, 3, 5, 5), False, torch.float64),
    ]
    for case, xs, training, dtype in configs:
        c = xs[1]
        # A non-zero mean and a scale far from 1, so normalisation has work to do.
        x = randn(gen, xs, dtype, scale=2.0) + 0.7
        inputs = {"x": x, "weight": uniform(gen, (c,), dtype, 0.5, 1.5), "bias": randn(gen, (c,), dtype)}
        running_mean = randn(gen, (c,), dtype, scale=0.5)
        running_var = uniform(gen, (c,), dtype, 0.5, 2.0)
        g.add(case, "running_mean_in", running_mean)
        g.add(case, "running_var_in", running_var)
        g.add(case, "training", torch.tensor([1 if training else 0]))
        g.add(case, "momentum_eps", torch.tensor([momentum, eps], dtype=torch.float64))
        rm, rv = running_mean.clone(), running_var.clone()
        run_case(g, case, inputs,
                 lambda x, weight, bias: F.batch_norm(x, rm, rv, weight, bias, training=training,
                                                      momentum=momentum, eps=eps), gen)
        # F.batch_norm updated rm / rv in place (training mode only).
        g.add(case, "running_mean_out", rm)
        g.add(case, "running_var_out", rv)
    write_golden(os.path.join(OUT_DIR, "batch_norm.golden"), g.tensors)


def gen_pool():
    gen = torch.Generator().manual_seed(1003)
    g = Golden()
    # name, x shape, op, kernel, stride, pad
    configs = [
        ("max_k2_s2", (2, 3, 6, 6), "max", 2, 2, 0),
        ("max_k3_s2_p1", (2, 3, 7, 7), "max", 3, 2, 1),
        ("avg_k3_s2_p1", (2, 3, 7, 7), "avg", 3, 2, 1),
        ("global_avg", (2, 3, 5, 4), "global", 0, 0, 0),
    ]
    for name, xs, op, k, s, p in configs:
        for dtype, dname in DTYPES:
            case = f"{name}_{dname}"
            if op == "max":
                fwd = lambda x: F.max_pool2d(x, kernel_size=k, stride=s, padding=p)
            elif op == "avg":
                fwd = lambda x: F.avg_pool2d(x, kernel_size=k, stride=s, padding=p, count_include_pad=True)
            else:
                fwd = lambda x: F.adaptive_avg_pool2d(x, 1)
            if op != "global":
                # kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w (as sc::Pool2dOptions)
                g.add(case, "options", torch.tensor([k, k, s, s, p, p]))
            # Continuous random values: ties in a max window have probability zero.
            run_case(g, case, {"x": randn(gen, xs, dtype)}, fwd, gen)
    write_golden(os.path.join(OUT_DIR, "pool.golden"), g.tensors)


def gen_softmax():
    gen = torch.Generator().manual_seed(1004)
    g = Golden()
    for dtype, dname in DTYPES:
        run_case(g, f"softmax_dim1_{dname}", {"x": randn(gen, (4, 7), dtype, scale=2.0)},
                 lambda x: F.softmax(x, dim=1), gen)
        run_case(g, f"log_softmax_dim1_{dname}", {"x": randn(gen, (4, 7), dtype, scale=2.0)},
                 lambda x: F.log_softmax(x, dim=1), gen)
        targets = torch.randint(0, 5, (8,), generator=gen, dtype=torch.int64)
        run_case(g, f"cross_entropy_{dname}", {"logits": randn(gen, (8, 5), dtype, scale=2.0), "targets": targets},
                 lambda logits, targets: F.cross_entropy(logits, targets), gen)
    write_golden(os.path.join(OUT_DIR, "softmax.golden"), g.tensors)


def nt_xent_reference(z, temperature):
    """SimCLR's NT-Xent, composed from PyTorch ops (rows i and (i + N) mod 2N are positives)."""
    two_n = z.shape[0]
    n = two_n // 2
    zn = F.normalize(z, dim=1)
    s = zn @ zn.t() / temperature
    # The self-similarity is left out of the softmax: -inf gives it zero weight and zero gradient.
    s = s.masked_fill(torch.eye(two_n, dtype=torch.bool), float("-inf"))
    targets = (torch.arange(two_n) + n) % two_n
    return F.cross_entropy(s, targets)


def gen_nt_xent():
    gen = torch.Generator().manual_seed(1005)
    g = Golden()
    configs = [("t0.5_f64", 0.5, torch.float64), ("t0.1_f64", 0.1, torch.float64),
               ("t0.5_f32", 0.5, torch.float32), ("t0.1_f32", 0.1, torch.float32)]
    for case, temperature, dtype in configs:
        # Rows of different lengths: normalisation must matter.
        z = randn(gen, (8, 16), dtype) * uniform(gen, (8, 1), dtype, 0.5, 2.0)
        g.add(case, "temperature", torch.tensor([temperature], dtype=torch.float64))
        run_case(g, case, {"z": z}, lambda z: nt_xent_reference(z, temperature), gen)
    write_golden(os.path.join(OUT_DIR, "nt_xent.golden"), g.tensors)


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}")
    gen_conv2d()
    gen_batch_norm()
    gen_pool()
    gen_softmax()
    gen_nt_xent()


if __name__ == "__main__":
    main()
