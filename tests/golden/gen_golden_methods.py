#!/usr/bin/python3
"""Writes methods.golden, which tests/test_methods.cpp compares our SSL methods against.

Run with Debian's PyTorch (python3-torch), from the repository root:

    /usr/bin/python3 tests/golden/gen_golden_methods.py

For each method (SimCLR, BYOL, SimSiam, MoCo v3, Barlow Twins, VICReg) this file holds a
PyTorch reference written for the test, in the usual formulation of each paper's loss
(F.cosine_similarity, F.batch_norm without affine, F.cross_entropy, F.mse_loss, the
off_diagonal helper), with modules named as ours (ssl/methods/*.cpp) so the state_dict keys
match. Everything runs in float64 on a ConvNet w=4 with small MLPs:

  1. every state_dict entry is set from a seeded generator (weights/<name>; the target
     networks start as copies of the online ones, as ours do);
  2. one forward on a fixed two-view batch [16, 1, 28, 28] (input): loss0 and the gradient
     of every trainable parameter (grad/<name>);
  3. three training steps (Adam, lr 1e-2, coupled weight decay 1e-4, constant lr), each
     followed by the method's EMA update with the momentum of momentum_at() in
     ssl/methods/common.h: the three losses (losses) and every state_dict entry after
     them (after/<name>: parameters, BatchNorm statistics, target networks).
"""
import copy
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, OUT_DIR)
from gen_golden import Golden, randn, write_golden  # noqa: E402
from gen_golden_nn import ConvNet, projection_head, random_state  # noqa: E402

# The golden case: ConvNet w=4 (32 features), MLPs 16 / 12 wide, 8-d output.
GOLDEN_WIDTH, GOLDEN_OUT = 4, 8
GOLDEN_HYPER = {"proj-hidden-dim": 16, "pred-hidden-dim": 12, "base-momentum": 0.9}
STEPS, LR, WEIGHT_DECAY = 3, 1e-2, 1e-4


def momentum_at(base, step, total):
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / total) + 1.0) / 2.0


def off_diagonal(m):
    n = m.shape[0]
    return m.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


# Each method's hyper-parameters and defaults, as ssl/methods/*.cpp registers them.
DEFAULTS = {
    "simclr": {"temperature": 0.5},
    "byol": {"base-momentum": 0.99, "proj-hidden-dim": 4096, "pred-hidden-dim": 4096},
    "simsiam": {"proj-hidden-dim": 2048, "pred-hidden-dim": 512},
    "mocov3": {"temperature": 0.2, "base-momentum": 0.99, "proj-hidden-dim": 4096, "pred-hidden-dim": 4096},
    "barlowtwins": {"lambda": 0.0051, "scale-loss": 0.1, "proj-hidden-dim": 2048},
    "vicreg": {"sim-weight": 25.0, "var-weight": 25.0, "cov-weight": 1.0, "proj-hidden-dim": 2048},
}


class Method(nn.Module):
    """The encoder is the child "encoder", as in ssl/method.h. `hyper` holds the method's
    hyper-parameters by flag name (DEFAULTS completed by what is given)."""

    def __init__(self, width, out, hyper, in_channels=1):
        super().__init__()
        self.encoder = ConvNet(width, in_channels)
        self.features, self.out = 8 * width, out
        self.hyper = hyper
        self.hidden = int(hyper.get("proj-hidden-dim", 0))
        self.pred_hidden = int(hyper.get("pred-hidden-dim", 0))
        self.targets = []  # (target, online) pairs updated by EMA

    def trainable(self):
        return [p for n, p in self.named_parameters() if not n.startswith("target_")]

    def after_step(self, step, total_steps):
        if not self.targets:
            return
        tau = momentum_at(self.hyper["base-momentum"], step, total_steps)
        with torch.no_grad():
            for target, online in self.targets:
                for pt, po in zip(target.parameters(), online.parameters()):
                    pt.copy_(tau * pt + (1.0 - tau) * po)


