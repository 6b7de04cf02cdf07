#!/usr/bin/env python3
"""The torchvision peer of bench/bench_augment.cpp: the same two augmentation pipelines on
the same images, the same batch and the same number of workers, printed as JSON.

  simclr_gray  Fashion-MNIST train, read from the same gz files as the engine
               (/usr/share/datasets/fashion-mnist, IDX parsed with gzip + numpy):
               RandomResizedCrop(28, scale=(0.2, 1.0), antialias=False), RandomHorizontalFlip(),
               RandomApply([ColorJitter(0.4, 0.4, 0, 0)], p=0.8)
  simclr_rgb   10,000 synthetic random uint8 3x32x32 images (no CIFAR on this machine; the
               engine's bench uses its own random images of the same size and count):
               RandomResizedCrop(32, scale=(0.08, 1.0), antialias=False), RandomHorizontalFlip(),
               RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), RandomGrayscale(0.2)

Both as torchvision.transforms (v1) on float tensors in [0, 1] (the engine's transforms
also work on float images converted from uint8 one at a time), the parameters of
augment/presets.cpp. For reference the same pipelines also run on PIL images (uint8 HWC ->
PIL.Image, the transforms, then ToTensor; PIL always antialiases its resize, so
antialias is left unset there), torchvision's classic path, which is faster
for RGB at this size (PIL's color code beats many small tensor ops); results "<name>_pil".

Loading: torch.utils.data.DataLoader(num_workers = --threads, batch_size 256, shuffle,
drop_last, persistent_workers, default prefetch) over a Dataset whose item is (view 1,
view 2, label); the collate function, run in the worker as the engine's batch assembly is,
stacks the batch into one [512, C, H, W] tensor: rows 0..255 the first views, 256..511 the
second, the engine's layout. Worker processes (not a thread pool) because that is how
torchvision pipelines are run in practice; each worker runs torch.set_num_threads(1), as
the engine's workers run its transforms on one thread each. Worker start-up is left out:
the workers are persistent and warm-up batches are taken before the clock starts. Epochs
restart as needed (the engine's bench restarts its Loader's epochs the same way).

Counted: views/s (2 per image), images/s, and the consumer's mean wait in next() per batch,
the same quantity as the engine's LoaderStats (the consumer does nothing else).

Usage: /usr/bin/python3 bench/torch_augment.py --threads 2 [--min-time 5] [--warmup 5]
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms as T

BATCH_IMAGES = 256
SYNTHETIC_RGB_IMAGES = 10000
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, h, w = np.frombuffer(data[:16], dtype=">u4")
    assert magic == 0x00000803, f"{path}: bad IDX image magic {magic:#x}"
    pixels = np.frombuffer(data[16:], dtype=np.uint8)
    assert pixels.size == n * h * w, f"{path}: {pixels.size} pixel bytes, expected {n}x{h}x{w}"
    return pixels.reshape(int(n), 1, int(h), int(w))


def read_idx_labels(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = np.frombuffer(data[:8], dtype=">u4")
    assert magic == 0x00000801, f"{path}: bad IDX label magic {magic:#x}"
    labels = np.frombuffer(data[8:], dtype=np.uint8)
    assert labels.size == n, f"{path}: {labels.size} labels, expected {n}"
    return labels.astype(np.int64)


class TwoViews(torch.utils.data.Dataset):
    """Item i: two independently augmented views of image i and its label. Tensor path:
    uint8 CHW -> float / 255 -> transform. PIL path: uint8 -> PIL.Image -> transform (which
    ends with ToTensor)."""

    def __init__(self, images_u8, labels, transform, pil):
        self.images = torch.from_numpy(np.array(images_u8))  # a writable copy
        self.labels = torch.from_numpy(labels)
        self.transform = transform
        self.pil = pil

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        if self.pil:
            chw = self.images[i].numpy()
            image = Image.fromarray(chw[0] if chw.shape[0] == 1 else chw.transpose(1, 2, 0))
        else:
            image = self.images[i].float().div_(255.0)
        return self.transform(image), self.transform(image), self.labels[i]


def collate_two_views(items):
    """[2B, C, H, W]: all first views, then all second views in the same order (the engine's layout)."""
    first, second, labels = zip(*items)
    return torch.stack(first + second), torch.stack(labels)


def worker_init(_worker_id):
    torch.set_num_threads(1)


def simclr_gray(pil):
    return T.Compose([
        T.RandomResizedCrop(28, scale=(0.2, 1.0), antialias=None if pil else False),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.0, 0.0)], p=0.8),
    ] + ([T.ToTensor()] if pil else []))


