#!/usr/bin/env python3
"""Recipe R of issue 5 in PyTorch: the peer `simclr train` + `simclr eval` are measured against.

  data     Fashion-MNIST (the idx .gz files), pixels scaled to [0, 1], no normalisation.
  views    two independent draws of our `simclr-gray` preset (augment/presets.cpp):
           RandomResizedCrop(28, scale 0.2-1, ratio 3/4-4/3, bilinear), horizontal flip
           (p 0.5), ColorJitter(brightness 0.4, contrast 0.4) applied with p 0.8.
  model    ConvNet(w=16) as nn/convnet.h: 4 blocks conv3x3 (pad 1, no bias) - BatchNorm2d -
           ReLU with widths w, 2w, 4w, 8w, 2x2 max-pool after blocks 2 and 3, global average
           pool -> h (8w = 128 features). Projection head as ssl/simclr.cpp builds
           nn/projection_head.cpp: Linear(128, 128, no bias) - BatchNorm1d - ReLU -
           Linear(128, 128) -> z. Both views go through the model in one batch of 2B.
  loss     NT-Xent (core/ops.h): rows L2-normalised, s = z z^T / tau, row i's positive is
           (i + B) mod 2B, the self-similarity left out of the softmax, mean over 2B rows.
  optim    torch.optim.Adam (lr 1e-3, coupled weight decay 1e-6 on every parameter), batch 256
           images, drop_last (234 steps per epoch), lr factor per step as
           nn::WarmupCosineSchedule: (step + 1) / warmup during warmup (half an epoch = 117
           steps), then 0.5 (1 + cos(pi * progress)) down to 0 at the last step.
  eval     ssl/evaluation.cpp's protocol on the frozen encoder in eval mode (BN running
           statistics), features h of the unaugmented images:
           kNN: cosine similarity, k = 200, votes exp(s / 0.1) summed per class;
           probe: features standardised with the training mean and population std
           (eps 1e-5 on the variance), softmax regression from zero weights, Adam lr 1e-3,
           coupled weight decay 1e-5, batch 512, 100 epochs, accuracy on the test split.

Prints one JSON object at the end (and writes it to --out when given).

  /usr/bin/python3 bench/torch_recipe_r.py --epochs 3 --threads 2
"""
import argparse
import gzip
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T

DATA_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        magic = struct.unpack(">I", f.read(4))[0]
        ndim = magic & 0xFF
        shape = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(shape)


def load_split(prefix):
    images = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # [N, 1, 28, 28] in [0, 1]
    return x, torch.from_numpy(labels.astype(np.int64))


def simclr_gray():
    return T.Compose([
        T.RandomResizedCrop(28, scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), interpolation=T.InterpolationMode.BILINEAR),
        T.RandomHorizontalFlip(0.5),
        T.RandomApply([T.ColorJitter(brightness=0.4, contrast=0.4)], p=0.8),
    ])


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images
        self.transform = simclr_gray()

    def __len__(self):
        return self.images.shape[0]

    def __getitem__(self, i):
        x = self.images[i]
        return self.transform(x), self.transform(x)


def worker_seed(worker_id):
    # Each worker gets its own stream (torch seeds torch's generator per worker already).
    np.random.seed(torch.initial_seed() % 2**32)


def convnet_encoder(width):
    layers, channels = [], 1
    for block, out in enumerate([width, 2 * width, 4 * width, 8 * width]):
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
        if block in (1, 2):
            layers.append(nn.MaxPool2d(2))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


class SimCLR(nn.Module):
    def __init__(self, width, projection_dim):
        super().__init__()
        self.encoder = convnet_encoder(width)
        d = 8 * width
        self.head = nn.Sequential(nn.Linear(d, d, bias=False), nn.BatchNorm1d(d), nn.ReLU(), nn.Linear(d, projection_dim))

    def forward(self, x):
        return self.head(self.encoder(x))


def nt_xent(z, tau):
    z = F.normalize(z, dim=1)
    n2 = z.shape[0]
    s = z @ z.t() / tau
    s = s.masked_fill(torch.eye(n2, dtype=torch.bool), float("-inf"))  # leave k = i out of the sum
    targets = (torch.arange(n2) + n2 // 2) % n2
    return F.cross_entropy(s, targets)


def schedule_factor(step, warmup, total):
    if step < warmup:
        return (step + 1) / warmup
    if step >= total:
        return 0.0
    progress = (step - warmup) / (total - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def encode(model, x, batch=512):
    model.eval()
    out = torch.cat([model.encoder(x[i:i + batch]) for i in range(0, x.shape[0], batch)])
    model.train()
    return out


@torch.no_grad()
def knn_accuracy(train_h, train_y, test_h, test_y, k=200, t=0.1, classes=10, chunk=256):
    bank = F.normalize(train_h, dim=1).t().contiguous()
    query = F.normalize(test_h, dim=1)
    k = min(k, train_h.shape[0])
    correct = 0
    for i in range(0, query.shape[0], chunk):
        sim = query[i:i + chunk] @ bank
        top_s, top_i = sim.topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], classes, dtype=torch.float64)
        votes.scatter_add_(1, train_y[top_i], torch.exp(top_s.double() / t))
        correct += (votes.argmax(1) == test_y[i:i + chunk]).sum().item()
    return correct / query.shape[0]


