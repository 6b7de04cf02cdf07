#!/usr/bin/env python3
"""The PyTorch peer of bench/bench_ops.cpp: the same ops, shapes and thread count,
timed the same way (wall clock per iteration, autograd included). Prints JSON:
{"torch": version, "threads": n, "results": {name: {"ms": ..., "gflops": ...}}}.

Usage: python bench/torch_ops.py --threads 2 [--min-time 2.0]
"""
import argparse
import json
import time

import torch

from peer_info import peer_build



def timed(fn, min_time):
    fn()  # warm-up (allocator, kernels)
    iters, start = 0, time.perf_counter()
    while True:
        fn()
        iters += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and iters >= 3:
            return elapsed / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--min-time", type=float, default=2.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    results = {}

    for n in (256, 512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        s = timed(lambda: torch.mm(a, b), max(args.min_time / 4, 0.5))
        results[f"matmul/{n}"] = {"ms": s * 1e3, "gflops": 2 * n**3 / s * 1e-9}

    for (n, c, o, hw) in ((512, 1, 32, 28), (512, 32, 64, 28), (512, 64, 128, 14), (512, 128, 256, 7)):
        x = torch.randn(n, c, hw, hw, requires_grad=True)
        w = (0.1 * torch.randn(o, c, 3, 3)).requires_grad_()
        bias = torch.zeros(o, requires_grad=True)
        g = torch.randn(n, o, hw, hw)

        def step():
            y = torch.nn.functional.conv2d(x, w, bias, padding=1)
            y.backward(g)
            x.grad = w.grad = bias.grad = None

        s = timed(step, args.min_time)
        flops = 3 * 2 * n * o * c * 9 * hw * hw
        results[f"conv2d_fwd_bwd/{n}/{c}/{o}/{hw}"] = {"ms": s * 1e3, "gflops": flops / s * 1e-9}

    print(json.dumps({"torch": torch.__version__, "build": peer_build(), "threads": torch.get_num_threads(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
