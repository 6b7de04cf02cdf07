#!/usr/bin/env python3
"""The PyTorch twin of `simclr train --method M` + `simclr eval`, for the methods table.

The data, views, schedule and evaluation are recipe R's PyTorch peer
(bench/torch_recipe_r.py); the methods are the PyTorch references the golden tests check
ours against (tests/golden/gen_golden_methods.py: same modules, same losses, same EMA
schedule), at full size. One JSON object is printed at the end (and written to --out).

  $(bash bench/torch_peer.sh) bench/torch_ssl_methods.py --method byol --epochs 1 --seed 0
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "golden"))
from gen_golden_methods import DEFAULTS, make_method  # noqa: E402
from peer_info import peer_build  # noqa: E402
from torch_recipe_r import (TwoViews, encode, knn_accuracy, linear_probe, load_split,  # noqa: E402
                            schedule_factor, worker_seed)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--method", required=True, choices=sorted(DEFAULTS))
    p.add_argument("--hyper", default="{}", help='method hyper-parameters as JSON, e.g. {"temperature": 0.2}')
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--projection-dim", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-6)
    p.add_argument("--warmup-epochs", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--train-subset", type=int, default=0)
    p.add_argument("--eval-train-subset", type=int, default=0)
    p.add_argument("--probe-epochs", type=int, default=100)
    p.add_argument("--max-steps", type=int, default=0)
    p.add_argument("--out")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x, train_y = load_split("train")
    test_x, test_y = load_split("t10k")
    ssl_x = train_x[:args.train_subset] if args.train_subset > 0 else train_x

    model = make_method(args.method, args.width, args.projection_dim, json.loads(args.hyper)).train()
    adam = torch.optim.Adam(model.trainable(), lr=args.lr, weight_decay=args.weight_decay)
    loader = torch.utils.data.DataLoader(
        TwoViews(ssl_x), batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
        persistent_workers=args.workers > 0, worker_init_fn=worker_seed,
        generator=torch.Generator().manual_seed(args.seed))
    steps_per_epoch = len(loader)
    total = args.epochs * steps_per_epoch
    if args.max_steps > 0:
        total = min(total, args.max_steps)
    warmup = min(total, round(args.warmup_epochs * steps_per_epoch))

    step, epoch_losses = 0, []
    train_start = time.perf_counter()
    for epoch in range(args.epochs):
        loss_sum, n_steps = 0.0, 0
        for v1, v2 in loader:
            if step >= total:
                break
            for g in adam.param_groups:
                g["lr"] = args.lr * schedule_factor(step, warmup, total)
            adam.zero_grad(set_to_none=True)
            loss = model.loss(torch.cat([v1, v2]))
            loss.backward()
            adam.step()
            model.after_step(step, total)
            loss_sum += loss.item()
            n_steps += 1
            step += 1
            if step % 50 == 0 or step == total:
                print(f"{args.method} epoch {epoch + 1} step {step}/{total} loss {loss.item():.4f}", flush=True)
        epoch_losses.append(loss_sum / max(1, n_steps))
    train_seconds = time.perf_counter() - train_start

    eval_start = time.perf_counter()
    ev_x, ev_y = (train_x[:args.eval_train_subset], train_y[:args.eval_train_subset]) if args.eval_train_subset > 0 \
        else (train_x, train_y)
    train_h, test_h = encode(model, ev_x), encode(model, test_x)
    result = {
        "method": args.method, "torch": torch.__version__, "build": peer_build(), "threads": torch.get_num_threads(), "seed": args.seed,
        "epochs": args.epochs, "steps": step, "epoch_losses": epoch_losses, "train_seconds": train_seconds,
        "knn_accuracy": knn_accuracy(train_h, ev_y, test_h, test_y),
        "probe_accuracy": linear_probe(train_h, ev_y, test_h, test_y, epochs=args.probe_epochs, seed=args.seed),
    }
    result["eval_seconds"] = time.perf_counter() - eval_start
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
