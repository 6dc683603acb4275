"""Emission statistics and matched distance of one model against fresh HMM samples (spec D)."""
import time

import torch

from rnnhmm.config import derive_seed
from rnnhmm.convergence import training_verdict
from rnnhmm.evaluation import evaluate_weights
from rnnhmm.hmm import build_hmm
from rnnhmm.io import job_log, provenance, write_json
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    w = sm.wildcards
    name, spec, mc = w.hmm, dict(sm.params.spec), dict(sm.params.metrics)
    hmm = build_hmm(name, spec)
    L = spec.get("eval_seq_len", spec["seq_len"])
    n = mc["n_seq"]
    seed = derive_seed("metrics", name, w.hidden, w.input, w.seed, mc["seed"])
    weights = load_weights(sm.input.model, mc["weights"])
    ev = evaluate_weights(weights, hmm, L, n, seed,
                          derive_seed("metrics-null", name, w.hidden, w.input, w.seed, mc["seed"]),
                          uniform_first=mc["uniform_first_symbol"], eps=mc["sinkhorn_eps"], max_iter=mc["max_iter"],
                          null_repeats=mc.get("null_repeats", 200))
    blob = torch.load(sm.input.model, map_location="cpu", weights_only=False)
    plateau = blob.get("plateau")
    if plateau is None:  # models trained before the verdict was recorded: fresh HMM sequences stand in
        tp = blob["provenance"]["params"]
        plateau = training_verdict(hmm, blob["val_loss"], seq_len=spec["seq_len"], batch_size=tp["batch_size"],
                                   blur=tp["blur"], seed=seed)
    if not plateau["left_plateau"]:
        log(plateau["message"])
    out = {
        "model": f"{name}/h{w.hidden}_d{w.input}/s{w.seed}", "hmm": name, "hidden": int(w.hidden),
        "input": int(w.input), "seed": int(w.seed), "weights": mc["weights"], **ev,
        "plateau": {k: plateau[k] for k in ("progress", "left_plateau", "final_val", "iid_mean", "hmm_mean", "message")},
        "final_train_loss": blob["train_loss"][-1], "final_val_loss": blob["val_loss"][-1],
        "best_val_loss": blob["best_val"], "best_epoch": blob["best_epoch"], "epochs": len(blob["val_loss"]),
        "provenance": provenance(mc, seed, t0),
    }
    write_json(out, sm.output[0])
    log(f"distance {ev['distance_mean']:.4f} +- {ev['distance_sd']:.4f} (reverse {ev['reverse_distance_mean']:.4f}); "
        f"volatility HMM {ev['hmm_stats']['volatility_mean']:.3f} RNN {ev['rnn_stats']['volatility_mean']:.3f}")
