"""Emission statistics and matched distance of one model against fresh HMM samples (spec D)."""
import time

import numpy as np
import torch

from rnnhmm.config import derive_seed
from rnnhmm.convergence import training_verdict
from rnnhmm.hmm import build_hmm, one_hot
from rnnhmm.io import job_log, provenance, write_json
from rnnhmm.metrics import emission_statistics, matched_distances, performance_record
from rnnhmm.model import generate_outputs, load_weights

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    w = sm.wildcards
    name, spec, mc = w.hmm, dict(sm.params.spec), dict(sm.params.metrics)
    hmm = build_hmm(name, spec)
    K = hmm.n_outputs
    L = spec.get("eval_seq_len", spec["seq_len"])
    n = mc["n_seq"]
    seed = derive_seed("metrics", name, w.hidden, w.input, w.seed, mc["seed"])
    weights = load_weights(sm.input.model, mc["weights"])
    gen = torch.Generator().manual_seed(seed)
    rnn_obs = generate_outputs(weights, n, L, uniform_first=mc["uniform_first_symbol"], generator=gen).numpy()
    hmm_obs = hmm.sample(n, L, seed=seed)
    oh_h, oh_r = torch.from_numpy(one_hot(hmm_obs, K)), torch.from_numpy(one_hot(rnn_obs, K))
    d = matched_distances(oh_h, oh_r, eps=mc["sinkhorn_eps"], max_iter=mc["max_iter"]).numpy()
    # reverse direction: each HMM sample to its best RNN sample (grows when outputs lack diversity)
    d_rev = matched_distances(oh_r, oh_h, eps=mc["sinkhorn_eps"], max_iter=mc["max_iter"]).numpy()
    # performance-claim statistics with their spread over HMM samples of the same size (claims.py)
    perf = performance_record(rnn_obs, hmm, repeats=mc.get("null_repeats", 200),
                              seed=derive_seed("metrics-null", name, w.hidden, w.input, w.seed, mc["seed"]))
    hs, rs = emission_statistics(hmm_obs, K), emission_statistics(rnn_obs, K)
    sq = (np.asarray(hs["transition_matrix"]) - np.asarray(rs["transition_matrix"])) ** 2
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
        "input": int(w.input), "seed": int(w.seed), "seq_len": L, "n_seq": n, "weights": mc["weights"],
        "distance_mean": float(d.mean()), "distance_sd": float(d.std()),
        "reverse_distance_mean": float(d_rev.mean()), "reverse_distance_sd": float(d_rev.std()),
        "performance": perf,
        "plateau": {k: plateau[k] for k in ("progress", "left_plateau", "final_val", "iid_mean", "hmm_mean", "message")},
        "hmm_stats": hs, "rnn_stats": rs, "transition_sq_diff": sq,
        "examples": {"hmm": hmm_obs[:20], "rnn": rnn_obs[:20]},
        "final_train_loss": blob["train_loss"][-1], "final_val_loss": blob["val_loss"][-1],
        "best_val_loss": blob["best_val"], "best_epoch": blob["best_epoch"], "epochs": len(blob["val_loss"]),
        "exact": {"frequencies": hmm.output_frequencies(), "transition": hmm.output_transition_matrix(),
                  "change_probability": hmm.change_probability(), "expected_changes": hmm.expected_changes(L)},
        "provenance": provenance(mc, seed, t0),
    }
    write_json(out, sm.output[0])
    log(f"distance {d.mean():.4f} +- {d.std():.4f} (reverse {d_rev.mean():.4f}); volatility HMM {hs['volatility_mean']:.3f} "
        f"RNN {rs['volatility_mean']:.3f}")
