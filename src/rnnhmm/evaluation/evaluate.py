"""Evaluation of a trained model against its HMM (docs/claims.md D): the HMM-HMM distance floor and one
model's emission statistics, matched distances and performance-claim statistics.

Used by the pipeline's ``hmm_floor`` and ``model_metrics`` rules and by the recipe search
(``studies/recipe_search.py``), so a recipe is judged by exactly the pipeline's numbers.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from rnnhmm.config import derive_seed
from rnnhmm.hmm import HMM, build_hmm, one_hot
from rnnhmm.model import Weights, generate_outputs, load_weights
from rnnhmm.paths import model_id
from rnnhmm.training.convergence import final_validation, training_verdict

from .metrics import emission_statistics, matched_distances, performance_record


def hmm_floor(hmm: HMM, L: int, n: int, repeats: int, seed: int, eps: float, max_iter: int,
              log=lambda m: None) -> dict:
    """HMM-vs-HMM matched-distance floor (docs/claims.md D.1): ``repeats`` independent pairs of n samples."""
    rng = np.random.default_rng(seed)
    means, stds = [], []
    for r in range(repeats):
        a = torch.from_numpy(one_hot(hmm.sample(n, L, rng), hmm.n_outputs))
        b = torch.from_numpy(one_hot(hmm.sample(n, L, rng), hmm.n_outputs))
        d = matched_distances(a, b, eps=eps, max_iter=max_iter).numpy()
        means.append(float(d.mean()))
        stds.append(float(d.std()))
        log(f"repeat {r}: {d.mean():.4f} +- {d.std():.4f}")
    return {"seq_len": L, "n_seq": n, "floor_mean": float(np.mean(means)),
            "floor_sd_across_repeats": float(np.std(means)), "floor_within_sd": float(np.mean(stds)),
            "repeat_means": means, "repeat_sds": stds}


def evaluate_weights(weights: Weights, hmm: HMM, L: int, n: int, seed: int, null_seed: int, *,
                     uniform_first: bool, eps: float, max_iter: int, null_repeats: int = 200) -> dict:
    """Sample n sequences of length L from the model (h_0 = 0) and from the HMM and compare them:
    matched distances both ways, emission statistics (docs/claims.md D) and the performance-claim statistics
    with their spread over HMM samples of the same size (:func:`rnnhmm.evaluation.metrics.performance_record`)."""
    K = hmm.n_outputs
    gen = torch.Generator().manual_seed(seed)
    rnn_obs = generate_outputs(weights, n, L, uniform_first=uniform_first, generator=gen).numpy()
    hmm_obs = hmm.sample(n, L, seed=seed)
    oh_h, oh_r = torch.from_numpy(one_hot(hmm_obs, K)), torch.from_numpy(one_hot(rnn_obs, K))
    d = matched_distances(oh_h, oh_r, eps=eps, max_iter=max_iter).numpy()
    # reverse direction: each HMM sample to its best RNN sample (grows when outputs lack diversity)
    d_rev = matched_distances(oh_r, oh_h, eps=eps, max_iter=max_iter).numpy()
    perf = performance_record(rnn_obs, hmm, repeats=null_repeats, seed=null_seed)
    hs, rs = emission_statistics(hmm_obs, K), emission_statistics(rnn_obs, K)
    sq = (np.asarray(hs["transition_matrix"]) - np.asarray(rs["transition_matrix"])) ** 2
    return {
        "seq_len": L, "n_seq": n,
        "distance_mean": float(d.mean()), "distance_sd": float(d.std()),
        "reverse_distance_mean": float(d_rev.mean()), "reverse_distance_sd": float(d_rev.std()),
        "performance": perf, "hmm_stats": hs, "rnn_stats": rs, "transition_sq_diff": sq,
        "examples": {"hmm": hmm_obs[:20], "rnn": rnn_obs[:20]},
        "exact": exact_statistics(hmm, L),
    }


def exact_statistics(hmm: HMM, L: int) -> dict:
    """The HMM's stationary output statistics, computed from its matrices."""
    return {"frequencies": hmm.output_frequencies(), "transition": hmm.output_transition_matrix(),
            "change_probability": hmm.change_probability(), "expected_changes": hmm.expected_changes(L)}


