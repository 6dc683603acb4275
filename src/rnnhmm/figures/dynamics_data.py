"""Figures 2, 3, 4, 8 and S2 (dynamics): figure-data builders and plotters.

``fig*_data(...)`` turn loaded analysis results (``rnnhmm.io.load_analysis`` dicts)
into small JSON-able dicts (subsampled, rounded); ``plot_fig*(data)`` draw them. ``PLOTTERS`` is
looked up by ``rnnhmm.figures.common.get_plotter``. Noise levels are standard deviations ("noise std σ").
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np

from rnnhmm.analyses.measures import group_means, radius_fit, subspace_residency
from rnnhmm.config import ModelSpec
from rnnhmm.io import load_analysis, read_json

NOISE_CMAP = "inferno"
RT_COLORS = [plt.cm.inferno(0.9), plt.cm.inferno(0.7), (0.6, 0.0, 0.0), "0.6"]  # RT bins of docs/dynamics.md E.6
UNSTABLE_COLORS = ["0.75", "tab:orange", "tab:red"]  # 0, 1, >= 2 unstable eigenvalues
KDE_GRIDSIZE = 70
KDE_MAX_POINTS = 600
GROUP_COLORS = {"transition": RT_COLORS[0], "kick": RT_COLORS[2], "cluster": "0.45"}


# ============================================================================= figure data

def _r(x, nd: int = 4):
    """Rounded nested lists (JSON); NaN stays NaN."""
    return np.round(np.asarray(x, dtype=float), nd).tolist()


def even(n: int, k: int) -> np.ndarray:
    """k (or n) evenly spaced indices of range(n)."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).astype(int)) if n else np.zeros(0, int)


def _title(mid: str) -> str:
    s = ModelSpec.parse(mid)
    return f"{s.hmm}  |h|={s.hidden} d={s.input} s{s.seed}"


def _converged_length(coords: np.ndarray, rel_tol: float = 1e-3) -> int:
    """Steps of (n, L, 2) trajectories until every one stays within rel_tol x plot scale of its end."""
    if coords.shape[1] < 2:
        return coords.shape[1]
    scale = float(np.ptp(coords.reshape(-1, coords.shape[-1]), axis=0).max()) or 1.0
    d = np.linalg.norm(coords - coords[:, -1:], axis=-1).max(0)  # (L,)
    far = np.flatnonzero(d > rel_tol * scale)
    return int(min(coords.shape[1], (far[-1] + 2) if len(far) else 2))


def state_space_entry(mid: str, a: dict, change_probability: float | None = None, n_traj: int = 30,
                      n_points: int | None = None, n_slow: int = 200) -> dict:
    """The plotted part of one state-space analysis, in PC1-PC2 (see dyn_state_space.py)."""
    if a.get("failed"):
        return {"model": mid, "title": _title(mid), "hmm": ModelSpec.parse(mid).hmm, "failed": True,
                "message": _first_lines(a["meta"].get("error", "analysis failed"))}
    noin = np.asarray(a["noin_coords"])[:n_traj, :, :2]
    L = _converged_length(noin)
    proj = np.asarray(a["spread_proj"])
    keep = even(proj.shape[1], n_points or proj.shape[1])
    slow = np.asarray(a["slow_coords"]).reshape(-1, 3)[:n_slow, :2]
    stable = np.asarray(a["fp_stable"], bool)
    return {
        "model": mid, "title": _title(mid), "hmm": ModelSpec.parse(mid).hmm,
        "explained": _r(np.asarray(a["explained_percent"])[:3], 2),
        "noin": {"coords": _r(noin[:, :L]), "outputs": np.asarray(a["noin_outputs"])[:n_traj, :L].tolist(),
                 "final_mean": _r(np.asarray(a["noin_final_mean"])[:2]),
                 "converged_frac": float(a["noin_converged_frac"])},
        "fixed_points": {"coords": _r(np.asarray(a["fp_coords"])[:, :2]), "stable": stable.tolist(),
                         "is_origin": np.asarray(a["fp_is_origin"], bool).tolist(),
                         "n_unstable": np.asarray(a["fp_n_unstable"]).tolist(),
                         "origin_growth": float(a["fp_origin_growth"])},
        "slow": {"coords": _r(slow), "n": int(len(np.asarray(a["slow_speed"])))},
        "with_input": {"coords": _r(np.asarray(a["in_coords"])[..., :2]),
                       "outputs": np.asarray(a["in_outputs"]).tolist()},
        "spread": {"stds": _r(a["spread_stds"]), "proj": _r(proj[:, keep], 3), "radius": _r(a["spread_radius"]),
                   "fit": radius_fit(a["spread_stds"], a["spread_radius"])},
        "switch": {"argmax": float(a["switch_rate_argmax"]), "sampled": float(a["switch_rate_sampled"]),
                   "hmm": None if change_probability is None else float(change_probability)},
    }


def fig2_data(analyses: dict, change_probability: dict, n_traj: int = 30) -> dict:
    """Figure 2 (global dynamics): analyses maps model id -> state-space analysis (fig order)."""
    return {"figure": "fig2", "models": [
        state_space_entry(m, a, change_probability.get(ModelSpec.parse(m).hmm), n_traj) for m, a in analyses.items()]}


