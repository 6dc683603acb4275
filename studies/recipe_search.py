"""Timed, logged search for CPU training recipes per HMM family (issue: every paper HMM on a CPU).

Each trial trains three seeds of one family at once with the batched engine
(:func:`rnnhmm.training.engine.train_many`) and scores every seed with the pipeline's own statistics,
computed the same way on the RNN and on fresh HMM samples (h_0 = 0, all symbols from h_1..h_L,
L = the evaluation length):

* ``vol_ratio``: mean output changes per sequence, RNN / HMM;
* ``dT``: max abs difference of the output transition matrices (RNN vs HMM sample);
* ``dF``: max abs difference of the mean output frequencies;
* ``plateau``: the RNN's change rate is within 5% of what i.i.d. outputs with its own
  frequencies would give (the i.i.d. loss plateau), while the HMM's is not.

Usage::

    python studies/recipe_search.py TRIALS.jsonl RESULTS.tsv [--threads 1]

TRIALS.jsonl: one JSON object per line: ``name``, ``hmm`` (a config ``hmms`` entry), ``hidden``,
``input``, ``num_seq`` (train = val = num_seq / 3), ``seq_len``, ``eval_seq_len`` and any
``TrainConfig`` keys (epochs, batch_size, lr, grad_clip, ...). Trials whose name is already in
RESULTS.tsv are skipped, so a killed search resumes where it stopped.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rnnhmm.claims.performance import PERFORMANCE_CLAIMS, floor_for_claims, performance_claims
from rnnhmm.evaluation.evaluate import evaluate_weights, hmm_floor
from rnnhmm.evaluation.metrics import output_frequencies, output_transition_matrix, volatility
from rnnhmm.hmm import build_hmm
from rnnhmm.model import Weights, generate_outputs
from rnnhmm.training.engine import train_many
from rnnhmm.training.settings import TrainConfig

COLUMNS = ["name", "hmm", "seed", "hidden", "input", "num_seq", "seq_len", "batch_size", "lr", "epochs",
           "grad_clip", "warmup", "extra", "s_per_epoch", "train_s", "val_first", "val_min", "val_last", "best_epoch",
           "vol_rnn", "vol_hmm", "vol_ratio", "dT", "dF", "iid_change", "plateau",
           "conv_last", "fails_last", "conv_best", "fails_best"]

# the pipeline's metrics settings (config/config.yaml, config/cpu.yaml: n_seq 1000)
EVAL = {"n": 1000, "eps": 0.1, "max_iter": 1000, "floor_repeats": 3, "uniform_first": True}
_FLOORS: dict = {}


def claims_score(weights: Weights, hmm, name: str, L: int, seed: int, input_dim: int) -> tuple[bool, str]:
    """The pipeline's performance claims (rnnhmm.claims.performance) on one model: (converged, failing claims)."""
    key = (name, L)
    if key not in _FLOORS:
        _FLOORS[key] = floor_for_claims(hmm_floor(hmm, L, EVAL["n"], EVAL["floor_repeats"], 99, EVAL["eps"],
                                                  EVAL["max_iter"]))
    ev = evaluate_weights(weights, hmm, L, EVAL["n"], 5000 + seed, 6000 + seed, uniform_first=EVAL["uniform_first"],
                          eps=EVAL["eps"], max_iter=EVAL["max_iter"])
    record = {"model": f"{name}/s{seed}", "hmm": name, "input": input_dim, **ev}
    rows = performance_claims([record], {name: _FLOORS[key]})
    fails = [f"{r['claim']}({r['value']:.3g})" for r in rows
             if r["claim"] in PERFORMANCE_CLAIMS and r["outcome"] == "fail"]
    return not fails, " ".join(fails) or "-"


def iid_change_rate(freq: np.ndarray) -> float:
    return float(1.0 - np.sum(freq ** 2))


def score(weights: Weights, hmm, L: int, n: int = 2000, seed: int = 1234) -> dict:
    K = hmm.n_outputs
    g = torch.Generator().manual_seed(seed)
    r = generate_outputs(weights, n, L, uniform_first=False, generator=g).numpy()
    h = hmm.sample(n, L, seed=seed)
    vr, vh = volatility(r).mean(), volatility(h).mean()
    fr, fh = output_frequencies(r, K).mean(0), output_frequencies(h, K).mean(0)
    Tr, Th = output_transition_matrix(r, K), output_transition_matrix(h, K)
    rate_r = vr / (L - 1)
    iid = iid_change_rate(fr)
    return {"vol_rnn": vr, "vol_hmm": vh, "vol_ratio": vr / vh, "dT": float(np.abs(Tr - Th).max()),
            "dF": float(np.abs(fr - fh).max()), "iid_change": iid,
            "plateau": bool(abs(rate_r - iid) < 0.05 * iid and abs(vh / (L - 1) - iid) > 0.1 * iid)}


