"""Where is the training loss lowest: at the HMM, or at a copy that switches less / drops the rare
symbol? (docs/loss_bias.md; :mod:`rnnhmm.training.loss_bias`)

Usage::

    python studies/loss_bias.py lin2 --seq-len 50 --batch 512 --blur 0.2 --reps 20 \
        [--scales 0.5,0.7,0.85,1,1.15] [--rares hmm,0.003,0] [--flips 0.02,0.05] [--tsv OUT.tsv]
        [--scaling 0.5 0.9 0.97 exact]
    python studies/loss_bias.py lin2 --distances 2000 --seq-len 100 --reps 2 --scales 0.7,1,1.15 --rares hmm,0
    python studies/loss_bias.py lin2 --objective likelihood --seq-len 100 --n-seq 4096 --reps 5 \
        --scales 0.5,0.7,0.85,1,1.15 --rares hmm,0.003,0

HMM: a paper family name (lin2..lin5, fully, cyclic). Prints one row per variant: its change
probability per step, its mean loss against fresh HMM samples, and the excess over the HMM's own
loss on the same targets (paired; negative beyond ~2 SE: the loss prefers the variant).
``--objective likelihood`` scores the same variants by the likelihood objective instead (exact
negative log-likelihood per step of ``--n-seq`` HMM sequences per draw; excess = KL rate from the
HMM, :func:`rnnhmm.training.loss_bias.likelihood_landscape`). ``--distances N`` prints instead
the paper's matched distance match(HMM, variant) of N sequences
(docs/evaluation: many-to-one Sinkhorn argmax match) next to the HMM-HMM floor, per draw.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

from rnnhmm.config import load_config
from rnnhmm.hmm import build_hmm
from rnnhmm.training.loss_bias import likelihood_landscape, loss_landscape

# the paper's HMMs, as the paper config defines them (lin2..lin5, fully, cyclic)
FAMILIES = load_config(Path(__file__).resolve().parents[1] / "config" / "config.yaml")["hmms"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("hmm", choices=sorted(FAMILIES))
    ap.add_argument("--seq-len", type=int, required=True)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--blur", type=float, nargs="+", default=[0.2])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--scales", default="0.7,0.85,1,1.15")
    ap.add_argument("--rares", default="hmm", help="comma list: 'hmm' (unchanged) or a probability")
    ap.add_argument("--flips", default="", help="comma list of i.i.d. flip probabilities (on the HMM itself)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tsv")
    ap.add_argument("--scaling", nargs="+", default=["0.5"],
                    help="geomloss eps-scaling factors (0.5: the paper's and the engine's) and/or 'exact' "
                         "(unregularised OT)")
    ap.add_argument("--objective", choices=["sinkhorn", "likelihood"], default="sinkhorn",
                    help="the paper's Sinkhorn loss (default) or the likelihood objective (exact, forward algorithm)")
    ap.add_argument("--n-seq", type=int, default=4096, help="likelihood: HMM sequences per draw")
    ap.add_argument("--distances", type=int, default=0, help="matched distances of N sequences instead of losses")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    hmm = build_hmm(a.hmm, FAMILIES[a.hmm])
    scales = [float(x) for x in a.scales.split(",")]
    rares = [None if x == "hmm" else float(x) for x in a.rares.split(",")]
    flips = [float(x) for x in a.flips.split(",") if x]
    if a.distances:
        return distances(hmm, a, scales, rares)
    if a.objective == "likelihood":
        return likelihood(hmm, a, scales, rares)
    rows = []
    print(f"{a.hmm}: L={a.seq_len} batch={a.batch} reps={a.reps} (HMM change prob {hmm.change_probability():.4f})")
    print("blur\tscaling\trare\tscale\tflip\tchanges/step\tloss\t± SE\texcess\t± SE")
    for blur in a.blur:
        for sc in [x if x == "exact" else float(x) for x in a.scaling]:
            t0 = time.time()
            mine = []
            for r in loss_landscape(hmm, a.seq_len, a.batch, blur, a.reps, scales, rares, flips, a.seed, sc):
                rows.append(r)
                mine.append(r)
                print(f"{blur:g}\t{sc}\t{r['rare']}\t{r['switch_scale']:g}\t{r['flip']:g}\t{r['change_rate']:.4f}\t"
                      f"{r['loss']:.4f}\t{r['loss_se']:.4f}\t{r['excess']:+.4f}\t{r['excess_se']:.4f}", flush=True)
            best = min(mine, key=lambda r: r["excess"])
            print(f"# blur {blur:g}, scaling {sc}: lowest loss at rare={best['rare']} scale={best['switch_scale']:g} "
                  f"(excess {best['excess']:+.4f} ± {best['excess_se']:.4f}); {time.time() - t0:.0f} s", flush=True)
    if a.tsv:
        write_tsv(a.tsv, rows)


def write_tsv(path, rows) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t")
        w.writeheader()
        w.writerows(rows)


def likelihood(hmm, a, scales, rares) -> None:
    """The likelihood objective's landscape: negative log-likelihood per step and KL rate per variant."""
    t0 = time.time()
    rows = likelihood_landscape(hmm, a.seq_len, a.n_seq, a.reps, scales, rares, a.seed)
    print(f"{a.hmm}: likelihood objective, L={a.seq_len} n_seq={a.n_seq} reps={a.reps} "
          f"(HMM change prob {hmm.change_probability():.4f})")
    print("rare\tscale\tchanges/step\tnll/step\texcess (KL rate)\t± SE\timpossible")
    for r in rows:
        print(f"{r['rare']}\t{r['switch_scale']:g}\t{r['change_rate']:.4f}\t{r['loss']:.5f}\t{r['excess']:+.5f}\t"
              f"{r['excess_se']:.5f}\t{r['impossible']:.3f}", flush=True)
    best = min(rows, key=lambda r: r["excess"])
    print(f"# lowest at rare={best['rare']} scale={best['switch_scale']:g}; {time.time() - t0:.0f} s")
    if a.tsv:
        write_tsv(a.tsv, rows)


def distances(hmm, a, scales, rares) -> None:
    """Mean matched distance match(HMM sample, variant sample) per variant, and the HMM-HMM floor."""
    import numpy as np

    from rnnhmm.evaluation.metrics import matched_distances
    from rnnhmm.hmm import one_hot
    from rnnhmm.training.loss_bias import perturbed

    rng = np.random.default_rng(a.seed)
    variants = [(r, s, perturbed(hmm, s, r)) for r in rares for s in scales if not (r is None and s == 1.0)]
    K = hmm.n_outputs

    def md(x, y):
        return float(matched_distances(torch.tensor(one_hot(x, K), dtype=torch.float32),
                                       torch.tensor(one_hot(y, K), dtype=torch.float32)).mean())

    print(f"{a.hmm}: matched distance, n={a.distances}, L={a.seq_len} (floor: HMM vs HMM)")
    for rep in range(a.reps):
        h1, h2, h3 = (hmm.sample(a.distances, a.seq_len, seed=rng) for _ in range(3))
        out = [f"floor {md(h2, h3):.3f}"]
        out += [f"rare {'hmm' if r is None else r} x{s:g}: {md(h1, v.sample(a.distances, a.seq_len, seed=rng)):.3f}"
                for r, s, v in variants]
        print(f"draw {rep}: " + "; ".join(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
