"""Output-pair subspaces of one model (docs/dynamics.md E.5): global PCA, per-pair PCA, the
longest runs inside a pair, KDE data of the pair's states at each noise standard deviation and the
subspace residency (docs/dynamics.md E.6). :func:`run` is the whole analysis of one model.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA

from rnnhmm.config import derive_seed
from rnnhmm.model import Weights
from rnnhmm.threads import threaded as _threaded

from .circuit import make_generator
from .local import local_dynamics_subspace
from .numerics import (
    check_weights,
    contiguous_runs,
    explained_variance_percent,
    fit_pca,
    pca_transform,
    probe_divergence,
    randn_on,
    simulate,
    to_numpy,
)


@torch.no_grad()
@_threaded
def output_pair_subspaces(weights: Weights, n_steps: int = 100_000, pairs=((0, 1), (1, 2), (0, 2)),
                          min_run: int = 200, generator=None, n_global: int = 4, n_sub: int = 3,
                          noise_std: float = 1.0) -> dict:
    """Output-pair subspaces (docs/dynamics.md E.5).

    One run of n_steps from h_0 ~ N(0, I); outputs = argmax(W_out h); global PCA(n_global).
    Per pair: mask of steps whose output is in the pair; PCA(n_sub) on the global coordinates of
    the masked steps; runs of the mask longer than min_run (longest first).
    Returns {"outputs" (T,), "global_pca", "global_coords" (T, n_global), "global_explained_percent",
    "pairs": {pair: {"mask" (T,), "pca" (None if < n_sub + 1 steps), "coords" (n_mask, n_sub),
    "explained_percent" (n_sub,), "runs" (n_runs, 2) [start, stop), "run_coords" [(len, n_sub) ...]}}}.
    """
    W_ih, W_hh, W_out = check_weights(weights)
    gen = make_generator(generator, device=W_hh.device)
    h0 = randn_on((W_hh.shape[0],), gen, W_hh)
    hidden, _ = simulate(weights, n_steps, noise_std=noise_std, h0=h0, generator=gen)
    hidden = hidden[0]
    outputs = to_numpy((hidden @ W_out.T).argmax(-1))
    gpca = fit_pca(hidden, n_global)
    G = pca_transform(gpca, hidden)
    res = {"outputs": outputs, "global_pca": gpca, "global_coords": G,
           "global_explained_percent": explained_variance_percent(gpca), "pairs": {}}
    for pair in pairs:
        mask = np.isin(outputs, pair)
        entry = {"mask": mask, "pca": None, "coords": np.zeros((0, n_sub)), "explained_percent": np.full(n_sub, np.nan),
                 "runs": contiguous_runs(mask, min_run), "run_coords": []}
        if mask.sum() > n_sub:
            sp = PCA(n_components=n_sub, svd_solver="full").fit(G[mask])
            entry.update(pca=sp, coords=sp.transform(G[mask]), explained_percent=explained_variance_percent(sp),
                         run_coords=[sp.transform(G[a:b]) for a, b in entry["runs"]])
        res["pairs"][tuple(pair)] = entry
    return res


# ----------------------------------------------------------------------------- local dynamics (E.6)

def run(weights: Weights, settings: dict, noise_stds, local: dict, seed: int, model: str = "",
        log=print) -> tuple[dict, dict]:
    """The output-pair subspaces of one model (settings: config ``dynamics.subspaces``; ``noise_stds``
    of the state-space analysis; ``local``: config ``dynamics.local``): (arrays, meta) for
    :func:`rnnhmm.io.save_analysis`. A model whose run diverges gets ``{"failed": True}``."""
    p, stds, loc, w = settings, list(noise_stds), local, weights
    gen = torch.Generator().manual_seed(seed)
    n_probe = max(p["steps"], p["residency_steps"], p["contour_steps"])
    err = probe_divergence(w, n_probe, derive_seed(seed, "probe"))
    if err:
        log(err)
        arrays = {"failed": True}
        meta = {"model": model, "analysis": "subspaces", "error": err}
    else:
        lab = lambda pair: f"{pair[0]}{pair[1]}"  # noqa: E731
        pairs = [tuple(q) for q in p["pairs"]]
        sub = output_pair_subspaces(w, n_steps=p["steps"], pairs=pairs, min_run=p["min_run"], generator=gen)
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
                h, _ = simulate(w, p["contour_steps"], noise_std=s, generator=gen)
                h = h[0]
                m = np.isin((h @ w.W_out.T).argmax(-1).numpy(), pair)
                c = e["pca"].transform(sub["global_pca"].transform(h.numpy()[m].astype(np.float64))) if m.any() \
                    else np.zeros((0, 3))
                arrays[f"p{k}_contour{j}"] = c.astype(np.float32)
        for pair in p["residency_pairs"]:
            k = lab(pair)
            try:
                r = local_dynamics_subspace(w, pair=tuple(pair), n_steps=p["residency_steps"], min_run=p["min_run"],
                                               warmup=loc["warmup"], max_states=p["residency_max_states"],
                                               generator=gen,
                                               n_rollouts=loc["rollouts"], max_steps=loc["max_steps"])
            except ValueError as err:
                meta["residency_errors"][k] = str(err)
                log(f"subspace residency {k}: {err}")
                continue
            for key in ("residency", "sign_changes", "n_unstable", "max_prob", "groups", "coords"):
                arrays[f"res{k}_{key}"] = r[key]
            arrays[f"res{k}_explained_percent"] = explained_variance_percent(r["sub_pca"])
            log(f"subspace residency {k}: {len(r['residency'])} states, "
                f"groups {np.bincount(r['groups'] + 1, minlength=4)}")
    return arrays, meta
