#!/usr/bin/env python3
"""Turns the Google Benchmark JSON of bench_ops and the JSON of torch_ops.py into the
markdown table of bench/results/: ours / PyTorch per shape, with the floor of each op."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_header import commit_text, date_text, machine_text  # noqa: E402

# Floors of the first version (issue: core engine). The project's goal is to beat PyTorch.
FLOORS = {"matmul": 0.8, "conv2d_fwd_bwd": 0.5}


def floor_for(name):
    op = name.split("/")[0]
    if op == "matmul" and int(name.split("/")[1]) < 512:
        return None  # the floor applies from 512^3 up
    return FLOORS.get(op)


def ours(path):
    data = json.load(open(path))
    out = {}
    for b in data["benchmarks"]:
        name = b["name"].removeprefix("BM_").split("/real_time")[0].split("/min_time")[0]
        out[name] = {"ms": b["real_time"], "gflops": b["GFLOP/s"]}
    return out, data["context"]


def main():
    mine, context = ours(sys.argv[1])
    torch = json.load(open(sys.argv[2]))
    print("# CPU benchmark: simclr.cpp vs PyTorch\n")
    print(f"- date: {date_text()}")
    print(f"- commit: {commit_text()}")
    print(f"- machine: {machine_text()}")
    print(f"- threads: simclr.cpp {context.get('sc_threads', '?')}, PyTorch {torch['threads']}")
    print(f"- peer: PyTorch {torch['torch']} ({torch.get('build', 'build not recorded')}; bench/torch_ops.py), same shapes, run right after ours by bench/cpu_bench.sh")
    print("- ours: bench/bench_ops (Google Benchmark, Release build; float32 GEMM: our AVX2 kernel, kernels/cpu/gemm_avx2.cpp; OpenMP)\n")
    print("| op | shape | ours ms | ours GFLOP/s | PyTorch ms | PyTorch GFLOP/s | ours / PyTorch | floor | |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for name, r in mine.items():
        t = torch["results"].get(name)
        if t is None:
            continue
        ratio = r["gflops"] / t["gflops"]
        fl = floor_for(name)
        verdict = "" if fl is None else ("meets" if ratio >= fl else f"MISSES by {(fl - ratio) / fl * 100:.0f}%")
        op, shape = name.split("/", 1)
        shape = shape.replace("/", "x") if op == "matmul" else "N={} C={} O={} {}x{}".format(*shape.split("/"), shape.split("/")[-1])
        print(f"| {op} | {shape} | {r['ms']:.2f} | {r['gflops']:.1f} | {t['ms']:.2f} | {t['gflops']:.1f} | "
              f"{ratio:.2f} | {'' if fl is None else fl} | {verdict} |")


if __name__ == "__main__":
    main()