def figS2_data(analyses: dict, change_probability: dict, n_traj: int = 10, n_points: int = 400) -> dict:
    """Figure S2: every (hmm, hidden, input) configuration at one seed (smaller samples per panel)."""
    return {"figure": "figS2", "models": [
        state_space_entry(m, a, change_probability.get(ModelSpec.parse(m).hmm), n_traj, n_points, n_slow=0)
        for m, a in analyses.items()]}


def _local_entry(title: str, a: dict, coords_cols=(0, 1), explained=None, n_points: int = 6000, seed: int = 0) -> dict:
    n = len(np.asarray(a["residency"]))
    idx = np.sort(np.random.default_rng(seed).permutation(n)[:n_points]) if n > n_points else np.arange(n)
    coords = np.asarray(a["coords"])[:, list(coords_cols)]
    groups = np.asarray(a["groups"])
    rt, sc = np.asarray(a["residency"], float), np.asarray(a["sign_changes"], float)
    nbins = max(1, int(np.ceil(sc.max()))) if n else 1
    counts, edges = np.histogram(sc, bins=nbins, range=(0, max(nbins, 1)))
    which = np.clip(np.digitize(sc, edges[1:-1]), 0, nbins - 1)
    bin_rt = [float(rt[which == b].mean()) if np.any(which == b) else float("nan") for b in range(nbins)]
    return {
        "title": title, "n_states": int(n), "explained": None if explained is None else _r(explained, 2),
        "coords": _r(coords[idx], 3), "residency": _r(rt[idx], 2),
        "n_unstable": np.asarray(a["n_unstable"])[idx].tolist(),
        "max_rt": float(rt.max()) if n else 0.0,
        "hist": {"edges": _r(edges, 3), "counts": counts.tolist(), "mean_rt": _r(bin_rt, 2)},
        "unstable_by_group": group_means(groups, a["n_unstable"]),
        "sign_changes_by_group": group_means(groups, sc),
        "residency_by_group": group_means(groups, rt),
    }


def fig3_data(analyses: dict, n_points: int = 6000) -> dict:
    """Figure 3 (local dynamics): model id -> local analysis."""
    return {"figure": "fig3", "models": [
        {"model": m, "title": _title(m), "failed": True, "message": _first_lines(a["meta"].get("error", ""))}
        if a.get("failed") else
        {"model": m, **_local_entry(_title(m), a, explained=np.asarray(a["explained_percent"])[:2], n_points=n_points)}
        for m, a in analyses.items()]}


def _noise_entry(mid: str, a: dict, n_background: int = 2000) -> dict:
    out = {"model": mid, "title": _title(mid), "found": bool(a.get("found"))}
    if not out["found"]:
        out["message"] = _first_lines(a["meta"].get("error", "locate_areas failed"))
        return out
    hc = np.asarray(a["hidden_coords"])
    keep = even(len(hc), n_background)
    out.update(explained=_r(np.asarray(a["explained_percent"])[:2], 2), background=_r(hc[keep], 3),
               background_outputs=np.asarray(a["outputs"])[keep].tolist(), gammas=_r(a["gammas"]),
               attempts=int(a["attempts"]))
    for name in ("cluster", "transition"):
        idx = int(a[f"{name}_idx"])
        out[name] = {"idx": idx, "start": _r(hc[idx], 3), "traj": _r(a[f"{name}_traj"], 3),
                     "trace": _r(a[f"{name}_trace"]), "mean_dist": _r(a[f"{name}_mean_dist"])}
    return out


def _first_lines(text: str, n: int = 2) -> str:
    return " ".join(line.strip() for line in str(text).splitlines()[:n])


def fig4_data(analyses: dict) -> dict:
    """Figure 4 (noise sensitivity): model id -> noise analysis (found or not)."""
    return {"figure": "fig4", "models": [_noise_entry(m, a) for m, a in analyses.items()]}


def performance_entry(hmm: str, metrics: list[dict], floor: dict) -> dict:
    """Spec G.2 for one architecture: mean over seeds of the per-seed mean matched distance, the mean
    within-model std as error; the HMM-HMM floor; the mean squared transition-matrix difference."""
    d = [m["distance_mean"] for m in metrics]
    return {"hmm": hmm, "seeds": [m["seed"] for m in metrics],
            "rnn_mean": float(np.mean(d)), "rnn_sd": float(np.mean([m["distance_sd"] for m in metrics])),
            "rnn_per_seed": _r(d), "floor_mean": float(floor["floor_mean"]),
            "floor_sd": float(floor["floor_within_sd"]),
            "sq_diff": _r(np.mean([np.asarray(m["transition_sq_diff"], float) for m in metrics], axis=0), 5)}


