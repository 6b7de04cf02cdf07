#!/usr/bin/env python3
"""Turns bench/ssl_methods.sh's run folders and JSON files into the methods table (markdown)."""
import glob
import json
import os
import platform
import subprocess
import sys
import time

work, epochs, subset, threads, eval_subset = sys.argv[1:6]


def pct(v):
    return "-" if v is None or v < 0 else f"{100 * v:.2f}%"


commit_file = os.path.join(work, "commit.txt")
commit = (open(commit_file).read().strip() if os.path.exists(commit_file) else
          subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip())
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
torch_version, torch_build = "?", "?"
rows, baselines = [], []
for path in sorted(glob.glob(os.path.join(work, "ours-*", "eval.json"))):
    run = os.path.dirname(path)
    method, seed = os.path.basename(run)[len("ours-"):].rsplit("-", 1)
    ours = json.load(open(path))
    trained = ours["rows"][-1]
    if len(ours["rows"]) > 1:
        baselines = ours["rows"][:-1]
    seconds = float(open(os.path.join(run, "train_seconds.txt")).read())
    twin_path = os.path.join(work, f"torch-{method}-{seed}.json")
    twin = json.load(open(twin_path)) if os.path.exists(twin_path) else {}
    torch_version = twin.get("torch", torch_version)
    torch_build = twin.get("build", torch_build)
    rows.append((method, int(seed), trained, seconds, twin))

print(f"# Self-supervised methods on Fashion-MNIST, ours vs PyTorch\n")
print(f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit: {commit}")
print(f"- machine: {cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}; "
      f"{threads} threads for both sides")
print(f"- peer: PyTorch {torch_version} ({torch_build}) from PyPI (bench/torch_peer.sh), bench/torch_ssl_methods.py")
print(f"- budget: {epochs} epoch(s) on {'all 60,000' if subset == '0' else subset} training images, recipe R "
      f"(ConvNet w=16, batch 256, Adam lr 1e-3, wd 1e-6, warmup 0.5 epoch then cosine, 128-d embedding), "
      f"each method's default hyper-parameters")
print(f"- evaluation: probe and kNN (k = 200) fitted on {'all 60,000 (the full protocol)' if eval_subset == '0' else 'the first ' + eval_subset} "
      "training images, scored on the 10,000 test images")
print(f"- load average (1, 5, 15 min): {'; '.join(open(os.path.join(work, 'load.txt')).read().split(chr(10))).strip('; ')}")
print(f"- command: `EPOCHS={epochs} TRAIN_SUBSET={subset} EVAL_TRAIN_SUBSET={eval_subset} THREADS={threads} bash bench/ssl_methods.sh`\n")
print("| method | seed | probe (ours) | probe (PyTorch) | diff | kNN (ours) | kNN (PyTorch) | train s (ours) | train s (PyTorch) |")
print("|---|---|---|---|---|---|---|---|---|")
for method, seed, ours, seconds, twin in sorted(rows, key=lambda r: (r[0], r[1])):
    probe_t = twin.get("probe_accuracy")
    diff = "-" if probe_t is None or ours["probe_accuracy"] is None else \
        f"{100 * (ours['probe_accuracy'] - probe_t):+.2f}"
    print(f"| {method} | {seed} | {pct(ours['probe_accuracy'])} | {pct(probe_t)} | {diff} | "
          f"{pct(ours['knn_accuracy'])} | {pct(twin.get('knn_accuracy'))} | {seconds:.0f} | "
          f"{twin.get('train_seconds', float('nan')):.0f} |")
# The bar: each method within 1 point of its twin. One seed's probe moves by about a
# point between seeds on either side, so the mean over the seeds is shown too.
by_method = {}
for method, seed, ours, seconds, twin in rows:
    by_method.setdefault(method, []).append((ours, twin))
print("\nMean over the seeds:\n")
print("| method | seeds | probe (ours) | probe (PyTorch) | diff | kNN (ours) | kNN (PyTorch) | diff |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for method, pairs in sorted(by_method.items()):
    complete = [(o, t) for o, t in pairs if t.get("probe_accuracy") is not None and o["probe_accuracy"] is not None]
    if not complete:
        continue
    mean = lambda values: sum(values) / len(values)
    po, pt = mean([o["probe_accuracy"] for o, _ in complete]), mean([t["probe_accuracy"] for _, t in complete])
    ko, kt = mean([o["knn_accuracy"] for o, _ in complete]), mean([t["knn_accuracy"] for _, t in complete])
    print(f"| {method} | {len(complete)} | {pct(po)} | {pct(pt)} | {100 * (po - pt):+.2f} | {pct(ko)} | {pct(kt)} | "
          f"{100 * (ko - kt):+.2f} |")
if baselines:
    print("\nBaselines (same protocol):\n")
    print("| features | probe | kNN |")
    print("|---|---|---|")
    for b in baselines:
        print(f"| {b['method']} | {pct(b['probe_accuracy'])} | {pct(b['knn_accuracy'])} |")
