"""Local dynamics of one model (spec E.6): residency time, logit-gradient sign changes and unstable
eigenvalues of every state of one noisy run; groups transition / kick-zone / cluster."""
import time

import numpy as np
import torch

from rnnhmm import dynamics as dy
from rnnhmm.config import derive_seed
from rnnhmm.dynamics_claims import GROUP_NAMES, group_means, probe_divergence, save_analysis
from rnnhmm.io import job_log, provenance
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    p = dict(sm.params.settings)
    model = sm.params.model
    seed = derive_seed("dynamics", "local", model, sm.params.seed)
    w = load_weights(sm.input.model, sm.params.weights)
    meta = {"model": model, "analysis": "local", "steps": sm.params.steps}
    # residency_analysis starts with this very run (same seed): check it stays bounded first
    err = probe_divergence(w, sm.params.steps + p["warmup"], seed)
    if err:
        log(err)
        arrays, meta["error"] = {"failed": True}, err
    else:
        r = dy.residency_analysis(w, T=sm.params.steps, warmup=p["warmup"], n_components=2, generator=seed,
                                  n_rollouts=p["rollouts"], max_steps=p["max_steps"])
        arrays = {k: r[k] for k in ("residency", "sign_changes", "fire_rate", "n_unstable", "max_prob", "cls", "groups")}
        arrays.update(coords=r["coords"], explained_percent=dy.explained_variance_percent(r["pca"]))
        counts = {n: int(np.sum(r["groups"] == c)) for c, n in GROUP_NAMES.items()}
        log(f"{sm.params.steps} states; groups {counts}; max RT {r['residency'].max():.1f}")
        log(f"mean unstable {group_means(r['groups'], r['n_unstable'])}")
        log(f"mean sign changes {group_means(r['groups'], r['sign_changes'])}")
    meta["provenance"] = provenance(p, seed, t0)
    save_analysis(sm.output[0], arrays, meta)
    log(f"wrote {sm.output[0]} in {time.perf_counter() - t0:.1f} s")
