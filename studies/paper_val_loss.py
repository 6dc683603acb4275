"""The HMM's own validation loss, computed exactly as the paper computes its models' validation loss,
against the paper's final validation losses (docs/paper.md C.2, G.2; docs/loss_bias.md).

The paper validates on 10,000 fixed HMM sequences (the second third of its 30,000) in batches of
4096, 4096 and 1808 in fixed order, each batch of generated sequences against the batch of targets
at the same position, and takes the unweighted mean of the three batch losses (debiased Sinkhorn,
blur 0.2, geomloss's eps-scaling 0.5). Here the generated sequences are fresh samples of the HMM
itself (a perfect emulator), drawn anew every "epoch", as the RNN's outputs are. Reported per family:
the mean and SD of that loss over ``--epochs`` draws, the expected minimum over the paper's epochs
(its file names record the best epoch's loss: mean - SD * E[max of n standard normals], assuming
independent epochs) and the paper's range.

    python studies/paper_val_loss.py [--epochs 10] [--families lin2 lin3 lin4 lin5 fully cyclic]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rnnhmm.config import load_config
from rnnhmm.hmm import build_hmm
from rnnhmm.training.convergence import batched_loss

ROOT = Path(__file__).resolve().parents[1]
# the paper's sequence lengths and final validation losses (spec C.5, G.2; from its model file names)
PAPER = {"lin2": (100, "9.6-10.1", 500), "lin3": (30, "4.0-4.1", 500), "lin4": (30, "4.5-4.7 (one 6.4)", 500),
         "lin5": (40, "7.6-7.9", 1500), "fully": (30, "1.8-1.9", 1000), "cyclic": (40, "5.5", 1000)}
BATCHES = (4096, 4096, 1808)


def expected_max_normal(n: int, draws: int = 20000, seed: int = 0) -> float:
    """E[max of n independent standard normals] (Monte Carlo)."""
    return float(np.random.default_rng(seed).standard_normal((draws, n)).max(1).mean())


def paper_val_loss(hmm, L: int, targets: np.ndarray, rng) -> float:
    K = hmm.n_outputs
    x = hmm.sample(len(targets), L, seed=rng).astype(np.int64)
    vals, s = [], 0
    for b in BATCHES:
        vals.append(batched_loss(x[s:s + b], targets[s:s + b], K, b, 0.2))
        s += b
    return float(np.mean(vals))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10, help="independent draws of the generated sequences")
    ap.add_argument("--families", nargs="+", default=list(PAPER))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    hmms = load_config(ROOT / "config" / "config.yaml")["hmms"]
    print("| HMM | L | HMM's own val loss (paper's way), mean ± SD over draws | expected best of the paper's "
          "epochs | paper's final val losses | draws, time |")
    print("|---|---|---|---|---|---|")
    for fam in a.families:
        L, paper, n_epochs = PAPER[fam]
        hmm = build_hmm(fam, hmms[fam])
        rng = np.random.default_rng([a.seed, list(PAPER).index(fam)])
        targets = hmm.sample(sum(BATCHES), L, seed=rng).astype(np.int64)
        t0 = time.time()
        v = np.array([paper_val_loss(hmm, L, targets, rng) for _ in range(a.epochs)])
        sd = float(v.std(ddof=1))
        best = float(v.mean()) - sd * expected_max_normal(n_epochs)
        print(f"| {fam} | {L} | {v.mean():.2f} ± {sd:.3f} (min {v.min():.2f}) | {best:.2f} (of {n_epochs}) | {paper} "
              f"| {a.epochs}, {time.time() - t0:.0f} s |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
