"""Output-pair subspaces of one model (spec E.5): global PCA(4), per-pair PCA(3), the longest runs
in PC1 vs PC3, KDE data of the pair's states at each noise std, and the subspace residency (E.6)."""
import time

import numpy as np
import torch

from rnnhmm import dynamics as dy
from rnnhmm.config import derive_seed
from rnnhmm.dynamics_claims import probe_divergence, save_analysis
from rnnhmm.io import job_log, provenance
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    p, stds, loc = dict(sm.params.settings), list(sm.params.noise_stds), dict(sm.params.local)
    model = sm.params.model
    seed = derive_seed("dynamics", "subspaces", model, sm.params.seed)
    gen = torch.Generator().manual_seed(seed)
    w = load_weights(sm.input.model, sm.params.weights)
    n_probe = max(p["steps"], p["residency_steps"], p["contour_steps"])
    err = probe_divergence(w, n_probe, derive_seed(seed, "probe"))
    if err:
        log(err)
        arrays = {"failed": True}
        meta = {"model": model, "analysis": "subspaces", "error": err}
    else:
        lab = lambda pair: f"{pair[0]}{pair[1]}"  # noqa: E731
        pairs = [tuple(q) for q in p["pairs"]]
        sub = dy.output_pair_subspaces(w, n_steps=p["steps"], pairs=pairs, min_run=p["min_run"], generator=gen)
        arrays = {"global_explained_percent": sub["global_explained_percent"], "noise_stds": np.asarray(stds, float),
                  "output_counts": np.bincount(sub["outputs"], minlength=w.W_out.shape[0])}
        meta = {"model": model, "analysis": "subspaces", "pairs": [lab(q) for q in pairs],
                "residency_pairs": [lab(q) for q in p["residency_pairs"]], "residency_errors": {}}
        for pair in pairs:
            e, k = sub["pairs"][pair], lab(pair)
            arrays[f"p{k}_explained_percent"] = e["explained_percent"]
            arrays[f"p{k}_n_states"] = int(e["mask"].sum())
            arrays[f"p{k}_n_runs"] = len(e["runs"])
            for i, (a, b) in enumerate(e["runs"]):  # every run, whole: the figure data picks what it draws
                n = b - a
                arrays[f"p{k}_run{i}_coords"] = e["run_coords"][i][:n].astype(np.float32)
                arrays[f"p{k}_run{i}_outputs"] = sub["outputs"][a:a + n].astype(np.int8)
            log(f"pair {k}: {int(e['mask'].sum())} states, {len(e['runs'])} runs > {p['min_run']}, "
                f"explained {np.round(e['explained_percent'], 1)}")
            if e["pca"] is None:
                continue
            # E.5 variance_subspaces: runs from h = 0 at each noise std, states with outputs in the pair
            for j, s in enumerate(stds):
                h, _ = dy.simulate(w, p["contour_steps"], noise_std=s, generator=gen)
                h = h[0]
                m = np.isin((h @ w.W_out.T).argmax(-1).numpy(), pair)
                c = e["pca"].transform(sub["global_pca"].transform(h.numpy()[m].astype(np.float64))) if m.any() \
                    else np.zeros((0, 3))
                arrays[f"p{k}_contour{j}"] = c.astype(np.float32)
        for pair in p["residency_pairs"]:
            k = lab(pair)
            try:
                r = dy.local_dynamics_subspace(w, pair=tuple(pair), n_steps=p["residency_steps"], min_run=p["min_run"],
                                               warmup=loc["warmup"], max_states=p["residency_max_states"], generator=gen,
                                               n_rollouts=loc["rollouts"], max_steps=loc["max_steps"])
            except ValueError as err:
                meta["residency_errors"][k] = str(err)
                log(f"subspace residency {k}: {err}")
                continue
            for key in ("residency", "sign_changes", "n_unstable", "max_prob", "groups", "coords"):
                arrays[f"res{k}_{key}"] = r[key]
            arrays[f"res{k}_explained_percent"] = dy.explained_variance_percent(r["sub_pca"])
            log(f"subspace residency {k}: {len(r['residency'])} states, groups {np.bincount(r['groups'] + 1, minlength=4)}")
    meta["provenance"] = provenance({**p, "noise_stds": stds, "local": loc}, seed, t0)
    save_analysis(sm.output[0], arrays, meta)
    log(f"wrote {sm.output[0]} in {time.perf_counter() - t0:.1f} s")
