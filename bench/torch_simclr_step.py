#!/usr/bin/env python3
"""The PyTorch twin of bench/bench_simclr_step.cpp: the same SimCLR training step, printed as JSON.

  models  convnet-w16, convnet-w32: ConvNet(w) of nn/convnet.h, 1x28x28 views, batch 256
          images (512 views); resnet18-w16: ResNet-18 of nn/resnet.h (CIFAR stem, base width
          16), 3x32x32 views, batch 128 images (256 views). The modules are the ones the golden
          tests check ours against (tests/golden/gen_golden_nn.py), so the layers, widths and
          parameter counts are ours; the speed run prints the parameter count next to ours.
  head    nn/projection_head.h as SimCLR builds it: Linear(D, D, no bias) - BatchNorm1d -
          ReLU - Linear(D, 128).
  step    what ssl::train_step does: lr from the warmup-cosine schedule (10 warmup steps of
          1,000,000), zero_grad (set_to_none, as ours drops gradients), both views through
          encoder and head in one batch, NT-Xent at temperature 0.2 (bench/torch_recipe_r.py's
          nt_xent), the two health metrics on z in float64 (contrastive top-1, embedding std,
          as ssl/metrics.cpp), loss.item() and its finiteness check, backward, a finiteness
          check of every gradient, Adam (lr 3e-3, coupled weight decay 1e-6): the `quick`
          recipe's values, as ours.
  images  Fashion-MNIST's training split (/usr/share/datasets/fashion-mnist) for the 1x28x28
          models when installed, else 10,000 generated images (uniform random bytes); the
          ResNet's are always generated. Pixels / 255, no normalisation.
  views   torchvision.transforms (v1) on each image tensor, one image at a time, in this
          process and its thread budget, as ours builds a batch on one thread:
          1x28x28 (our simclr-gray): RandomResizedCrop(28, scale (0.2, 1), ratio (3/4, 4/3),
            bilinear), RandomHorizontalFlip(0.5), RandomApply([ColorJitter(brightness 0.4,
            contrast 0.4)], p 0.8);
          3x32x32 (our simclr-rgb): RandomResizedCrop(32, scale (0.08, 1), ratio (3/4, 4/3),
            bilinear), RandomHorizontalFlip(0.5), RandomApply([ColorJitter(0.4, 0.4, 0.4,
            0.1)], p 0.8), RandomGrayscale(0.2).
          (torchvision's crop resizes with antialias on, its default.) Rows 0..B-1 are the
          first views, B..2B-1 the second views of the same images, as ours.

Modes:
  speed (default)  "step" (one fixed two-view batch made once) and "step+augment" (a new batch
                   of random images each step, built inside the timed step): --warmup steps,
                   then steps until --min-time seconds and --min-steps steps have passed.
  --mode memory    a fresh process: builds the model and its batch, reads VmRSS, runs 2 warm-up
                   steps and 5 steps, reads VmHWM, exactly as bench_simclr_step --mode memory.

  $(bash bench/torch_peer.sh) bench/torch_simclr_step.py --model convnet-w32 --threads 2
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "golden"))
from gen_golden_nn import ConvNet, ResNet18, projection_head  # noqa: E402
from peer_info import peer_build  # noqa: E402
from torch_recipe_r import DATA_DIR, load_split, nt_xent, schedule_factor, simclr_gray  # noqa: E402

# name: (encoder, width, channels, image size, batch of images), as bench_simclr_step.cpp.
MODELS = {
    "convnet-w16": ("convnet", 16, 1, 28, 256),
    "convnet-w32": ("convnet", 32, 1, 28, 256),
    "resnet18-w16": ("resnet18", 16, 3, 32, 128),
}
TEMPERATURE, LR, WEIGHT_DECAY, PROJECTION_DIM = 0.2, 3e-3, 1e-6, 128
WARMUP_STEPS, TOTAL_STEPS = 10, 1000000


def simclr_rgb(size):
    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation=T.InterpolationMode.BILINEAR),
        T.RandomHorizontalFlip(0.5),
        T.RandomApply([T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)], p=0.8),
        T.RandomGrayscale(0.2),
    ])


def bench_images(channels, size, data):
    fits = channels == 1 and size == 28
    installed = os.path.isdir(DATA_DIR)
    if data == "fashion-mnist":
        if not fits:
            sys.exit(f"error: --data fashion-mnist: this model takes {channels}x{size}x{size} images, Fashion-MNIST is 1x28x28")
        if not installed:
            sys.exit(f"error: --data fashion-mnist: {DATA_DIR} does not exist (or use --data generated)")
    if data != "generated" and fits and installed:
        return load_split("train")[0], "fashion-mnist/train"
    gen = torch.Generator().manual_seed(2026)
    pixels = torch.randint(0, 256, (10000, channels, size, size), dtype=torch.uint8, generator=gen)
    return pixels.float() / 255.0, "generated"


class SimCLR(nn.Module):
    def __init__(self, encoder, width, channels):
        super().__init__()
        self.encoder = ConvNet(width, channels) if encoder == "convnet" else ResNet18(channels, width)
        features = 8 * width
        self.head = projection_head(features, features, PROJECTION_DIM, 2, True)

    def forward(self, views):
        return self.head(self.encoder(views))


@torch.no_grad()
def health_metrics(z):
    """ssl/metrics.cpp on z: contrastive top-1 and embedding std of the L2-normalised rows, in float64."""
    u = F.normalize(z.detach().double(), dim=1, eps=1e-12)
    n = u.shape[0]
    s = u @ u.t()
    s.fill_diagonal_(float("-inf"))
    partner = (torch.arange(n) + n // 2) % n
    top1 = (s.argmax(dim=1) == partner).double().mean().item()
    return top1, u.std(dim=0, unbiased=False).mean().item()


class Step:
    def __init__(self, name, images, batch, seed=0):
        encoder, width, channels, size, default_batch = MODELS[name]
        self.batch = batch or default_batch
        torch.manual_seed(seed)
        self.model = SimCLR(encoder, width, channels).train()
        self.adam = torch.optim.Adam(self.model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        self.images = images
        self.transform = simclr_gray() if channels == 1 else simclr_rgb(size)
        self.fixed_views = self.two_views(torch.arange(self.batch) % images.shape[0])
        self.step = 0

    def parameter_count(self):
        return sum(p.numel() for p in self.model.parameters())

    def two_views(self, indices):
        picked = [self.images[i] for i in indices.tolist()]
        return torch.stack([self.transform(x) for x in picked] + [self.transform(x) for x in picked])

    def augmented_batch(self):
        return self.two_views(torch.randint(0, self.images.shape[0], (self.batch,)))

    def run(self, views):
        for group in self.adam.param_groups:
            group["lr"] = LR * schedule_factor(self.step, WARMUP_STEPS, TOTAL_STEPS)
        self.adam.zero_grad(set_to_none=True)
        z = self.model(views)
        loss = nt_xent(z, TEMPERATURE)
        health_metrics(z)
        value = loss.item()
        if not math.isfinite(value):
            raise RuntimeError(f"step {self.step}: the loss is {value}")
        loss.backward()
        for name, p in self.model.named_parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                raise RuntimeError(f"step {self.step}: the gradient of {name} holds NaN or Inf")
        self.adam.step()
        self.step += 1


def time_steps(name, images, batch, with_augmentation, args):
    step = Step(name, images, batch)

    def one_step():
        if not with_augmentation:
            step.run(step.fixed_views)
            return 0.0
        start = time.perf_counter()
        views = step.augmented_batch()
        augment = time.perf_counter() - start
        step.run(views)
        return augment

    for _ in range(args.warmup):
        one_step()
    step_ms, augment_seconds = [], 0.0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < args.min_time or len(step_ms) < args.min_steps:
        step_start = time.perf_counter()
        augment_seconds += one_step()
        step_ms.append((time.perf_counter() - step_start) * 1e3)
        elapsed = time.perf_counter() - start
    out = {"steps": len(step_ms), "seconds": elapsed, "ms_per_step": elapsed * 1e3 / len(step_ms),
           "median_step_ms": sorted(step_ms)[len(step_ms) // 2], "images_per_s": step.batch * len(step_ms) / elapsed}
    if with_augmentation:
        out["augment_ms_per_step"] = augment_seconds * 1e3 / len(step_ms)
    return out


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def memory(name, images, batch):
    step = Step(name, images, batch)
    rss_before = status_kb("VmRSS")
    for _ in range(2 + 5):
        step.run(step.fixed_views)
    return {"rss_before_first_step_kb": rss_before, "peak_rss_kb": status_kb("VmHWM")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, choices=sorted(MODELS))
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--mode", choices=["speed", "memory"], default="speed")
    parser.add_argument("--data", choices=["auto", "generated", "fashion-mnist"], default="auto")
    parser.add_argument("--batch", type=int, default=0, help="images (pairs of views) per step; 0: the model's own")
    parser.add_argument("--min-time", type=float, default=5.0)
    parser.add_argument("--min-steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    limits = {"--threads": (args.threads, 1, 4 * (os.cpu_count() or 1)), "--batch": (args.batch, 0, 65536),
              "--min-time": (args.min_time, 0.0, 3600.0), "--min-steps": (args.min_steps, 1, 100000),
              "--warmup": (args.warmup, 0, 1000)}
    for flag, (value, low, high) in limits.items():
        if not low <= value <= high:
            parser.error(f"{flag} must be in [{low}, {high}], got {value}")
    torch.set_num_threads(args.threads)
    encoder, width, channels, size, default_batch = MODELS[args.model]
    images, source = bench_images(channels, size, args.data)
    batch = args.batch or default_batch
    if batch > images.shape[0]:
        parser.error(f"--batch {batch} is more than the {images.shape[0]} images of {source}")
    out = {"side": "pytorch", "torch": torch.__version__, "build": peer_build(), "model": args.model, "mode": args.mode,
           "threads": torch.get_num_threads(), "batch": batch, "views": 2 * batch, "view_shape": [channels, size, size],
           "images": source}
    if args.mode == "speed":
        out["parameters"] = Step(args.model, images, batch).parameter_count()
        out["results"] = {"step": time_steps(args.model, images, batch, False, args),
                          "step+augment": time_steps(args.model, images, batch, True, args)}
    else:
        out["memory"] = memory(args.model, images, batch)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