class SimCLR(Method):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.head = projection_head(self.features, self.features, self.out, 2, True)

    def loss(self, x):
        z = F.normalize(self.head(self.encoder(x)), dim=1)
        n = z.shape[0]
        sim = z @ z.T / self.hyper["temperature"]
        sim.fill_diagonal_(float("-inf"))
        targets = (torch.arange(n) + n // 2) % n
        return F.cross_entropy(sim, targets)


class MomentumMethod(Method):
    """BYOL's and MoCo v3's shape (ssl/methods/common.h MomentumMethod): online projector and
    predictor, and a target copy of the encoder and projector updated by EMA."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.projector = projection_head(self.features, self.hidden, self.out, 2, True)
        self.predictor = projection_head(self.out, self.pred_hidden, self.out, 2, True)
        self.target_encoder = copy.deepcopy(self.encoder)
        self.target_projector = copy.deepcopy(self.projector)
        self.targets = [(self.target_encoder, self.encoder), (self.target_projector, self.projector)]


class BYOL(MomentumMethod):
    def loss(self, x):
        b = x.shape[0] // 2
        p = self.predictor(self.projector(self.encoder(x)))
        with torch.no_grad():
            t = self.target_projector(self.target_encoder(x))
        byol = lambda p, z: (2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1)).mean()  # noqa: E731
        return byol(p[:b], t[b:]) + byol(p[b:], t[:b])


class SimSiam(Method):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.projector = projection_head(self.features, self.hidden, self.out, 3, True)
        self.predictor = projection_head(self.out, self.pred_hidden, self.out, 2, True)

    def loss(self, x):
        b = x.shape[0] // 2
        z = F.batch_norm(self.projector(self.encoder(x)), None, None, training=True)  # BN without affine
        p = self.predictor(z)
        neg_cos = lambda p, z: -F.cosine_similarity(p, z.detach(), dim=-1).mean()  # noqa: E731
        return (neg_cos(p[:b], z[b:]) + neg_cos(p[b:], z[:b])) / 2


class MoCoV3(MomentumMethod):
    def loss(self, x):
        b = x.shape[0] // 2
        q = self.predictor(self.projector(self.encoder(x)))
        with torch.no_grad():
            k = self.target_projector(self.target_encoder(x))

        t = self.hyper["temperature"]

        def ctr(q, k):
            logits = torch.einsum("nc,mc->nm", F.normalize(q, dim=1), F.normalize(k, dim=1)) / t
            return F.cross_entropy(logits, torch.arange(q.shape[0])) * 2 * t

        return ctr(q[:b], k[b:]) + ctr(q[b:], k[:b])


class BarlowTwins(Method):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.projector = projection_head(self.features, self.hidden, self.out, 3, True)

    def loss(self, x):
        b = x.shape[0] // 2
        z = self.projector(self.encoder(x))
        z1 = F.batch_norm(z[:b], None, None, training=True)
        z2 = F.batch_norm(z[b:], None, None, training=True)
        c = z1.T @ z2 / b
        on_diag = torch.diagonal(c).add(-1).pow(2).sum()
        off_diag = off_diagonal(c).pow(2).sum()
        return self.hyper["scale-loss"] * (on_diag + self.hyper["lambda"] * off_diag)


class VICReg(Method):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.projector = projection_head(self.features, self.hidden, self.out, 3, True)

    def loss(self, x):
        b = x.shape[0] // 2
        z = self.projector(self.encoder(x))
        z1, z2 = z[:b], z[b:]
        sim = F.mse_loss(z1, z2)
        std1 = torch.sqrt(z1.var(dim=0) + 1e-4)
        std2 = torch.sqrt(z2.var(dim=0) + 1e-4)
        var = torch.mean(F.relu(1 - std1)) + torch.mean(F.relu(1 - std2))
        z1c, z2c = z1 - z1.mean(dim=0), z2 - z2.mean(dim=0)
        d = z1.shape[1]
        cov1, cov2 = (z1c.T @ z1c) / (b - 1), (z2c.T @ z2c) / (b - 1)
        cov = off_diagonal(cov1).pow(2).sum() / d + off_diagonal(cov2).pow(2).sum() / d
        h = self.hyper
        return h["sim-weight"] * sim + h["var-weight"] * var + h["cov-weight"] * cov


METHODS = {"simclr": SimCLR, "byol": BYOL, "simsiam": SimSiam, "mocov3": MoCoV3, "barlowtwins": BarlowTwins,
           "vicreg": VICReg}


def make_method(name, width, out, given=None, in_channels=1):
    """The method `name` with DEFAULTS[name] updated by `given`."""
    hyper = dict(DEFAULTS[name])
    hyper.update(given or {})
    return METHODS[name](width, out, hyper, in_channels)


def gen_method(g, name, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    golden_hyper = {k: v for k, v in GOLDEN_HYPER.items() if k in DEFAULTS[name]}
    model = make_method(name, GOLDEN_WIDTH, GOLDEN_OUT, golden_hyper).double()
    state = random_state(model, gen)
    # The target networks start as copies of the online ones.
    for key in list(state):
        if key.startswith("target_"):
            state[key] = state[key[len("target_"):]].clone()
    model.load_state_dict(state)
    for key, t in state.items():
        g.add(name, f"weights/{key}", t)
    x = randn(gen, (16, 1, 28, 28), torch.float64)
    g.add(name, "input", x)

    model.train()
    loss = model.loss(x)
    loss.backward()
    g.add(name, "loss0", loss.reshape(1))
    for key, p in model.named_parameters():
        if not key.startswith("target_"):
            g.add(name, f"grad/{key}", p.grad)

    model.load_state_dict(state)  # the forward above moved the BN statistics: start again
    optimizer = torch.optim.Adam(model.trainable(), lr=LR, weight_decay=WEIGHT_DECAY)
    losses = []
    for step in range(STEPS):
        optimizer.zero_grad()
        loss = model.loss(x)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
        model.after_step(step, STEPS)
    g.add(name, "losses", torch.tensor(losses, dtype=torch.float64))
    for key, t in model.state_dict().items():
        g.add(name, f"after/{key}", t)


def main():
    g = Golden()
    for i, name in enumerate(METHODS):
        gen_method(g, name, 3000 + i)
    write_golden(os.path.join(OUT_DIR, "methods.golden"), g.tensors)


if __name__ == "__main__":
    main()
