#!/usr/bin/env python3
"""Writes the markdown of bench/results/cpu-step-<date>.md (issue 14) from the folder that
bench/cpu_step_bench.sh fills:

  knobs.json                         the script's settings (reps, threads, models, min time ...)
  load.txt                           `uptime` before and after
  peak.json                          bench_cpu_peak: FMA GFLOP/s and copy GB/s per thread count
  speed-<side>-<model>-t<T>-r<R>.json  one speed run (side: ours | torch) of repetition R
  memory-<side>-<model>-t<T>.json    one memory run
  profile-<model>-t<T>.json          bench_simclr_step --mode profile

Usage: make_cpu_step_table.py FOLDER TORCH_PYTHON"""
import glob
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from step_cost_model import row_cost  # noqa: E402
from bench_header import commit_text, date_text, machine_text  # noqa: E402

# Issue 14's targets.
SPEED_TARGET = {"convnet-w16": 1.5, "convnet-w32": 1.5, "resnet18-w16": 1.2}  # ours / PyTorch images/s, at least
MEMORY_TARGET = 0.8  # ours / PyTorch step memory, at most
CONV_TARGET = 0.60   # conv forward and backward at the w=32 shapes: share of the FMA peak, at least
MODES = ["step", "step+augment"]
SMALL_ROW = 0.001    # profile rows under this share of the step are summed into one line
MIB = 1024.0 * 1024.0


def load(path):
    with open(path) as f:
        return json.load(f)


def verdict(ok):
    return "met" if ok else "**missed**"