def fig8_data(state_space: dict, subspaces: dict, performance: dict, n_points: int = 600) -> dict:
    """Figure 8 (other architectures): per fig8 model its orbits (state space), output-pair subspaces
    (runs and contours in PC1 vs PC3), subspace residency and performance (``performance`` maps
    model id -> performance_entry)."""
    models = []
    for mid, ss in state_space.items():
        sub = subspaces[mid]
        meta = sub["meta"]
        if sub.get("failed"):
            models.append({"model": mid, "state_space": state_space_entry(mid, ss, n_traj=30, n_points=n_points),
                           "failed": True, "message": _first_lines(meta.get("error", "")), "pairs": [],
                           "residency": [], "performance": performance.get(mid)})
            continue
        stds = np.asarray(sub["noise_stds"], float)
        pairs = []
        for lab in meta["pairs"]:
            runs, i = [], 0
            while f"p{lab}_run{i}_coords" in sub:
                c = np.asarray(sub[f"p{lab}_run{i}_coords"])
                runs.append({"coords": _r(c[:, [0, 2]], 3),
                             "outputs": np.asarray(sub[f"p{lab}_run{i}_outputs"]).tolist()})
                i += 1
            contours = []
            for j in range(len(stds)):
                c = np.asarray(sub.get(f"p{lab}_contour{j}", np.zeros((0, 3)))).reshape(-1, 3)
                contours.append(_r(c[even(len(c), n_points)][:, [0, 2]], 3))
            pairs.append({"pair": lab, "explained": _r(sub[f"p{lab}_explained_percent"], 2),
                          "n_states": int(sub[f"p{lab}_n_states"]), "n_runs": int(sub[f"p{lab}_n_runs"]),
                          "runs": runs, "contours": contours})
        residency = []
        for lab in meta.get("residency_pairs", []):
            r = subspace_residency(sub, lab)
            if r["failed"]:
                residency.append({"pair": lab, "failed": True, "message": r["meta"]["error"]})
            else:
                residency.append({"pair": lab, "failed": False, **_local_entry(
                    f"outputs {lab}", r, coords_cols=(0, 2), explained=np.asarray(r["explained_percent"])[[0, 2]],
                    n_points=3000)})
        models.append({"model": mid, "state_space": state_space_entry(mid, ss, n_traj=30, n_points=n_points),
                       "global_explained": _r(sub["global_explained_percent"], 2), "noise_stds": _r(stds),
                       "pairs": pairs, "residency": residency, "performance": performance.get(mid)})
    return {"figure": "fig8", "models": models}


# ============================================================================= drawing helpers


def display(a: dict, plot_points=None, plot_trajectories=None, runs_shown=None, run_points=None) -> dict:
    """Cut an analysis down to what the figure shows (display-only settings of the figure rules)."""
    pp = plot_points
    if pp and "spread_proj" in a:  # evenly spaced points per noise level (KDE contours)
        n = a["spread_proj"].shape[1]
        a["spread_proj"] = a["spread_proj"][:, np.unique(np.linspace(0, n - 1, min(pp, n)).astype(int))]
    pt = plot_trajectories
    for name in ("cluster", "transition"):
        if pt and f"{name}_traj" in a:
            a[f"{name}_traj"] = a[f"{name}_traj"][:, :pt]
    shown, points = runs_shown, run_points
    for key in [k for k in a if re.fullmatch(r"p\d+_run\d+_coords", k)] if shown else []:
        i, out = int(key.split("_run")[1].split("_")[0]), key.replace("_coords", "_outputs")
        if i >= shown:
            del a[key], a[out]
        else:
            a[key], a[out] = a[key][:points], a[out][:points]
    return a


def build(name: str, models: list[str], inputs, params) -> tuple[dict, dict]:
    """The data of dynamics figure ``name`` from the analysis files of ``models``: ``inputs`` and
    ``params`` are the figure rule's (attributes ``state_space``, ``local``, ``noise``, ``subspaces``,
    ``floors``, ``metrics``; ``change_probability`` and display settings). Returns (data, the
    provenance of every analysis file used)."""
    analyses = {}
    cut = {k: getattr(params, k, None) for k in ("plot_points", "plot_trajectories", "runs_shown", "run_points")}

    def by_model(paths):
        out = {m: display(load_analysis(p), **cut) for m, p in zip(models, paths)}
        analyses.update({p: a["meta"].get("provenance") for p, a in zip(paths, out.values())})
        return out

    if name == "fig2":
        data = fig2_data(by_model(inputs.state_space), params.change_probability)
    elif name == "figS2":
        data = figS2_data(by_model(inputs.state_space), params.change_probability)
    elif name == "fig3":
        data = fig3_data(by_model(inputs.local))
    elif name == "fig4":
        data = fig4_data(by_model(inputs.noise))
    elif name == "fig8":
        floors = {f["hmm"]: f for f in map(read_json, inputs.floors)}
        metrics = [read_json(p) for p in inputs.metrics]
        perf = {}
        for m in models:
            s = ModelSpec.parse(m)
            same = [x for x in metrics if (x["hmm"], x["hidden"], x["input"]) == (s.hmm, s.hidden, s.input)]
            perf[m] = performance_entry(s.hmm, same, floors[s.hmm])
        data = fig8_data(by_model(inputs.state_space), by_model(inputs.subspaces), perf)
    else:
        raise ValueError(f"no figure-data recipe for {name}")
    return data, analyses
