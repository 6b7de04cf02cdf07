#!/usr/bin/env python3
"""The PyTorch peer of bench/bench_gpu.cpp: the same rows, timed the same way, on the same GPU.

Each row: one warm-up call, then N timed calls (N fills a fraction of a second), each
started with a cold L2 (a 256 MiB fill outside the timed region), timed with CUDA events;
the median is reported. Rows are JSON lines on stdout with the fields bench_gpu prints
(group, case, impl, ms, min_ms, repeats, bytes/gbps or flops/gflops, extras), so
bench/make_gpu_report.py can put both side by side. "bytes" and "flops" use the same napkin
formulas as bench_gpu.cpp (see the comments there).

TF32 is off for matmul and cuDNN, so float32 means float32 as in our kernels. Backward rows
use torch.autograd.grad (the op's backward only, no accumulation into .grad), as bench_gpu
calls the op's backward Node. NT-Xent is the eager composition a PyTorch user writes
(normalize, matmul, mask the diagonal, cross_entropy); the training step is our ConvNet
(bench/torch_train_step.py) with the SimCLR projection head, NT-Xent and Adam.

Usage: torch_gpu.py [--quick] [--budget-s SECONDS] [--only group,group,...] [--out FILE]
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

FLUSH_BYTES = 256 << 20  # larger than the L2 of the H100 (50 MB) and the H200 (60 MB)


class Timer:
    def __init__(self, quick):
        self.quick = quick
        self.flush = torch.empty(FLUSH_BYTES, dtype=torch.uint8, device="cuda")
        self.start = torch.cuda.Event(enable_timing=True)
        self.stop = torch.cuda.Event(enable_timing=True)

    def one_call(self, body, before, flush_l2):
        if before is not None:
            before()
        if flush_l2:
            self.flush.fill_(1)
        self.start.record()
        body()
        self.stop.record()
        self.stop.synchronize()
        return self.start.elapsed_time(self.stop)

    def time(self, body, before=None, flush_l2=True):
        """Median ms of body() over enough calls to fill the row's time target."""
        first_ms = self.one_call(body, before, flush_l2)  # warm-up
        torch.cuda.synchronize()
        target_ms = 120.0 if self.quick else 400.0
        lo, hi = (3, 15) if self.quick else (5, 50)
        calls = min(max(int(target_ms / max(first_ms, 1e-3)), lo), hi)
        ms = sorted(self.one_call(body, before, flush_l2) for _ in range(calls))
        median = ms[calls // 2] if calls % 2 else 0.5 * (ms[calls // 2 - 1] + ms[calls // 2])
        return {"ms": median, "min_ms": ms[0], "repeats": calls}


class Bench:
    def __init__(self, args):
        self.args = args
        self.timer = Timer(args.quick)
        self.started = time.monotonic()

    def wants(self, group):
        return not self.args.only or group in self.args.only

    def row(self, group, case, impl, measure):
        line = {"group": group, "case": case, "impl": impl}
        if time.monotonic() - self.started > self.args.budget_s:
            line["skipped"] = "time budget"
            self.emit(line, f"{group} {case} [{impl}]: skipped (time budget)")
            return
        try:
            m = measure()
            line.update(m)
            readable = f"{group} {case} [{impl}]: {m['ms']:.4g} ms"
            if m.get("bytes"):
                line["gbps"] = m["bytes"] / (m["ms"] * 1e-3) / 1e9
                readable += f", {line['gbps']:.4g} GB/s"
            if m.get("flops"):
                line["gflops"] = m["flops"] / (m["ms"] * 1e-3) / 1e9
                readable += f", {line['gflops']:.4g} GFLOP/s"
            self.emit(line, readable)
        except Exception as e:  # one failing row must not stop the others
            line["error"] = f"{type(e).__name__}: {e}"
            self.emit(line, f"{group} {case} [{impl}]: ERROR {line['error']}")
        torch.cuda.empty_cache()

    def emit(self, line, readable):
        print(json.dumps(line), file=self.args.out, flush=True)
        print(readable, file=sys.stderr, flush=True)


def pattern(shape, seed, requires_grad=False):
    g = torch.Generator(device="cuda").manual_seed(seed)
    t = torch.rand(shape, generator=g, device="cuda") * 2 - 1  # [-1, 1), as bench_gpu's pattern
    return t.requires_grad_(requires_grad)


def grad_of(outputs, inputs, grad_outputs):
    return lambda: torch.autograd.grad(outputs, inputs, grad_outputs, retain_graph=True)


def bench_copy(b):
    def measure():
        src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
        dst = torch.empty_like(src)
        return dict(b.timer.time(lambda: dst.copy_(src)), bytes=2.0 * (1 << 30))

    b.row("copy", "cudaMemcpy D2D 1 GiB", "torch", measure)


def bench_elementwise(b):
    n = 1 << 28

    def add():
        x, y = pattern(n, 1), pattern(n, 2)
        return dict(b.timer.time(lambda: x + y), bytes=3.0 * 4 * n)

    def relu():
        x = pattern(n, 3)
        return dict(b.timer.time(lambda: torch.relu(x)), bytes=2.0 * 4 * n)

    with torch.no_grad():
        b.row("elementwise", "add 256M", "torch", add)
        b.row("elementwise", "relu 256M", "torch", relu)


def bench_batch_norm(b):
    shape = (512, 64, 28, 28)
    n = 512 * 64 * 28 * 28

    def make():
        x = pattern(shape, 4, requires_grad=True)
        w = torch.ones(64, device="cuda", requires_grad=True)
        bias = torch.zeros(64, device="cuda", requires_grad=True)
        return x, w, bias, torch.zeros(64, device="cuda"), torch.ones(64, device="cuda")

    def forward():
        x, w, bias, rm, rv = make()
        return dict(b.timer.time(lambda: F.batch_norm(x, rm, rv, w, bias, training=True)), bytes=2.0 * 4 * n)

    def backward():
        x, w, bias, rm, rv = make()
        y = F.batch_norm(x, rm, rv, w, bias, training=True)
        dy = pattern(shape, 5)
        return dict(b.timer.time(grad_of(y, [x, w, bias], dy)), bytes=3.0 * 4 * n)

    b.row("batch_norm", "forward train [512,64,28,28]", "torch", forward)
    b.row("batch_norm", "backward train [512,64,28,28]", "torch", backward)


def bench_max_pool(b):
    shape = (512, 64, 28, 28)
    n = 512 * 64 * 28 * 28

    def forward():
        x = pattern(shape, 6, requires_grad=True)  # with grad, the int64 argmax is saved too
        return dict(b.timer.time(lambda: F.max_pool2d(x, 2)), bytes=7.0 * n)

    def backward():
        x = pattern(shape, 6, requires_grad=True)
        y = F.max_pool2d(x, 2)
        dy = pattern(tuple(y.shape), 7)
        return dict(b.timer.time(grad_of(y, [x], dy)), bytes=7.0 * n)

    b.row("max_pool", "forward 2x2 [512,64,28,28]", "torch", forward)
    b.row("max_pool", "backward 2x2 [512,64,28,28]", "torch", backward)


def bench_softmax(b):
    rows, classes = 65536, 1024
    n = rows * classes
    targets = lambda: (torch.arange(rows, device="cuda") * 7919) % classes

    def sm_forward():
        x = pattern((rows, classes), 8, requires_grad=True)
        return dict(b.timer.time(lambda: torch.softmax(x, 1)), bytes=2.0 * 4 * n)

    def sm_backward():
        x = pattern((rows, classes), 8, requires_grad=True)
        y = torch.softmax(x, 1)
        dy = pattern((rows, classes), 9)
        return dict(b.timer.time(grad_of(y, [x], dy)), bytes=3.0 * 4 * n)

    def ce_forward():
        x, t = pattern((rows, classes), 10, requires_grad=True), targets()
        return dict(b.timer.time(lambda: F.cross_entropy(x, t)), bytes=4.0 * n)

    def ce_backward():
        x, t = pattern((rows, classes), 10, requires_grad=True), targets()
        loss = F.cross_entropy(x, t)
        return dict(b.timer.time(grad_of(loss, [x], torch.ones((), device="cuda"))), bytes=2.0 * 4 * n)

    b.row("softmax", "softmax forward [65536,1024]", "torch", sm_forward)
    b.row("softmax", "softmax backward [65536,1024]", "torch", sm_backward)
    b.row("softmax", "cross_entropy forward [65536,1024]", "torch", ce_forward)
    b.row("softmax", "cross_entropy backward [65536,1024]", "torch", ce_backward)


def bench_gemm(b):
    for size in (1024, 2048, 4096):
        def measure(size=size):
            x, y = pattern((size, size), 11), pattern((size, size), 12)
            return dict(b.timer.time(lambda: x @ y), flops=2.0 * size ** 3)

        with torch.no_grad():
            b.row("gemm", f"sgemm {size}", "torch", measure)


def bench_conv(b):
    batch = 512
    for size, cin, cout in ((28, 1, 32), (28, 32, 64), (14, 64, 128), (7, 128, 256)):
        name = f"{size}x{size} {cin}->{cout}"
        forward_flops = 2.0 * batch * cout * size * size * cin * 9

        def inputs(size=size, cin=cin, cout=cout):
            return (pattern((batch, cin, size, size), 13, requires_grad=True),
                    pattern((cout, cin, 3, 3), 14, requires_grad=True))

        def forward(inputs=inputs, flops=forward_flops):
            x, w = inputs()
            return dict(b.timer.time(lambda: F.conv2d(x, w, padding=1)), flops=flops)

        def backward(inputs=inputs, flops=forward_flops):
            x, w = inputs()
            y = F.conv2d(x, w, padding=1)
            dy = pattern(tuple(y.shape), 15)
            return dict(b.timer.time(grad_of(y, [x, w], dy)), flops=2.0 * flops)

        b.row("conv", name + " forward", "torch", forward)
        b.row("conv", name + " backward", "torch", backward)


class NTXent:
    """SimCLR's loss written the eager way: rows i and i + N are positives."""

    def __init__(self, rows, temperature):
        self.temperature = temperature
        self.self_mask = torch.eye(rows, dtype=torch.bool, device="cuda")
        self.targets = (torch.arange(rows, device="cuda") + rows // 2) % rows

    def __call__(self, z):
        zn = F.normalize(z, dim=1)
        sim = (zn @ zn.T) / self.temperature
        sim = sim.masked_fill(self.self_mask, float("-inf"))  # k = i leaves the sum: exp(-inf) = 0
        return F.cross_entropy(sim, self.targets)


def bench_nt_xent(b):
    d = 128
    for rows in (512, 2048, 8192):
        def measure(rows=rows):
            z = pattern((rows, d), 16, requires_grad=True)
            loss_fn = NTXent(rows, 0.5)

            def step():
                z.grad = None
                loss_fn(z).backward()

            step()  # warm-up, outside the memory measurement
            torch.cuda.synchronize()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            step()
            torch.cuda.synchronize()
            peak_extra = torch.cuda.max_memory_allocated() - before
            return dict(b.timer.time(step), flops=2.0 * 2.0 * rows * rows * d, peak_extra_bytes=peak_extra)

        b.row("nt_xent", f"2N={rows} d=128", "torch eager", measure)


def simclr_model(width=32):
    layers, channels = [], 1
    for block, out in enumerate([width, 2 * width, 4 * width, 8 * width]):
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
        if block in (1, 2):
            layers.append(nn.MaxPool2d(2))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    features = 8 * width  # the projection head, as ssl/simclr.cpp: hidden = features, BN, ReLU, 128
    layers += [nn.Linear(features, features, bias=False), nn.BatchNorm1d(features), nn.ReLU(),
               nn.Linear(features, 128)]
    return nn.Sequential(*layers)


def bench_train_step(b):
    """The SimCLR step three ways: eager FP32 (TF32 off), torch.compile of the model and the
    loss (FP32), and eager under BF16 autocast (FP32 master weights; no loss scaling, BF16 has
    float32's exponent range). A way this PyTorch lacks (torch.compile before 2.0) is an
    error row naming why, and the others still run."""
    views = 512
    case = "ConvNet w=32 + head, 512 views 1x28x28"

    def measure(mode):
        torch.manual_seed(2024)
        model = simclr_model().cuda().train()
        adam = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-6)
        images = pattern((views, 1, 28, 28), 17)
        loss_fn = NTXent(views, 0.5)
        forward = model
        if mode == "compile":
            if not hasattr(torch, "compile"):
                raise RuntimeError(f"torch.compile needs PyTorch 2.0 or newer (this is {torch.__version__})")
            forward = torch.compile(model)
            loss_fn = torch.compile(loss_fn)

        def step():
            adam.zero_grad(set_to_none=True)
            if mode == "amp bf16":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = loss_fn(forward(images))
            else:
                loss = loss_fn(forward(images))
            loss.backward()
            adam.step()

        # Warm-up: Adam's state, cuDNN's plans, and for compile the compilations (a few steps,
        # as guards can recompile once after the first call).
        for _ in range(3 if mode == "compile" else 1):
            step()
        torch.cuda.synchronize()
        t = b.timer.time(step, flush_l2=False)
        seconds = t["ms"] * 1e-3
        return dict(t, views_per_s=views / seconds, pairs_per_s=views / 2 / seconds)

    for mode, impl in (("eager", "torch"), ("compile", "torch compile"), ("amp bf16", "torch amp bf16")):
        b.row("train_step", case, impl, lambda mode=mode: measure(mode))


GROUPS = {"copy": bench_copy, "elementwise": bench_elementwise, "batch_norm": bench_batch_norm,
          "max_pool": bench_max_pool, "softmax": bench_softmax, "gemm": bench_gemm, "conv": bench_conv,
          "nt_xent": bench_nt_xent, "train_step": bench_train_step}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--budget-s", type=float, default=1e9, help="start no new row after this many seconds")
    parser.add_argument("--only", type=lambda s: set(filter(None, s.split(","))), default=set(),
                        help="comma-separated groups: " + " ".join(GROUPS))
    parser.add_argument("--out", type=argparse.FileType("w"), default=sys.stdout,
                        help="write the JSON lines here (default stdout)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        error = {"group": "meta", "impl": "torch", "error": "torch.cuda.is_available() is False"}
        print(json.dumps(error), file=args.out)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    props = torch.cuda.get_device_properties(0)
    try:
        cudnn_version = torch.backends.cudnn.version()
    except Exception as e:  # the meta line must not stop the benchmarks
        cudnn_version = f"unknown ({e})"
    print(json.dumps({"group": "meta", "impl": "torch", "torch": torch.__version__,
                      "cuda": torch.version.cuda, "cudnn": cudnn_version,
                      "device": props.name, "sms": props.multi_processor_count,
                      "cudnn_benchmark": torch.backends.cudnn.benchmark, "tf32": False, "quick": args.quick}),
          file=args.out, flush=True)
    b = Bench(args)
    for name, run in GROUPS.items():
        if b.wants(name):
            run(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