def simclr_rgb(pil):
    return T.Compose([
        T.RandomResizedCrop(32, scale=(0.08, 1.0), antialias=None if pil else False),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        T.RandomGrayscale(0.2),
    ] + ([T.ToTensor()] if pil else []))


def measure(dataset, threads, min_time, warmup):
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=BATCH_IMAGES, shuffle=True, drop_last=True, num_workers=threads,
        collate_fn=collate_two_views, worker_init_fn=worker_init, persistent_workers=threads > 0)
    epoch_iter = iter(loader)

    def next_batch():
        nonlocal epoch_iter
        try:
            return next(epoch_iter)
        except StopIteration:
            epoch_iter = iter(loader)  # next epoch (persistent workers: no new processes)
            return next(epoch_iter)

    for _ in range(warmup):
        images, _labels = next_batch()
    shape = list(images.shape)
    batches, total_wait = 0, 0.0
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        images, _labels = next_batch()
        total_wait += time.perf_counter() - t0
        batches += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and batches >= 10:
            break
    assert shape[0] == 2 * BATCH_IMAGES, shape
    del epoch_iter, loader  # shuts the workers down before the next pipeline starts
    return {
        "views_per_s": 2 * BATCH_IMAGES * batches / elapsed,
        "images_per_s": BATCH_IMAGES * batches / elapsed,
        "ms_per_batch": 1e3 * elapsed / batches,
        "mean_wait_ms": 1e3 * total_wait / batches,
        "batches": batches,
        "seconds": elapsed,
        "batch_shape": shape,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-time", type=float, default=5.0)
    ap.add_argument("--warmup", type=int, default=5, help="batches taken before the clock starts")
    ap.add_argument("--no-pil", action="store_true", help="skip the reference runs on PIL images")
    args = ap.parse_args()
    torch.set_num_threads(1)  # the main process only receives batches
    torch.manual_seed(0)

    gray_images = read_idx_images(os.path.join(FASHION_MNIST, "train-images-idx3-ubyte.gz"))
    gray_labels = read_idx_labels(os.path.join(FASHION_MNIST, "train-labels-idx1-ubyte.gz"))
    rng = np.random.default_rng(20240604)
    rgb_images = rng.integers(0, 256, size=(SYNTHETIC_RGB_IMAGES, 3, 32, 32), dtype=np.uint8)
    rgb_labels = rng.integers(0, 10, size=SYNTHETIC_RGB_IMAGES, dtype=np.int64)

    results = {}
    for pil in (False, True):
        if pil and args.no_pil:
            continue
        for name, images, labels, make in (("simclr_gray", gray_images, gray_labels, simclr_gray),
                                           ("simclr_rgb", rgb_images, rgb_labels, simclr_rgb)):
            key = name + ("_pil" if pil else "")
            transform = make(pil)
            print(f"torch_augment: {key} ...", file=sys.stderr, flush=True)
            results[key] = measure(TwoViews(images, labels, transform, pil), args.threads, args.min_time, args.warmup)
            results[key]["transform"] = " ".join(repr(transform).split())

    print(json.dumps({
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": sys.executable,
        "threads": args.threads,
        "loader": "torch.utils.data.DataLoader, worker processes, persistent_workers, torch.set_num_threads(1) per worker",
        "batch_images": BATCH_IMAGES,
        "gray_source": f"Fashion-MNIST train ({len(gray_labels)} images) from {FASHION_MNIST}",
        "rgb_source": f"{SYNTHETIC_RGB_IMAGES} random uint8 3x32x32 images (numpy, seed 20240604)",
        "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()
