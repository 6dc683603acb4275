"""Noise sensitivity of one model (spec E.7): locate a cluster and a transition state, then the
spread of trajectories started there under partially fresh noise. If no pair is found within the
bounded search, the result records the failure (figure and claims then say "not found")."""
import time

import numpy as np
import torch

from rnnhmm import dynamics as dy
from rnnhmm.config import derive_seed
from rnnhmm.dynamics_claims import divergence_message, pca_project, probe_divergence, save_analysis
from rnnhmm.io import job_log, provenance
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    p = dict(sm.params.settings)
    model = sm.params.model
    seed = derive_seed("dynamics", "noise", model, sm.params.seed)
    gen = torch.Generator().manual_seed(seed)
    w = load_weights(sm.input.model, sm.params.weights)
    meta = {"model": model, "analysis": "noise"}
    areas, err = None, probe_divergence(w, p["steps"] + 20, derive_seed(seed, "probe"))
    if not err:
        try:
            areas = dy.locate_areas(w, generator=gen, T=p["steps"], thr=p["threshold"], tf=p["tf"],
                                    n_trials=p["trials"], max_attempts=p["max_attempts"])
        except RuntimeError as exc:
            err = str(exc)
        else:
            err = divergence_message(areas.hidden.norm(dim=-1).numpy(), "locate_areas run")
    if err:
        log(err)
        meta["error"] = err
        arrays = {"found": False}
    else:
        log(f"cluster t={areas.cluster_idx}, transition t={areas.transition_idx}, change t={areas.change_idx} "
            f"(attempt {areas.attempts})")
        pca = dy.fit_pca(areas.hidden, 2)
        arrays = dict(found=True, hidden_coords=pca_project(pca, areas.hidden).astype(np.float32),
                      outputs=areas.outputs.numpy().astype(np.int8), explained_percent=dy.explained_variance_percent(pca),
                      cluster_idx=areas.cluster_idx, transition_idx=areas.transition_idx, change_idx=areas.change_idx,
                      prev_change_idx=areas.prev_change_idx, attempts=areas.attempts, scan_idx=areas.scan_idx,
                      firing_t=areas.firing_t, firing_rate=areas.firing_rate, gammas=np.asarray(p["gammas"], float))
        for name, idx in (("cluster", areas.cluster_idx), ("transition", areas.transition_idx)):
            ns = dy.noise_sensitivity(w, areas.hidden, areas.noise, idx, gammas=p["gammas"], n_traj=p["trajectories"],
                                      T=p["horizon"], generator=gen)
            arrays[f"{name}_trace"] = ns["trace"]
            # bootstrap over trajectories of the last-step trace (the claim's sampling spread)
            last = np.asarray(ns["trajectories"])[:, :, -1]                  # (G, n_traj, H)
            brng = np.random.default_rng(derive_seed(seed, "bootstrap", name))
            idx = brng.integers(0, last.shape[1], size=(200, last.shape[1]))
            boots = np.stack([last[:, i].var(axis=1, ddof=1).sum(-1) for i in idx])  # (200, G)
            arrays[f"{name}_trace_boot_sd"] = boots.std(axis=0, ddof=1)
            arrays[f"{name}_mean_dist"] = ns["mean_dist"]
            arrays[f"{name}_traj"] = pca_project(pca, ns["trajectories"]).astype(np.float32)  # all; figure data picks
            log(f"{name}: trace at t={p['horizon']} per gamma {dict(zip(p['gammas'], ns['trace'][:, -1].round(3)))}")
    meta["provenance"] = provenance(p, seed, t0)
    save_analysis(sm.output[0], arrays, meta)
    log(f"wrote {sm.output[0]} in {time.perf_counter() - t0:.1f} s")