def model_metrics(model_path, name: str, spec: dict, mc: dict, hidden, input_, seed, log=print) -> tuple[dict, int]:
    """The metrics record of one trained model (results/metrics/models/...json, without provenance)
    and the seed of its evaluation. ``spec``: the HMM's config entry; ``mc``: config ``metrics``;
    ``hidden``, ``input_``, ``seed``: the model's ids as the workflow's wildcards give them."""
    hmm = build_hmm(name, spec)
    L = spec.get("eval_seq_len", spec["seq_len"])
    n = mc["n_seq"]
    eval_seed = derive_seed("metrics", name, hidden, input_, seed, mc["seed"])
    weights = load_weights(model_path, mc["weights"])
    ev = evaluate_weights(weights, hmm, L, n, eval_seed,
                          derive_seed("metrics-null", name, hidden, input_, seed, mc["seed"]),
                          uniform_first=mc["uniform_first_symbol"], eps=mc["sinkhorn_eps"], max_iter=mc["max_iter"],
                          null_repeats=mc.get("null_repeats", 200))
    blob = torch.load(model_path, map_location="cpu", weights_only=False)
    plateau = blob.get("plateau")
    if plateau is None:  # models trained before the verdict was recorded: fresh HMM sequences stand in
        tp = blob["provenance"]["params"]
        plateau = training_verdict(hmm, blob["val_loss"], seq_len=spec["seq_len"], batch_size=tp["batch_size"],
                                   blur=tp["blur"], seed=eval_seed)
    if not plateau["left_plateau"]:
        log(plateau["message"])
    if blob["val_loss"]:
        warmup = int(((blob.get("provenance") or {}).get("params") or {}).get("warmup_epochs", 0) or 0)
        validation = final_validation(blob["val_loss"], plateau, warmup_epochs=warmup)
    else:  # a model trained elsewhere: the one validation loss measured at import (rnnhmm.training.external)
        validation = final_validation([plateau["final_val"]], plateau, last=1)
        validation["message"] = "one validation loss of the imported weights (no training history)"
    out = {
        "model": model_id(name, hidden, input_, seed), "hmm": name, "hidden": int(hidden),
        "input": int(input_), "seed": int(seed), "weights": mc["weights"], **ev,
        "plateau": {k: plateau.get(k) for k in ("progress", "left_plateau", "final_val", "iid_mean", "iid_sd",
                                                 "hmm_mean", "hmm_sd", "repeats", "message")},
        # the final-length validation loss beside the HMM samples' own (rnnhmm.claims.learned)
        "validation": validation,
        # a model trained elsewhere has no loss history (rnnhmm.training.external): None
        "final_train_loss": (blob["train_loss"] or [None])[-1], "final_val_loss": (blob["val_loss"] or [None])[-1],
        "best_val_loss": blob["best_val"], "best_epoch": blob["best_epoch"], "epochs": len(blob["val_loss"]),
    }
    log(f"distance {ev['distance_mean']:.4f} +- {ev['distance_sd']:.4f} (reverse {ev['reverse_distance_mean']:.4f}); "
        f"volatility HMM {ev['hmm_stats']['volatility_mean']:.3f} RNN {ev['rnn_stats']['volatility_mean']:.3f}")
    return out, eval_seed