def speed_runs(folder):
    """{(side, model, threads): [run json, ...]} over the repetitions."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(folder, "speed-*.json"))):
        m = re.match(r"speed-(ours|torch)-(.+)-t(\d+)-r(\d+)\.json$", os.path.basename(path))
        if m:
            runs.setdefault((m.group(1), m.group(2), int(m.group(3))), []).append(load(path))
    return runs


def fmt_range(values, digits=0):
    if len(values) < 2:
        return ""
    return f" ({min(values):.{digits}f}-{max(values):.{digits}f})"


def fma_peak(peak, threads):
    """(GFLOP/s, ISA name) of the widest FMA this CPU has, at `threads` threads."""
    for isa in ("avx512", "avx2"):
        value = peak.get("fma_gflops", {}).get(isa, {}).get(str(threads))
        if value:
            return value, isa
    return None, None


def print_header(folder, torch_python, knobs, runs):
    torch_runs = [r for (side, _, _), rs in runs.items() if side == "torch" for r in rs]
    peer = f"PyTorch {torch_runs[0]['torch']} ({torch_runs[0]['build']})" if torch_runs else "PyTorch (no run)"
    with open(os.path.join(folder, "load.txt")) as f:
        load_lines = f.read().strip().splitlines()
    print("# CPU SimCLR step: simclr.cpp vs PyTorch (issue 14)\n")
    quick = (knobs["reps"] < 3 or knobs["min_time"] < 5 or knobs["batch"] != 0 or knobs["models"] != list(SPEED_TARGET))
    if quick:
        print("> **Quick run** (fewer repetitions, a shorter minimum time, another batch or fewer models than "
              "the issue's measurement): a test of the pipeline, not a result to cite.\n")
    print(f"- date: {date_text()}")
    print(f"- commit: {commit_text()}")
    print(f"- machine: {machine_text(with_vector_flags=True)}")
    for line in load_lines:
        print(f"- {line}")
    print(f"- peer: {peer}, {torch_python} (bench/torch_peer.sh), bench/torch_simclr_step.py")
    print(f"- ours: bench/bench_simclr_step (ssl::train_step, the trainer's step)")
    print(f"- settings: {knobs['reps']} repetitions, ours and PyTorch alternating (ours first in odd repetitions, "
          f"PyTorch first in even ones), threads {' and '.join(map(str, knobs['threads']))}, "
          f"{knobs['warmup']} warm-up steps, then at least {knobs['min_time']:g} s and {knobs['min_steps']} steps per "
          f"figure; the figure is images/s = images per step x steps / elapsed, the table shows the median over the "
          f"repetitions (min-max in brackets)")
    batches = sorted({f"{model}: {rs[0]['batch']} images = {rs[0]['views']} views" for (_, model, _), rs in runs.items()})
    print(f"- unit: **images/s, an image being one pair of views**, the same unit on both sides; per step: "
          f"{'; '.join(batches)}\n")


def print_step_definition(runs):
    images = {}
    for (side, model, _), rs in runs.items():
        images.setdefault(model, set()).add(f"{side}: {rs[0]['images']}")
    print("## The step\n")
    print("Both sides take the step `simclr train` takes (ssl::train_step): the warmup-cosine lr, zero_grad, both "
          "views through the encoder and the 128-d projection head (Linear(D, D, no bias) - BatchNorm1d - ReLU - "
          "Linear(D, 128)) in one batch, NT-Xent (temperature 0.2), the two health metrics on z (contrastive top-1, "
          "embedding std, float64), the loss and gradient finiteness checks, backward, Adam (lr 3e-3, weight decay "
          "1e-6). ConvNet w=16 and w=32 on 1x28x28, ResNet-18 (CIFAR stem, base width 16) on 3x32x32.\n")
    print("- **step**: the model step alone, on one fixed two-view batch made once by the augmentation pipeline.")
    print("- **step+augment**: each step first builds a new two-view batch of random images, in the same process and "
          "thread: ours with ssl::make_two_view_batch and the simclr-gray / simclr-rgb preset (the loader's function), "
          "PyTorch with torchvision.transforms of the same parameters, one image at a time (bench/torch_simclr_step.py "
          "says exactly which).")
    print("- images: " + "; ".join(f"{m}: {', '.join(sorted(v))}" for m, v in sorted(images.items())) + "\n")


def print_parameter_check(runs, models):
    print("### Same model on both sides\n")
    print("| model | ours parameters | PyTorch parameters | |")
    print("|---|---:|---:|---|")
    for model in models:
        ours = next((rs[0]["parameters"] for (s, m, _), rs in runs.items() if s == "ours" and m == model), None)
        torch = next((rs[0]["parameters"] for (s, m, _), rs in runs.items() if s == "torch" and m == model), None)
        same = "same" if ours is not None and ours == torch else "**DIFFERENT**"
        count = lambda n: f"{n:,}" if n is not None else "?"
        print(f"| {model} | {count(ours)} | {count(torch)} | {same} |")
    print()


def print_throughput(runs, models, threads_list):
    print("## Throughput\n")
    print("| model | threads | timed | ours images/s | PyTorch images/s | ours / PyTorch | target | |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for model in models:
        for threads in threads_list:
            ours_runs, torch_runs = runs.get(("ours", model, threads), []), runs.get(("torch", model, threads), [])
            if not ours_runs or not torch_runs:
                continue
            for mode in MODES:
                ours = [r["results"][mode]["images_per_s"] for r in ours_runs]
                torch = [r["results"][mode]["images_per_s"] for r in torch_runs]
                ratio = statistics.median(ours) / statistics.median(torch)
                target = SPEED_TARGET[model]
                print(f"| {model} | {threads} | {mode} | {statistics.median(ours):.0f}{fmt_range(ours)} | "
                      f"{statistics.median(torch):.0f}{fmt_range(torch)} | {ratio:.2f}x | >= {target}x | "
                      f"{verdict(ratio >= target)} |")
    print("\nTime spent building the views inside step+augment (median ms per step, ours / PyTorch):\n")
    print("| model | threads | ours ms | PyTorch ms |")
    print("|---|---:|---:|---:|")
    for model in models:
        for threads in threads_list:
            ours_runs, torch_runs = runs.get(("ours", model, threads), []), runs.get(("torch", model, threads), [])
            if ours_runs and torch_runs:
                ours = statistics.median(r["results"]["step+augment"]["augment_ms_per_step"] for r in ours_runs)
                torch = statistics.median(r["results"]["step+augment"]["augment_ms_per_step"] for r in torch_runs)
                print(f"| {model} | {threads} | {ours:.1f} | {torch:.1f} |")
    print()


def print_memory(folder, models, threads_list):
    print("## Step memory\n")
    print("Measured the same way on both sides: a fresh process per side, model and thread count builds the model "
          "and its fixed batch, reads VmRSS, runs 2 warm-up steps and 5 steps, then reads VmHWM (/proc/self/status): "
          "**step memory = peak RSS - RSS before the first step**. 'engine counted' is our allocator's high-water mark "
          "during one step above what was held after zero_grad.\n")
    print("| model | threads | ours step MiB | PyTorch step MiB | ours / PyTorch | target | | ours peak RSS MiB | "
          "PyTorch peak RSS MiB | ours engine counted MiB |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for model in models:
        for threads in threads_list:
            ours_path = os.path.join(folder, f"memory-ours-{model}-t{threads}.json")
            torch_path = os.path.join(folder, f"memory-torch-{model}-t{threads}.json")
            if not (os.path.exists(ours_path) and os.path.exists(torch_path)):
                continue
            ours, torch = load(ours_path)["memory"], load(torch_path)["memory"]
            ours_step = (ours["peak_rss_kb"] - ours["rss_before_first_step_kb"]) / 1024.0
            torch_step = (torch["peak_rss_kb"] - torch["rss_before_first_step_kb"]) / 1024.0
            ratio = ours_step / torch_step if torch_step > 0 else float("inf")
            print(f"| {model} | {threads} | {ours_step:.0f} | {torch_step:.0f} | {ratio:.2f}x | <= {MEMORY_TARGET}x | "
                  f"{verdict(ratio <= MEMORY_TARGET)} | {ours['peak_rss_kb'] / 1024.0:.0f} | "
                  f"{torch['peak_rss_kb'] / 1024.0:.0f} | {ours['engine_step_peak_bytes'] / MIB:.0f} |")
    print()


def print_peak(peak, threads_list):
    print("## This CPU's ceilings (bench/bench_cpu_peak)\n")
    print(f"FMA peak: {peak['fma_chains']} independent float32 FMA chains per thread, from registers only; "
          f"FLOPs = 2 per lane per FMA; the best of the runs. Copy: memcpy of a {peak['copy_mib']} MiB array "
          f"(memory) and of a {peak['cache_copy_mib']} MiB array (in the last-level cache), each thread its own "
          "half; bytes = read + written, as STREAM counts a copy."
          + (f" Measured {peak['measured']}." if peak.get("measured") else "") + "\n")
    print("| threads | FMA AVX-512 GFLOP/s | FMA AVX2 GFLOP/s | copy GB/s (memory) | copy GB/s (in cache) |")
    print("|---:|---:|---:|---:|---:|")
    for threads in threads_list:
        key = str(threads)
        avx512 = peak.get("fma_gflops", {}).get("avx512", {}).get(key)
        avx2 = peak.get("fma_gflops", {}).get("avx2", {}).get(key)
        print(f"| {threads} | {f'{avx512:.1f}' if avx512 else 'n/a'} | {f'{avx2:.1f}' if avx2 else 'n/a'} | "
              f"{peak['copy_gbps'][key]:.1f} | {peak['cache_copy_gbps'][key]:.1f} |")
    print()


def profile_rows(profile, peak, threads):
    """The profile's rows with their work, rate and share of the ceiling, longest first."""
    steps = profile["steps"]
    fma, isa = fma_peak(peak, threads)
    copy = peak["copy_gbps"].get(str(threads))
    cache_copy = peak["cache_copy_gbps"].get(str(threads))
    rows = []
    for row in profile["rows"]:
        calls = row["calls"] / steps
        cost = row_cost(row["head"], profile["graph_nodes"] or [], calls)
        seconds_per_call = row["total_ms"] / row["calls"] / 1e3
        rate = cost["amount"] / seconds_per_call / 1e9 if seconds_per_call > 0 and cost["amount"] > 0 else None
        if cost["bound"] == "flops" and rate is not None and fma:
            share, of = rate / fma, f"FMA {isa}"
        elif cost["bound"] == "bytes" and rate is not None and copy:
            share, of = rate / copy, "copy"
        else:
            share, of = None, ""
        rows.append({"head": row["head"], "calls": calls, "ms_per_step": row["total_ms"] / steps, "cost": cost,
                     "rate": rate, "share": share, "of": of,
                     "cache_share": rate / cache_copy if cost["bound"] == "bytes" and rate and cache_copy else None})
    rows.sort(key=lambda r: -r["ms_per_step"])
    return rows


