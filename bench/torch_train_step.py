#!/usr/bin/env python3
"""The PyTorch peer of bench/bench_train_step.cpp: the same training step, printed as JSON.

  model  ConvNet(w): 4 blocks conv3x3 (pad 1, no bias) - BatchNorm2d - ReLU with widths
         w, 2w, 4w, 8w, 2x2 max-pool after blocks 2 and 3, global average pool, flatten;
         then Linear(8w -> 10). Training mode.
  step   zero_grad (set_to_none, as our Optimizer::zero_grad drops gradients), forward on a
         batch of 512 random 1x28x28 images, cross_entropy on random labels, backward,
         Adam (lr 1e-3).

Throughput mode (default): for each width, 1 warm-up step, then steps until at least
--min-time seconds have passed (and at least 3): images/s = 512 * steps / elapsed, the mean
over the timed steps, as Google Benchmark reports ours.

--memory W: a process that only builds the model, runs 2 warm-up steps and 5 steps, and
reports its peak RSS (VmHWM) and its RSS just before the first step (VmRSS), read from
/proc/self/status exactly as bench_train_step --memory=W does.
"""
import argparse
import json
import time

import torch

from peer_info import peer_build
import torch.nn as nn

BATCH = 512
CLASSES = 10



def convnet(width):
    layers = []
    channels = 1
    for block, out in enumerate([width, 2 * width, 4 * width, 8 * width]):
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=False)]
        if block in (1, 2):
            layers.append(nn.MaxPool2d(2))
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * width, CLASSES)]
    return nn.Sequential(*layers)


class Step:
    def __init__(self, width):
        torch.manual_seed(1234 + width)
        self.model = convnet(width).train()
        self.adam = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.images = torch.randn(BATCH, 1, 28, 28)
        self.labels = torch.randint(0, CLASSES, (BATCH,))

    def run(self):
        self.adam.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(self.model(self.images), self.labels)
        loss.backward()
        self.adam.step()


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def throughput(width, min_time):
    step = Step(width)
    step.run()  # warm-up
    steps = 0
    start = time.perf_counter()
    while True:
        step.run()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and steps >= 3:
            break
    return {"ms": elapsed * 1e3 / steps, "images_per_s": BATCH * steps / elapsed, "steps": steps}


def memory(width):
    step = Step(width)
    rss_before = status_kb("VmRSS")
    for _ in range(2 + 5):
        step.run()
    return {"width": width, "threads": torch.get_num_threads(), "rss_before_first_step_kb": rss_before,
            "peak_rss_kb": status_kb("VmHWM")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--min-time", type=float, default=5.0)
    parser.add_argument("--memory", type=int, metavar="W", help="peak-RSS run of width W instead of timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory:
        print(json.dumps(memory(args.memory)))
        return
    results = {str(w): throughput(w, args.min_time) for w in args.widths}
    print(json.dumps({"torch": torch.__version__, "build": peer_build(), "threads": torch.get_num_threads(), "batch": BATCH,
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
