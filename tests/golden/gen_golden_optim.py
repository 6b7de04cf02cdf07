#!/usr/bin/python3
"""Writes the optimizer golden files that tests/test_optim.cpp compares against.

Run with Debian's PyTorch (python3-torch), from the repository root:

    /usr/bin/python3 tests/golden/gen_golden_optim.py

Files (SCGOLD01, see tests/golden/README.md; the writer is shared with gen_golden.py):

  optim_sgd.golden, optim_adam.golden, optim_adamw.golden, optim_lars.golden
      A small model written with plain tensors, trained for STEPS steps by one optimizer
      with two parameter groups (different lr and weight decay), in float32 and float64.
      SGD, Adam and LARS have their lr driven by the warmup-cosine schedule below (through
      torch.optim.lr_scheduler.LambdaLR); AdamW runs at a constant lr.
      LARS has no PyTorch class: LarsReference below is written from the SimCLR paper's
      definition (the formula is in nn/lars.h).
  optim_schedule.golden
      warmup_cosine_factor() for several (warmup, total, final_fraction) settings.

Fields of an optimizer case "<case>" (case = "f32" or "f64"):
  x [4,5], targets int64 [4]              the fixed batch (the same every step)
  init/<param>                            the parameters before the first step
  group_lr, group_wd  float64 [2]          each group's base lr and weight decay
  options  float64 [k]                     optimizer options (order given per optimizer below)
  schedule float64 [3]                     warmup_steps, total_steps, final_fraction
                                           (absent: constant lr)
  lr  float64 [STEPS, 2]                   the lr each group used at each step
  step<k>/grad_<param>                     the gradients that step k used (k = 1..STEPS)
  step<k>/<param>                          the parameters after step k
  loss float64 [STEPS]                     the loss computed before each step
The parameter "unused.weight" is in group 0 but not in the loss: it never has a gradient,
so every optimizer must leave it unchanged (PyTorch skips it).
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import OUT_DIR, Golden, randn, uniform, write_golden  # noqa: E402

STEPS = 4  # warmup steps and cosine steps both get exercised with warmup 2, total 5

# The model: h = relu(x W1^T + b1); h = h * gamma + beta (a batch-norm-like scale and shift);
# out = h W2^T + b2; loss = cross_entropy(out, targets).
PARAM_NAMES = ["fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "unused.weight", "fc2.weight", "fc2.bias"]
GROUPS = [["fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "unused.weight"], ["fc2.weight", "fc2.bias"]]


def warmup_cosine_factor(step, warmup, total, final_fraction):
    """The multiplier of the base lr at step (0-based); nn/schedule.h has the same formula."""
    if step < warmup:
        return (step + 1) / warmup
    if step >= total:
        return final_fraction
    progress = (step - warmup) / (total - warmup)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))


def make_model(dtype):
    gen = torch.Generator().manual_seed(3001)
    params = {
        "fc1.weight": randn(gen, (6, 5), dtype, 0.5),
        "fc1.bias": randn(gen, (6,), dtype, 0.1),
        "bn.weight": 1 + randn(gen, (6,), dtype, 0.1),
        "bn.bias": randn(gen, (6,), dtype, 0.1),
        "unused.weight": randn(gen, (2, 2), dtype),
        "fc2.weight": randn(gen, (3, 6), dtype, 0.5),
        "fc2.bias": randn(gen, (3,), dtype, 0.1),
    }
    x = randn(gen, (4, 5), dtype)
    targets = torch.tensor([0, 2, 1, 2], dtype=torch.int64)
    return {k: v.clone().requires_grad_(True) for k, v in params.items()}, x, targets


def model_loss(p, x, targets):
    h = torch.relu(x @ p["fc1.weight"].T + p["fc1.bias"])
    h = h * p["bn.weight"] + p["bn.bias"]
    out = h @ p["fc2.weight"].T + p["fc2.bias"]
    return F.cross_entropy(out, targets)


class LarsReference(torch.optim.Optimizer):
    """LARS from the SimCLR paper / its TF code, written out with plain tensor math.

    Excluded parameters (here: dim <= 1) get neither weight decay nor the trust ratio."""

    def __init__(self, groups, momentum, eta):
        super().__init__(groups, dict(momentum=momentum, eta=eta))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, wd, m, eta = group["lr"], group["weight_decay"], group["momentum"], group["eta"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                v = state["momentum_buffer"]
                g = p.grad
                scaled_lr = lr
                if p.dim() > 1:
                    g = g + wd * p
                    p_norm, g_norm = torch.linalg.norm(p).item(), torch.linalg.norm(g).item()
                    trust = eta * p_norm / g_norm if p_norm > 0 and g_norm > 0 else 1.0
                    scaled_lr = lr * trust
                v.copy_(m * v + scaled_lr * g)
                p.sub_(v)


# Each optimizer: group lrs, group weight decays, options (stored in this order), schedule.
CONFIGS = {
    # options: momentum, dampening, nesterov
    "sgd": dict(lr=[0.1, 0.05], wd=[1e-4, 5e-2], options=[0.9, 0.0, 1.0], schedule=[2, 5, 0.0]),
    # options: beta1, beta2, eps
    "adam": dict(lr=[1e-2, 5e-3], wd=[1e-4, 5e-2], options=[0.9, 0.999, 1e-8], schedule=[1, 3, 0.1]),
    "adamw": dict(lr=[1e-2, 2e-2], wd=[1e-2, 2e-1], options=[0.8, 0.99, 1e-6], schedule=None),
    # options: momentum, eta. lr 4.8 is SimCLR's (0.3 * 4096 / 256): the trust ratio (~1e-3)
    # makes the adapted weights' steps small, while the excluded 1-D parameters take the
    # full lr, so the loss oscillates over these four steps; that is fine for a step check.
    "lars": dict(lr=[4.8, 2.0], wd=[1e-3, 5e-2], options=[0.9, 1e-3], schedule=[2, 5, 0.0]),
}


def make_optimizer(kind, params, cfg):
    groups = [dict(params=[params[n] for n in names], lr=lr, weight_decay=wd)
              for names, lr, wd in zip(GROUPS, cfg["lr"], cfg["wd"])]
    o = cfg["options"]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=cfg["lr"][0], momentum=o[0], dampening=o[1], nesterov=bool(o[2]))
    if kind == "adam":
        return torch.optim.Adam(groups, lr=cfg["lr"][0], betas=(o[0], o[1]), eps=o[2])
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=cfg["lr"][0], betas=(o[0], o[1]), eps=o[2])
    return LarsReference(groups, momentum=o[0], eta=o[1])


def gen_optimizer(kind):
    cfg = CONFIGS[kind]
    g = Golden()
    for case, dtype in [("f32", torch.float32), ("f64", torch.float64)]:
        params, x, targets = make_model(dtype)
        g.add(case, "x", x)
        g.add(case, "targets", targets)
        for n in PARAM_NAMES:
            g.add(case, f"init/{n}", params[n])
        g.add(case, "group_lr", torch.tensor(cfg["lr"], dtype=torch.float64))
        g.add(case, "group_wd", torch.tensor(cfg["wd"], dtype=torch.float64))
        g.add(case, "options", torch.tensor(cfg["options"], dtype=torch.float64))
        opt = make_optimizer(kind, params, cfg)
        scheduler = None
        if cfg["schedule"] is not None:
            warmup, total, final = cfg["schedule"]
            g.add(case, "schedule", torch.tensor(cfg["schedule"], dtype=torch.float64))
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda step: warmup_cosine_factor(step, warmup, total, final))
        lrs, losses = [], []
        for k in range(1, STEPS + 1):
            opt.zero_grad(set_to_none=True)
            loss = model_loss(params, x, targets)
            loss.backward()
            assert params["unused.weight"].grad is None
            lrs.append([group["lr"] for group in opt.param_groups])
            losses.append(loss.item())
            opt.step()
            if scheduler is not None:
                scheduler.step()
            for n in PARAM_NAMES:
                if params[n].grad is not None:
                    g.add(case, f"step{k}/grad_{n}", params[n].grad)
                g.add(case, f"step{k}/{n}", params[n])
        g.add(case, "lr", torch.tensor(lrs, dtype=torch.float64))
        g.add(case, "loss", torch.tensor(losses, dtype=torch.float64))
    write_golden(os.path.join(OUT_DIR, f"optim_{kind}.golden"), g.tensors)


def gen_schedule():
    g = Golden()
    settings = [(2, 5, 0.0), (0, 4, 0.0), (3, 3, 0.0), (1, 10, 0.1), (5, 20, 0.05), (0, 1, 0.5)]
    for warmup, total, final in settings:
        case = f"w{warmup}_t{total}_f{final}"
        steps = total + 3  # past the end: the floor
        g.add(case, "config", torch.tensor([warmup, total, final], dtype=torch.float64))
        g.add(case, "factors", torch.tensor([warmup_cosine_factor(s, warmup, total, final) for s in range(steps)],
                                            dtype=torch.float64))
    write_golden(os.path.join(OUT_DIR, "optim_schedule.golden"), g.tensors)


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}")
    for kind in CONFIGS:
        gen_optimizer(kind)
    gen_schedule()


if __name__ == "__main__":
    main()
