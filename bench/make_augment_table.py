#!/usr/bin/env python3
"""Writes the markdown of bench/results/augment-cpu-<date>.md from the two JSON files that
bench/augment_bench.sh produces:
  ours.json   Google Benchmark JSON of bench/bench_augment (BM_loader_simclr_gray, _rgb)
  torch.json  bench/torch_augment.py
and, when given, the newest bench/results/train-step-cpu-*.md, to set the loader's time per
batch beside the training step's.
Usage: make_augment_table.py OURS_JSON TORCH_JSON [TRAIN_STEP_MD]"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_header import commit_text, date_text, machine_text  # noqa: E402

TARGET = 3.0  # ours / torchvision views/s, at least (issue 4)
PIPELINES = [("simclr_gray", "simclr-gray", "Fashion-MNIST train, 1x28x28"),
             ("simclr_rgb", "simclr-rgb", "synthetic random uint8, 3x32x32")]


def ours(path):
    data = json.load(open(path))
    out = {}
    for b in data["benchmarks"]:
        name = b["name"].removeprefix("BM_loader_").split("/")[0]
        out[name] = {"views_per_s": b["views/s"], "images_per_s": b["images/s"], "ms_per_batch": b["real_time"],
                     "mean_wait_ms": b["mean_wait_ms"], "max_wait_ms": b["max_wait_ms"],
                     "batches": b["iterations"], "workers": int(b["workers"])}
        assert b.get("time_unit", "ms") == "ms", b
    return out, data["context"]


def train_step_ms(path):
    """{width: ours ms/step} from the Throughput table of a train-step-cpu-*.md file."""
    steps = {}
    in_throughput = False
    for line in open(path):
        if line.startswith("## "):
            in_throughput = line.strip() == "## Throughput"
        m = re.match(r"\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*(\d+)\s*\|", line)
        if in_throughput and m:
            steps[int(m.group(1))] = float(m.group(2))
    return steps


def main():
    mine, context = ours(sys.argv[1])
    torch = json.load(open(sys.argv[2]))
    train_step = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    batch = int(context.get("batch_images", torch["batch_images"]))

    print("# CPU augmentation throughput: simclr.cpp loader vs torchvision\n")
    print(f"- date: {date_text()}")
    print(f"- commit: {commit_text()}")
    print(f"- machine: {machine_text()}")
    print(f"- workers: simclr.cpp {context.get('sc_workers', '?')} loader threads, torchvision {torch['threads']} "
          "DataLoader worker processes (one compute thread each on both sides)")
    print(f"- peer: torch {torch['torch']}, torchvision {torch['torchvision']} ({torch['python']}, "
          "bench/torch_augment.py), run right after ours by bench/augment_bench.sh; transforms v1 "
          "on tensors (RandomResizedCrop with antialias=False); DataLoader with persistent workers, collate into one "
          "[2B, C, H, W] tensor inside the workers, worker start-up not timed")
    print("- ours: bench/bench_augment (Google Benchmark, min time 5 s per pipeline): ssl::Loader with the presets "
          "of augment/presets.cpp, one warm-up batch, epochs restarted as needed")
    print(f"- batch: {batch} images = {2 * batch} views, one float tensor [{2 * batch}, C, H, W] on both sides; "
          "views/s counts augmented views (2 per image), images/s dataset images")
    print("- images: simclr-gray on Fashion-MNIST train (60,000 real images, the same gz files on both sides); "
          f"simclr-rgb on synthetic random images, as there is no CIFAR on the bench machine (ours: "
          f"{context.get('rgb_source', '?')}; torchvision: {torch['rgb_source']})\n")

    print("## Throughput\n")
    print("torchvision is measured on float tensors (the stated peer: transforms v1 on tensors) and, for reference, "
          "on PIL images (its classic path; PIL's RandomResizedCrop always antialiases). The verdict takes the "
          "faster torchvision path.\n")
    print("| pipeline | images | ours views/s | ours images/s | torchvision tensor views/s | ours / tensor | "
          "torchvision PIL views/s | ours / PIL | target | |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    ratios = {}
    for key, preset, source in PIPELINES:
        r, t = mine[key], torch["results"][key]
        pil = torch["results"].get(key + "_pil")
        ratio = r["views_per_s"] / t["views_per_s"]
        pil_ratio = r["views_per_s"] / pil["views_per_s"] if pil else None
        worst = min(ratio, pil_ratio) if pil_ratio else ratio
        ratios[key] = (ratio, pil_ratio)
        verdict = "meets" if worst >= TARGET else f"MISSES ({worst:.2f}x < {TARGET:g}x)"
        pil_cells = f"{pil['views_per_s']:,.0f} | {pil_ratio:.1f}x" if pil else "- | -"
        print(f"| {preset} | {source} | {r['views_per_s']:,.0f} | {r['images_per_s']:,.0f} | {t['views_per_s']:,.0f} | "
              f"{ratio:.1f}x | {pil_cells} | {TARGET:g}x | {verdict} |")

    print("\n## Consumer wait per batch\n")
    print("The consumer takes batches and does nothing else, so its mean wait inside next() (ours: ssl::LoaderStats; "
          "torchvision: the same clock around next() of the DataLoader iterator) is the time the workers need per "
          f"batch of {2 * batch} views: the most a training step could ever wait, if the step itself took no time.\n")
    print("| pipeline | ours ms/batch | ours mean wait ms | ours max wait ms | torchvision tensor mean wait ms | "
          "torchvision PIL mean wait ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, preset, _ in PIPELINES:
        r, t = mine[key], torch["results"][key]
        pil = torch["results"].get(key + "_pil")
        print(f"| {preset} | {r['ms_per_batch']:.2f} | {r['mean_wait_ms']:.2f} | {r['max_wait_ms']:.2f} | "
              f"{t['mean_wait_ms']:.1f} | {pil['mean_wait_ms'] if pil else float('nan'):.1f} |")

    print("\n## Loader vs training step\n")
    steps = train_step_ms(train_step) if train_step and os.path.exists(train_step) else {}
    gray = mine["simclr_gray"]
    workers = gray["workers"]
    if not steps:
        print("No bench/results/train-step-cpu-*.md yet: run bench/train_step_bench.sh, then this bench again, for "
              "the comparison with the training step.")
    else:
        print(f"From {os.path.basename(train_step)} (ours, batch 512 of 1x28x28, the same 512 images a SimCLR step "
              "of 256 two-view images trains on; a SimCLR step adds a projection head and nt_xent, so it is a little "
              "longer). The loader needs {:.2f} ms of wall time per simclr-gray batch with {} workers, i.e. about "
              "{:.1f} core-ms; the step uses the same number of threads, so the wall-time ratio below is also the "
              "ratio of CPU time.\n".format(gray["ms_per_batch"], workers, gray["ms_per_batch"] * workers))
        print("| ConvNet width | step ms | loader ms/batch | loader / step |")
        print("|---:|---:|---:|---:|")
        for width, ms in sorted(steps.items()):
            print(f"| {width} | {ms:.1f} | {gray['ms_per_batch']:.2f} | {gray['ms_per_batch'] / ms * 100:.1f}% |")
        worst = max(gray["ms_per_batch"] / ms for ms in steps.values())
        keeps_up = "keeps up" if worst < 1.0 else "does NOT keep up"
        print(f"\nWith prefetch, the step waits only when a batch takes longer to build than a step takes to run: "
              f"the loader {keeps_up} with the training step (at most {worst * 100:.1f}% of a step's time to build its "
              "batch; when the loader shares the step's cores it slows the step by about that fraction instead of "
              "making it wait).")

    def quote(key):
        ratio, pil_ratio = ratios[key]
        return f"{ratio:.1f}x" + (f" ({pil_ratio:.1f}x vs torchvision on PIL)" if pil_ratio else "")

    print(f"\nRatio vs the {TARGET:g}x target (ours / torchvision on tensors, views/s): "
          f"simclr-gray {quote('simclr_gray')}, simclr-rgb {quote('simclr_rgb')}.")


if __name__ == "__main__":
    main()