def linear_probe(train_h, train_y, test_h, test_y, epochs=100, classes=10, seed=0):
    mean = train_h.double().mean(0)
    inv_std = 1.0 / torch.sqrt(train_h.double().var(0, unbiased=False) + 1e-5)
    xtr = ((train_h.double() - mean) * inv_std).float()
    xte = ((test_h.double() - mean) * inv_std).float()
    weight = torch.zeros(xtr.shape[1], classes, requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    adam = torch.optim.Adam([weight, bias], lr=1e-3, weight_decay=1e-5)
    gen = torch.Generator().manual_seed(seed)
    n = xtr.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for s in range(0, n, 512):
            idx = order[s:s + 512]
            loss = F.cross_entropy(xtr[idx] @ weight + bias, train_y[idx])
            adam.zero_grad(set_to_none=True)
            loss.backward()
            adam.step()
    with torch.no_grad():
        return ((xte @ weight + bias).argmax(1) == test_y).float().mean().item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--projection-dim", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-6)
    p.add_argument("--warmup-epochs", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (augmentation)")
    p.add_argument("--train-subset", type=int, default=0, help="first N training images for SimCLR (0: all)")
    p.add_argument("--eval-train-subset", type=int, default=0, help="first N training images for probe/kNN (0: all)")
    p.add_argument("--probe-epochs", type=int, default=100)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: all epochs; a smoke test)")
    p.add_argument("--out", help="also write the JSON result here")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load_split("train")
    test_x, test_y = load_split("t10k")
    ssl_x = train_x[:args.train_subset] if args.train_subset > 0 else train_x

    model = SimCLR(args.width, args.projection_dim).train()
    adam = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loader = torch.utils.data.DataLoader(
        TwoViews(ssl_x), batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
        persistent_workers=args.workers > 0, worker_init_fn=worker_seed,
        generator=torch.Generator().manual_seed(args.seed))
    steps_per_epoch = len(loader)
    total = args.epochs * steps_per_epoch
    if args.max_steps > 0:
        total = min(total, args.max_steps)
    warmup = min(total, round(args.warmup_epochs * steps_per_epoch))

    step, step_seconds, epoch_losses = 0, 0.0, []
    train_start = time.perf_counter()
    for epoch in range(args.epochs):
        loss_sum, n_steps = 0.0, 0
        for v1, v2 in loader:
            if step >= total:
                break
            t0 = time.perf_counter()
            for g in adam.param_groups:
                g["lr"] = args.lr * schedule_factor(step, warmup, total)
            adam.zero_grad(set_to_none=True)
            loss = nt_xent(model(torch.cat([v1, v2])), args.temperature)
            loss.backward()
            adam.step()
            step_seconds += time.perf_counter() - t0
            loss_sum += loss.item()
            n_steps += 1
            step += 1
            if step % 20 == 0 or step == total:
                print(f"epoch {epoch + 1} step {step}/{total} loss {loss.item():.4f} "
                      f"{args.batch_size * step / (time.perf_counter() - train_start):.0f} img/s (wall)", flush=True)
        epoch_losses.append(loss_sum / max(1, n_steps))
    train_seconds = time.perf_counter() - train_start

    eval_start = time.perf_counter()
    ev_x, ev_y = (train_x[:args.eval_train_subset], train_y[:args.eval_train_subset]) if args.eval_train_subset > 0 \
        else (train_x, train_y)
    train_h, test_h = encode(model, ev_x), encode(model, test_x)
    knn = knn_accuracy(train_h, ev_y, test_h, test_y)
    probe = linear_probe(train_h, ev_y, test_h, test_y, epochs=args.probe_epochs, seed=args.seed)
    result = {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "workers": args.workers,
        "epochs": args.epochs, "steps": step, "warmup_steps": warmup, "ssl_images": ssl_x.shape[0],
        "eval_train_images": ev_x.shape[0], "epoch_losses": epoch_losses,
        "train_seconds": train_seconds, "images_per_s_wall": args.batch_size * step / train_seconds,
        "images_per_s_steps": args.batch_size * step / step_seconds,
        "eval_seconds": time.perf_counter() - eval_start, "knn_accuracy": knn, "probe_accuracy": probe,
    }
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
