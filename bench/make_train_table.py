#!/usr/bin/env python3
"""Writes the markdown of bench/results/train-step-cpu-<date>.md from the files that
bench/train_step_bench.sh leaves in one folder:
  ours.json              Google Benchmark JSON of bench_train_step (BM_train_step/16, /32)
  torch.json             bench/torch_train_step.py (images/s per width)
  memory-ours-<w>.json   bench_train_step --memory=<w>
  memory-torch-<w>.json  torch_train_step.py --memory <w>
  profile-<w>.md         bench_train_step --profile=<w>
Usage: make_train_table.py FOLDER TORCH_PYTHON"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_header import commit_text, date_text, machine_text  # noqa: E402

# Floors of this version (issue: nn). The project's goal is to beat PyTorch.
SPEED_FLOOR = 0.7   # ours / PyTorch images/s, at least
MEMORY_FLOOR = 1.5  # ours / PyTorch peak step memory, at most
WIDTHS = [16, 32]
MIB = 1024.0 * 1024.0


def ours_speed(path):
    data = json.load(open(path))
    out = {}
    for b in data["benchmarks"]:
        width = int(b["name"].split("/")[1])
        out[width] = {"ms": b["real_time"], "images_per_s": b["images/s"]}
    return out, data["context"]


def verdict(ok, miss_text):
    return "meets" if ok else f"MISSES ({miss_text})"


def main():
    folder, torch_python = sys.argv[1], sys.argv[2]
    load = lambda name: json.load(open(os.path.join(folder, name)))
    mine, context = ours_speed(os.path.join(folder, "ours.json"))
    torch = load("torch.json")

    print("# CPU training step: simclr.cpp vs PyTorch\n")
    print(f"- date: {date_text()}")
    print(f"- commit: {commit_text()}")
    print(f"- machine: {machine_text()}")
    print(f"- threads: simclr.cpp {context.get('sc_threads', '?')}, PyTorch {torch['threads']}")
    print(f"- peer: PyTorch {torch['torch']} ({torch.get('build', 'build not recorded')}; {torch_python}, bench/torch_train_step.py), run right after ours "
          "by bench/train_step_bench.sh")
    print("- step: ConvNet(w, 1 input channel) + Linear(8w -> 10), batch 512 of random 1x28x28 images, training "
          "mode, cross_entropy on random labels, backward, Adam (lr 1e-3); images/s = 512 / mean step time "
          "after one warm-up step (ours: bench/bench_train_step, Google Benchmark, min time 5 s; PyTorch: "
          "at least 5 s of steps)\n")

    print("## Throughput\n")
    print(f"| width | ours ms/step | ours images/s | PyTorch ms/step | PyTorch images/s | ours / PyTorch | floor | |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for w in WIDTHS:
        r, t = mine[w], torch["results"][str(w)]
        ratio = r["images_per_s"] / t["images_per_s"]
        print(f"| {w} | {r['ms']:.1f} | {r['images_per_s']:.0f} | {t['ms']:.1f} | {t['images_per_s']:.0f} | "
              f"{ratio:.2f}x | {SPEED_FLOOR}x | {verdict(ratio >= SPEED_FLOOR, f'{ratio:.2f}x < {SPEED_FLOOR}x')} |")

    print("\n## Memory\n")
    print("Peak step memory, measured the same way on both sides: a separate process per side and width that "
          "builds the model and one batch, then runs 2 warm-up steps and 5 steps; "
          "**step memory = peak RSS (VmHWM) - RSS just before the first step (VmRSS)**, both from "
          "/proc/self/status. The absolute peak RSS is shown too (PyTorch's includes its ~hundreds of MiB "
          "of libraries). 'engine counted' is the engine allocator's high-water mark during one real step "
          "above what was held after zero_grad (parameters, Adam state, the batch); 'report total' is "
          "nn::measure_step_memory's total (parameters + gradients + Adam state + input + step peak of a "
          "forward/backward with loss sum(out^2)).\n")
    print("| width | ours step MiB (RSS) | PyTorch step MiB (RSS) | ours / PyTorch | floor | | ours peak RSS MiB | "
          "PyTorch peak RSS MiB | ours engine counted MiB | ours report total MiB |")
    print("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    reports = {}
    for w in WIDTHS:
        m, t = load(f"memory-ours-{w}.json"), load(f"memory-torch-{w}.json")
        reports[w] = m["report"]
        ours_step = (m["peak_rss_kb"] - m["rss_before_first_step_kb"]) / 1024.0
        torch_step = (t["peak_rss_kb"] - t["rss_before_first_step_kb"]) / 1024.0
        ratio = ours_step / torch_step if torch_step > 0 else float("inf")
        print(f"| {w} | {ours_step:.0f} | {torch_step:.0f} | {ratio:.2f}x | <= {MEMORY_FLOOR}x | "
              f"{verdict(ratio <= MEMORY_FLOOR, f'{ratio:.2f}x > {MEMORY_FLOOR}x')} | {m['peak_rss_kb'] / 1024.0:.0f} | "
              f"{t['peak_rss_kb'] / 1024.0:.0f} | {m['engine_step_peak_bytes'] / MIB:.0f} | "
              f"{m['report']['total_bytes'] / MIB:.0f} |")

    print("\nnn::measure_step_memory (MiB):\n")
    print("| width | parameters | gradients | Adam state | input | step peak above pre-step | total |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for w in WIDTHS:
        r = reports[w]
        print(f"| {w} | {r['parameter_bytes'] / MIB:.2f} | {r['gradient_bytes'] / MIB:.2f} | "
              f"{r['optimizer_state_bytes'] / MIB:.2f} | {r['input_bytes'] / MIB:.2f} | "
              f"{r['step_peak_bytes'] / MIB:.0f} | {r['total_bytes'] / MIB:.0f} |")

    print("\n## Where the engine's time goes (core/profiler.h)\n")
    for w in WIDTHS:
        print(f"### w = {w}\n")
        print(open(os.path.join(folder, f"profile-{w}.md")).read().rstrip() + "\n")


if __name__ == "__main__":
    main()
