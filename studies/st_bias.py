"""Does straight-through training leave the truth even where the loss's minimum is the truth?
(docs/loss_bias.md, "The gradient estimators")

The generator is a Markov chain over the three output symbols with transition logits theta, sampled
with the hard Gumbel-softmax and trained through its straight-through gradient, exactly as the
RNN's outputs are; the targets are the same chain at its true parameters (an output-level copy of
lin2: stay 0.94, switch 0.05, rare symbol 0.01). Training starts *at* the truth, with the paper's
loss (Sinkhorn, blur 0.2, Adam betas 0.9/0.9) on whole sequences or on one random window per batch.
``--estimator soft`` feeds the relaxed Gumbel-softmax vectors themselves (temperature ``--tau``) to
the loss instead of their hard one-hots. ``--estimator score`` replaces the straight-through
gradient by a score-function one: hard samples, and the gradient of sum_i f(x_i) log p(x_i) with
f the Sinkhorn loss's first variation at each generated sequence (its gradient with respect to the
sample's weight, mean removed).

Usage::

    python studies/st_bias.py {full,window} [--steps 300] [--lr 0.01] [--seeds 0 1 2]
        [--seq-len 50] [--window 7] [--batch 512] [--estimator {st,score,soft}] [--tau 1]

Prints, every steps/6, the mean over seeds of the chain's switch probability P(0->2), P(2->0) and
of the rare symbol's P(0->1), P(2->1) (truth: 0.05 and 0.01).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from rnnhmm.hmm import HMM
from rnnhmm.training.settings import sinkhorn_loss
from rnnhmm.training.sinkhorn import onehot_sinkhorn

P_TRUE = np.array([[0.94, 0.01, 0.05], [0.495, 0.01, 0.495], [0.05, 0.01, 0.94]])


def run(mode: str, steps: int, lr: float, seed: int, L: int, W: int, B: int, report, estimator: str = "st",
        tau: float = 1.0):
    chain = HMM("chain", P_TRUE, np.eye(3))
    pi = torch.tensor(chain.stationary(), dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    theta = torch.tensor(np.log(P_TRUE), dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr, betas=(0.9, 0.9))
    eye = torch.eye(3)
    loss_fn = sinkhorn_loss(0.2)  # the paper's loss as geomloss computes it (weights for the score gradient)
    for step in range(1, steps + 1):
        o = int(rng.integers(0, L - W + 1)) if mode == "window" else 0
        w = W if mode == "window" else L
        y = eye[torch.as_tensor(chain.sample(B, L, seed=rng), dtype=torch.long)][:, o:o + w]
        opt.zero_grad()
        if estimator in ("st", "soft"):
            xs = [eye[torch.multinomial(pi, B, replacement=True, generator=g)]]
            for _ in range(1, L):
                u = torch.rand(B, 3, generator=g)
                z = (xs[-1] @ theta - torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))) / tau
                soft = torch.softmax(z, 1)
                # straight-through, as the RNN's outputs; or the relaxed sample itself
                xs.append(soft if estimator == "soft" else eye[soft.argmax(1)] - soft.detach() + soft)
            x = torch.stack(xs, 1)[:, o:o + w]
            loss, grad = onehot_sinkhorn(x.reshape(1, B, -1), y.reshape(1, B, -1), blur=0.2, need_grad=True)
            x.backward(grad.view_as(x))
        else:
            with torch.no_grad():
                idx = [torch.multinomial(pi, B, replacement=True, generator=g)]
                for _ in range(1, o + w):
                    idx.append(torch.multinomial(torch.softmax(theta[idx[-1]], 1), 1, generator=g).squeeze(1))
                idx = torch.stack(idx, 1)
            a = torch.full((B,), 1.0 / B, requires_grad=True)
            loss = loss_fn(a, eye[idx[:, o:]].reshape(B, -1), torch.full((B,), 1.0 / B), y.reshape(B, -1))
            (f,) = torch.autograd.grad(loss, a)
            logp = torch.log_softmax(theta, 1)[idx[:, :-1], idx[:, 1:]].sum(1)  # transitions up to the window's end
            ((f - f.mean()).detach() * logp).sum().backward()
        opt.step()
        report(step, torch.softmax(theta.detach(), 1).numpy())
    return torch.softmax(theta.detach(), 1).numpy()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["full", "window"])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seq-len", type=int, default=50)
    ap.add_argument("--window", type=int, default=7)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--estimator", choices=["st", "score", "soft"], default="st")
    ap.add_argument("--tau", type=float, default=1.0, help="Gumbel-softmax temperature (st, soft)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    every = max(a.steps // 6, 1)
    traj: dict[int, list] = {}
    for s in a.seeds:
        run(a.mode, a.steps, a.lr, s, a.seq_len, a.window, a.batch,
            lambda step, P: traj.setdefault(step, []).append(P) if step % every == 0 or step == 1 else None,
            a.estimator, a.tau)
    print(f"{a.mode} (L={a.seq_len}" + (f", windows of {a.window}" if a.mode == "window" else "")
          + f", batch {a.batch}, lr {a.lr:g}, seeds {a.seeds}, {a.estimator} gradient, tau {a.tau:g}); "
          "truth: switch 0.05, rare 0.01")
    for step in sorted(traj):
        P = np.array(traj[step])
        sw, rare = (P[:, 0, 2] + P[:, 2, 0]) / 2, (P[:, 0, 1] + P[:, 2, 1]) / 2
        print(f"step {step:4d}: switch {sw.mean():.4f} (seeds {np.round(sw.astype(float), 4).tolist()})  "
              f"rare {rare.mean():.4f} (seeds {np.round(rare.astype(float), 4).tolist()})", flush=True)


if __name__ == "__main__":
    main()