def work_text(cost):
    if cost["bound"] == "flops":
        return f"{cost['amount'] / 1e9:.3f} GFLOP"
    if cost["bound"] == "bytes":
        return f"{cost['amount'] / 1e6:.2f} MB"
    return "-"


def rate_text(row):
    if row["rate"] is None:
        return "-"
    return f"{row['rate']:.1f} GFLOP/s" if row["cost"]["bound"] == "flops" else f"{row['rate']:.1f} GB/s"


def print_profile(folder, peak, models, threads_list):
    print("## Where the time goes, against this CPU's ceilings\n")
    print("Each row is one op or one backward Node with one set of input shapes, summed over the profiled steps "
          "(bench_simclr_step --mode profile: the op trace of core/trace.h, with the profiler of core/profiler.h on). "
          "Work per call is counted from the shapes (bench/step_cost_model.py, formula in the last column): FLOPs for "
          "convolutions, matrix products and NT-Xent, compared with the FMA peak at the same thread count; bytes that "
          "must be read and written for the rest, compared with the copy bandwidth (memory; the in-cache figure in "
          "brackets, since most of these tensors fit in the last-level cache). A backward row's shape is the "
          "gradient arriving at the Node. 'not in any row' is the step time outside every op: the health metrics' "
          "own loops, the schedule, Python-free glue.\n")
    conv_rows = []
    for model in models:
        for threads in threads_list:
            path = os.path.join(folder, f"profile-{model}-t{threads}.json")
            if not os.path.exists(path):
                continue
            data = load(path)
            profile = data["profile"]
            rows = profile_rows(profile, peak, threads)
            step_ms = profile["mean_step_ms"]
            print(f"### {model}, {threads} thread{'s' if threads > 1 else ''}: {step_ms:.1f} ms per step with the "
                  f"profiler on ({profile['steps']} steps, batch {data['batch']} images = {data['views']} views)\n")
            print("| op (input shapes) | calls/step | ms/step | share | work per call | achieved | % of peak | formula |")
            print("|---|---:|---:|---:|---:|---:|---:|---|")
            accounted, small_ms, small_rows = 0.0, 0.0, 0
            for r in rows:
                accounted += r["ms_per_step"]
                if model == "convnet-w32" and r["head"].split("  ")[0] in ("conv2d", "backward conv2d"):
                    conv_rows.append((threads, r))
                if r["ms_per_step"] < SMALL_ROW * step_ms:
                    small_ms += r["ms_per_step"]
                    small_rows += 1
                    continue
                if r["share"] is None:
                    pct = "-"
                elif r["cost"]["bound"] == "bytes":
                    pct = f"{100 * r['share']:.0f}% of copy ({100 * r['cache_share']:.0f}% in cache)"
                else:
                    pct = f"{100 * r['share']:.0f}% of {r['of']}"
                head = r["head"].rsplit("  ", 1)[0].replace("float32", "f32").replace("|", "/")
                print(f"| {head} | {r['calls']:g} | {r['ms_per_step']:.2f} | {100 * r['ms_per_step'] / step_ms:.1f}% | "
                      f"{work_text(r['cost'])} | {rate_text(r)} | {pct} | {r['cost']['formula']} |")
            if small_rows:
                print(f"| {small_rows} more rows, each under {100 * SMALL_ROW:g}% of the step | | {small_ms:.2f} | "
                      f"{100 * small_ms / step_ms:.1f}% | | | | |")
            print(f"| not in any row | | {step_ms - accounted:.2f} | {100 * (step_ms - accounted) / step_ms:.1f}% | | | | |")
            print(f"\n<details><summary>the same steps by op name (core/profiler.h)</summary>\n\n{profile['op_table_md']}\n</details>\n")
    if conv_rows:
        print("### The convolutions at the w=32 shapes against the target\n")
        print(f"Issue 14: conv forward and backward at least {100 * CONV_TARGET:.0f}% of the FMA peak at the w=32 "
              "shapes (ConvNet w=32). The first conv is listed too: with 1 input channel it does 9 "
              "multiply-adds per output, too few to be compute-bound, and holds about 1% of the step.\n")
        print("| threads | op (input shapes) | ms per call | GFLOP per call | GFLOP/s | % of FMA peak | target | |")
        print("|---:|---|---:|---:|---:|---:|---:|---|")
        for threads, r in conv_rows:
            share = r["share"] if r["share"] is not None else 0.0
            head = r["head"].rsplit("  ", 1)[0].replace("float32", "f32")
            print(f"| {threads} | {head} | {r['ms_per_step'] / r['calls']:.2f} | {r['cost']['amount'] / 1e9:.3f} | "
                  f"{(r['rate'] or 0):.1f} | {100 * share:.0f}% | >= {100 * CONV_TARGET:.0f}% | "
                  f"{verdict(share >= CONV_TARGET)} |")
        print()