def describe_extra(t: dict) -> str:
    """The trial's settings beyond the table's columns (learning-rate schedule, tau, h_0), in words."""
    bits = []
    if t.get("objective", "sinkhorn") != "sinkhorn":
        bits.append(f"{t['objective']}, {t.get('particles', 64)} particles")
    if t.get("lr_schedule", "constant") != "constant":
        bits.append(f"{t['lr_schedule']} lr to x{t.get('lr_min_factor', 0.1):g}")
    if t.get("tau", 1.0) != 1.0:
        bits.append(f"tau {t['tau']:g}")
    if t.get("random_h0") is False:
        bits.append("h0 zero")
    if t.get("blur", 0.2) != 0.2:
        bits.append(f"blur {t['blur']:g}")
    if t.get("window_epochs"):
        bits.append(f"last {t['window_epochs']} epochs on {t['window_len']}-step windows"
                    + (f" at lr {t['window_lr']:g}" if t.get("window_lr") else ""))
    if t.get("bigram_weight"):
        bits.append(f"pair-frequency term x{t['bigram_weight']:g}")
    if t.get("final_blur_epochs"):
        bits.append(f"blur {t['final_blur']:g} for the last {t['final_blur_epochs']} epochs")
    return ", ".join(bits)


def run_trial(t: dict, seeds=(0, 1, 2), log=print, curves: dict | None = None,
              save_dir: str | None = None) -> list[dict]:
    hmm = build_hmm(t["hmm"]["name"], t["hmm"])
    n3 = t["num_seq"] // 3
    L, Le = t["seq_len"], t.get("eval_seq_len", 100)
    keys = {k: v for k, v in t.items() if k in TrainConfig.__dataclass_fields__
            and k not in ("hidden", "seed", "device", "checkpoint_every", "log_every")}
    cfgs = [TrainConfig(hidden=t["hidden"], input_dim=t["input"], seed=s, device="cpu",
                        checkpoint_every=10**9, log_every=t.get("log_every", 50), **keys) for s in seeds]
    data = [hmm.sample(2 * n3, L, seed=1000 + s) for s in seeds]
    t0 = time.perf_counter()
    lg = lambda m: log(f"  [{t['name']}] {m}")  # noqa: E731
    # a warm-up curriculum (warmup_epochs on the first warmup_seq_len steps) runs inside the engine;
    # ``epochs`` counts all epochs, warm-up included, as in the pipeline's configs
    res = train_many(cfgs, [d[:n3] for d in data], [d[n3:] for d in data], n_outputs=hmm.n_outputs, log=lg)
    wall = time.perf_counter() - t0
    if curves is not None:
        curves[t["name"]] = {int(s): {"train": r.train_loss, "val": r.val_loss} for s, r in zip(seeds, res)}
    rows = []
    if save_dir:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        for s, r in zip(seeds, res):
            torch.save({"last": r.last, "best": r.best, "val_loss": r.val_loss, "trial": t},
                       Path(save_dir) / f"{t['name']}_s{s}.pt")
    for s, r in zip(seeds, res):
        w = Weights(r.last["weight_ih"], r.last["weight_hh"], r.last["readout"])
        sc = score(w, hmm, Le)
        sc["conv_last"], sc["fails_last"] = claims_score(w, hmm, t["hmm"]["name"], Le, s, t["input"])
        wb = Weights(r.best["weight_ih"], r.best["weight_hh"], r.best["readout"])
        sc["conv_best"], sc["fails_best"] = claims_score(wb, hmm, t["hmm"]["name"], Le, s, t["input"])
        rows.append({"name": t["name"], "hmm": t["hmm"]["name"], "seed": s, "hidden": t["hidden"],
                     "input": t["input"], "num_seq": t["num_seq"], "seq_len": L,
                     "batch_size": cfgs[0].batch_size, "lr": cfgs[0].lr, "epochs": cfgs[0].epochs,
                     "grad_clip": cfgs[0].grad_clip,
                     "warmup": f"L{t['warmup_seq_len']}x{t['warmup_epochs']}" if t.get("warmup_epochs") else "",
                     "extra": t.get("note") or describe_extra(t),
                     "s_per_epoch": wall / cfgs[0].epochs, "train_s": wall,
                     "val_first": r.val_loss[0], "val_min": min(r.val_loss), "val_last": r.val_loss[-1],
                     "best_epoch": r.best_epoch, **sc})
        log(f"  [{t['name']}] seed {s}: vol {sc['vol_rnn']:.2f}/{sc['vol_hmm']:.2f} dT {sc['dT']:.3f} "
            f"dF {sc['dF']:.3f} plateau {sc['plateau']} val {r.val_loss[0]:.3f}->{r.val_loss[-1]:.3f}; "
            f"converged last {sc['conv_last']} ({sc['fails_last']}), best {sc['conv_best']} ({sc['fails_best']})")
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trials")
    ap.add_argument("results")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save-dir", help="keep each trial's last and best weights here (<trial>_s<seed>.pt)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    out = Path(a.results)
    done = set()
    if out.exists():
        done = {line.split("\t")[0] for line in out.read_text().splitlines()[1:]}
    else:
        out.write_text("\t".join(COLUMNS) + "\n")
    trials = [json.loads(x) for x in Path(a.trials).read_text().splitlines() if x.strip() and not x.startswith("#")]
    for t in trials:
        if t["name"] in done:
            continue
        print(f"trial {t['name']}: {json.dumps(t)}", flush=True)
        curves: dict = {}
        rows = run_trial(t, log=lambda m: print(m, flush=True), curves=curves, save_dir=a.save_dir)
        cpath = out.with_suffix(".curves.json")
        allc = json.loads(cpath.read_text()) if cpath.exists() else {}
        allc.update(curves)
        cpath.write_text(json.dumps(allc))
        with out.open("a") as f:
            for r in rows:
                f.write("\t".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in COLUMNS) + "\n")
        done.add(t["name"])


if __name__ == "__main__":
    sys.exit(main())