def model_likelihood(model_path, name: str, spec: dict, lc: dict, uniform_first: bool, hidden, input_, seed,
                     log=print) -> tuple[dict, int]:
    """The KL-rate record of one model (results/metrics/likelihood/...json, docs/likelihood.md):
    (1/T) E[log p_HMM(y) - log p_RNN(y)] in nats per step on ``lc["n_seq"]`` fresh HMM sequences of
    the evaluation length, by the particle filter of :mod:`rnnhmm.evaluation.likelihood` with the
    particle count doubled from ``p0`` up to ``p_max`` until the estimate moves less than its
    yardstick (``paired``: the move's own SE; else the estimate's SE). ``lc``: config ``likelihood``.
    A model on whose sequences the filter dies (every particle past the divergence bound) gets no
    KL rate (None) and ``dead_sequences`` / ``diverged`` say how many."""
    from .likelihood import converged_kl_rate

    hmm = build_hmm(name, spec)
    L = spec.get("eval_seq_len", spec["seq_len"])
    kl_seed = derive_seed("likelihood", name, hidden, input_, seed, lc["seed"])
    y = hmm.sample(int(lc["n_seq"]), L, seed=kl_seed)
    weights = load_weights(model_path, lc.get("weights", "last"))
    r = converged_kl_rate(weights, hmm, y, p0=int(lc["p0"]), p_max=int(lc["p_max"]), seed=kl_seed,
                          paired=bool(lc["paired"]), uniform_first=uniform_first)
    last = r["last"]
    for P, e, se, sec, mse in r["trace"]:
        log(f"P = {P}: KL rate {e:.4f} +- {se:.4f} nats/step (move SE {mse:.4f}; {sec:.1f} s)")
    out = {
        "model": model_id(name, hidden, input_, seed), "hmm": name, "seq_len": int(L), "n_seq": int(lc["n_seq"]),
        "kl_rate": r["kl_rate"], "kl_se": r["kl_se"], "particles": r["particles"], "converged": r["converged"],
        "paired": r["paired"], "trace": [list(t) for t in r["trace"]],
        "entropy_rate": last["entropy_rate"], "entropy_se": last["entropy_se"],
        "rare_symbol": last["rare_symbol"], "rare_share": last["rare_share"],
        "rare_step_fraction": last["rare_step_fraction"], "kl_per_step_mean": last["kl_per_step_mean"],
        # the HMM against itself, same filter, P and sequences (None where its filter died)
        "kl_self": last["kl_self"] if math.isfinite(last["kl_self"]) else None, "kl_self_se": last["kl_self_se"],
        "kl_excess_se": last["kl_excess_se"],
        "self_dead_sequences": last["self_dead_sequences"],
        "n_diverged": last["n_diverged"], "dead_sequences": last["dead_sequences"],
        "ess_mean": last["ess_mean"], "seconds": float(sum(t[3] for t in r["trace"])),
        "diverged": None,
    }
    if last["dead_sequences"]:  # divergence is a result, never a number: no KL rate, the count instead
        out["diverged"] = (f"{last['dead_sequences']} of {out['n_seq']} sequences: every particle of the filter "
                           f"passed the divergence bound (the model's state blows up under its input noise)")
        out.update(kl_rate=None, kl_se=None, converged=False)
        log(f"no KL rate: {out['diverged']}")
        return out, kl_seed
    log(f"KL rate {out['kl_rate']:.4f} +- {out['kl_se']:.4f} nats/step at P = {out['particles']} "
        f"({'converged' if out['converged'] else 'NOT converged at p_max'}); HMM entropy rate "
        f"{out['entropy_rate']:.4f}; rare-step share {out['rare_share']}")
    return out, kl_seed


def calibrate_performance_claims(floor: dict, trials: int = 12, log=print) -> dict:
    """Calibration of the performance claims (docs/claims.md): score independent samples of the
    2-state chain as if they were a trained RNN (perfect emulators) against the floor record
    ``floor`` (results/metrics/floor/lin2.json) and count how often each performance claim passes.
    Returns {claim: [outcome per trial]}."""
    from rnnhmm.claims.performance import performance_claims
    from rnnhmm.hmm import linear_chain

    h, n, L = linear_chain(2), floor["n_seq"], floor["seq_len"]
    floors = {"lin2": {"floor_mean": floor["floor_mean"], "floor_sd": floor["floor_sd_across_repeats"],
                       "floor_within_sd": floor["floor_within_sd"], "n_seq": n}}
    outcomes: dict = {}
    for k in range(trials):
        ref, emu = h.sample(n, L, seed=1000 + k), h.sample(n, L, seed=2000 + k)
        a, b = torch.from_numpy(one_hot(ref, 3)), torch.from_numpy(one_hot(emu, 3))
        f, r = matched_distances(a, b).numpy(), matched_distances(b, a).numpy()
        m = {"model": model_id("lin2", 50, 10, k), "hmm": "lin2", "input": 10, "n_seq": n, "seq_len": L,
             "distance_mean": float(f.mean()), "distance_sd": float(f.std()), "reverse_distance_mean": float(r.mean()),
             "rnn_stats": emission_statistics(emu, 3),
             "performance": performance_record(emu, h, repeats=200, seed=3000 + k)}
        for row in performance_claims([m], floors):
            outcomes.setdefault(row["claim"], []).append(row["outcome"])
        log(f"{k} {({c: v[-1] for c, v in outcomes.items()})}")
    return outcomes
