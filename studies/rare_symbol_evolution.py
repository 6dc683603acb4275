"""How often a model emits each symbol, epoch by epoch, from its training snapshots (evolution.pt).

Shows whether a statistic the model gets wrong (e.g. the linear chains' rare symbol, P = 0.01) is
still moving at the end of training or sits at an equilibrium of the gradient estimator.

Usage::

    python studies/rare_symbol_evolution.py RESULTS_DIR MODEL [MODEL ...] [--points 16]

MODEL: e.g. ``lin3/h50_d10/s0`` (its ``evolution.pt`` must hold snapshots: config ``evolution``).
Prints per snapshot: epoch, frequency of the rarest HMM symbol in the model's outputs, and the
change rate over steps 11..100 (2000 sequences from h_0 = 0, fixed seed).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from rnnhmm.model import Weights, generate_outputs


def snapshot_stats(path: Path, points: int = 16, n: int = 2000, L: int = 100, symbol: int = 1) -> list[tuple]:
    ev = torch.load(path, weights_only=False)
    epochs = ev["epochs"]
    step = max(1, len(epochs) // points)
    rows = []
    for i in list(range(0, len(epochs), step)) + [len(epochs) - 1]:
        w = Weights(*(torch.as_tensor(ev[k][i]).float() for k in ("weight_ih", "weight_hh", "readout")))
        o = generate_outputs(w, n, L, uniform_first=False, generator=torch.Generator().manual_seed(0)).numpy()
        freq = float(np.mean(o == symbol))
        rate = float(np.mean(o[:, 11:] != o[:, 10:-1]))
        rows.append((int(epochs[i]), freq, rate))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--symbol", type=int, default=1, help="the symbol to follow (the chains' rare symbol: 1)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    for m in a.models:
        rows = snapshot_stats(Path(a.results) / "models" / m / "evolution.pt", a.points, symbol=a.symbol)
        print(f"{m}: epoch:P(symbol {a.symbol})/change rate")
        print("  " + " ".join(f"{e}:{f:.4f}/{r:.3f}" for e, f, r in rows))


if __name__ == "__main__":
    main()