def merge_peaks(runs):
    """One ceilings record from several bench_cpu_peak runs: every figure the best of the runs."""
    def better(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            return {key: better(a[key], b[key]) if key in b else a[key] for key in a} | \
                   {key: value for key, value in b.items() if key not in a}
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            return max(a, b)
        return a
    merged = runs[0]
    for run in runs[1:]:
        merged = better(merged, run)
    merged["measured"] = (f"{len(runs)} times (before the timed steps and after the profile), "
                          "the better figure of the runs kept")
    return merged


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--merge-peaks":
        json.dump(merge_peaks([load(path) for path in sys.argv[2:]]), sys.stdout, indent=1)
        print()
        return
    folder, torch_python = sys.argv[1], sys.argv[2]
    knobs = load(os.path.join(folder, "knobs.json"))
    runs = speed_runs(folder)
    models = knobs["models"]
    threads_list = knobs["threads"]
    peak = load(os.path.join(folder, "peak.json"))
    print_header(folder, torch_python, knobs, runs)
    print_step_definition(runs)
    print_parameter_check(runs, models)
    print_throughput(runs, models, threads_list)
    print_memory(folder, models, threads_list)
    print_peak(peak, threads_list)
    print_profile(folder, peak, models, threads_list)


if __name__ == "__main__":
    main()
