"""KL rate of trained models from their HMMs vs the particle count of the likelihood filter
(rnnhmm.evaluation.likelihood), with standard errors and timing: feeds docs/likelihood.md.

Usage::

    python studies/kl_rate.py RESULTS_DIR MODEL [MODEL ...] [--config config/cpu.yaml] [--n-seq 500]
        [--seq-len L] [--particles 64 128 256 512 1024 2048 4096] [--repeats 1] [--threads 1]
    python studies/kl_rate.py --demo          # no results: the tests' hand-made i.i.d. model on lin2

MODEL: e.g. ``lin2/h50_d10/s0`` (RESULTS_DIR/models/<MODEL>/model.pt, the config's ``metrics.weights``
unless ``--weights``). Held-out sequences: ``--n-seq`` samples of the HMM (seed ``--seed``) of length
``--seq-len`` (default: the HMM's training ``seq_len`` in the config). The RNN follows the config's
``metrics.uniform_first_symbol`` (generate_outputs' convention; ``--uniform-first false``: o_0 from h_1).
Prints per particle count: KL rate
(nats/step) +- SE over sequences, the spread over ``--repeats`` filter seeds, the HMM's entropy rate,
the share of the KL at the rare symbol's steps, ESS, resampling, diverged particles and seconds,
and the move SE (SE over sequences of the per-sequence change from the previous row); then the
doubling rule's verdicts (rnnhmm.evaluation.likelihood.doubling_rule, default and paired) on the
doubling counts.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from rnnhmm.config import ModelSpec, load_config
from rnnhmm.evaluation.likelihood import doubling_rule, kl_rate
from rnnhmm.hmm import build_hmm, linear_chain
from rnnhmm.model import Weights, load_weights


def demo_model() -> Weights:
    """tests/test_likelihood.py's i.i.d. model: lin2's marginal frequencies, no memory."""
    W_out = 20.0 * torch.tensor([[1., -1], [-1, -1], [-1, 1]])
    return Weights(torch.tensor([[1.0], [-1.0]]), torch.zeros(2, 2), W_out)


def measure(weights: Weights, hmm, y, particles, repeats: int, seed: int, uniform_first: bool,
            device=None) -> list[dict]:
    rows, prev = [], None
    for P in particles:
        rs = [kl_rate(weights, hmm, y, P, seed + r, uniform_first=uniform_first, device=device) for r in range(repeats)]
        r0 = rs[0]
        d = None if prev is None else (prev["loglik_rnn"] - r0["loglik_rnn"]) / r0["T"]
        move_se = float("nan") if d is None else float(np.std(d, ddof=1) / np.sqrt(len(d)))
        prev = r0
        rows.append({"P": P, "kl": r0["kl_rate"], "se": r0["kl_se"], "move_se": move_se,
                     "repeat_sd": float(np.std([r["kl_rate"] for r in rs], ddof=1)) if repeats > 1 else float("nan"),
                     "entropy": r0["entropy_rate"], "entropy_se": r0["entropy_se"], "rare_share": r0["rare_share"],
                     "ess_mean": r0["ess_mean"], "resample": r0["resample_fraction"], "diverged": r0["n_diverged"],
                     "seconds": float(np.mean([r["seconds"] for r in rs]))})
    return rows


def table(rows: list[dict]) -> str:
    out = ["| P | KL rate (nats/step) | SE | move SE | repeat sd | HMM entropy rate | rare-step share | ESS/P | "
           "resampled "
           "| diverged | seconds |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        share = "n/a" if r["rare_share"] is None else f"{r['rare_share']:.2f}"
        rep = "-" if np.isnan(r["repeat_sd"]) else f"{r['repeat_sd']:.4f}"
        mse = "-" if np.isnan(r["move_se"]) else f"{r['move_se']:.4f}"
        out.append(f"| {r['P']} | {r['kl']:.4f} | {r['se']:.4f} | {mse} | {rep} | {r['entropy']:.4f} "
                   f"+- {r['entropy_se']:.4f} | {share} | {r['ess_mean']:.3f} | {r['resample']:.3f} | {r['diverged']} "
                   f"| {r['seconds']:.1f} |")
    return "\n".join(out)


def verdict(rows: list[dict]) -> str:
    """The doubling rule on the rows whose P doubles from the first (move SE: vs the previous row,
    so the particle counts must be consecutive doublings for the paired verdict)."""
    chain = [rows[0]]
    for r in rows[1:]:
        if r["P"] == 2 * chain[-1]["P"]:
            chain.append(r)
    out = []
    for paired in (False, True):
        i, ok = doubling_rule([(r["P"], r["kl"], r["se"], r["seconds"], r["move_se"]) for r in chain], paired)
        r = chain[i]
        rule = "|E(P) - E(P/2)| < " + ("move SE(P)" if paired else "SE(P)")
        out.append(f"doubling rule ({rule}): {'converged' if ok else 'NOT converged'} at P = {r['P']}: "
                   f"KL rate {r['kl']:.4f} +- {r['se']:.4f} nats/step")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="?")
    ap.add_argument("models", nargs="*")
    ap.add_argument("--config", default="config/cpu.yaml")
    ap.add_argument("--weights", default=None, help="'best' or 'last' (default: the config's metrics.weights)")
    ap.add_argument("--n-seq", type=int, default=500)
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--particles", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096])
    ap.add_argument("--repeats", type=int, default=1, help="filter seeds per particle count (repeat-to-repeat spread)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default=None)
    ap.add_argument("--uniform-first", choices=["true", "false"], default=None,
                    help="override the config's metrics.uniform_first_symbol (false: o_0 from h_1)")
    ap.add_argument("--demo", action="store_true", help="no results dir: the tests' i.i.d. model on lin2, L = 50")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.demo:
        jobs = [("demo (i.i.d. model)", demo_model(), linear_chain(2), a.seq_len or 50, a.uniform_first != "false")]
    else:
        if not a.results or not a.models:
            ap.error("give RESULTS_DIR and at least one MODEL, or --demo")
        cfg = load_config(a.config)
        kind = a.weights or cfg["metrics"]["weights"]
        jobs = []
        for m in a.models:
            spec = ModelSpec.parse(m)
            hspec = cfg["hmms"][spec.hmm]
            w = load_weights(Path(a.results) / "models" / spec.id / "model.pt", kind)
            uf = cfg["metrics"]["uniform_first_symbol"] if a.uniform_first is None else a.uniform_first == "true"
            jobs.append((f"{spec.id} ({kind} weights)", w, build_hmm(spec.hmm, hspec), a.seq_len or hspec["seq_len"],
                         bool(uf)))
    for name, w, hmm, L, uf in jobs:
        y = hmm.sample(a.n_seq, L, seed=a.seed)
        t0 = time.perf_counter()
        rows = measure(w, hmm, y, a.particles, a.repeats, a.seed, uf, a.device)
        print(f"## {name} vs {hmm.name}: {a.n_seq} HMM sequences, L = {L}, uniform_first = {uf}, "
              f"threads = {a.threads}, device = {a.device or 'weights'} ({time.perf_counter() - t0:.0f} s)\n")
        print(table(rows))
        print("\n" + verdict(rows) + "\n", flush=True)


if __name__ == "__main__":
    main()
