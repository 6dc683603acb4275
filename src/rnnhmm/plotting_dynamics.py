"""Figures 2, 3, 4, 8 and S2 (dynamics): figure-data builders and plotters.

``fig*_data(...)`` turn loaded analysis results (``rnnhmm.dynamics_claims.load_analysis`` dicts)
into small JSON-able dicts (subsampled, rounded); ``plot_fig*(data)`` draw them. ``PLOTTERS`` is
looked up by ``rnnhmm.plotting.get_plotter``. Noise levels are standard deviations ("noise std σ").
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from rnnhmm.config import ModelSpec  # noqa: E402
from rnnhmm.dynamics_claims import GROUP_NAMES, group_means, radius_fit, subspace_residency  # noqa: E402
from rnnhmm.plotting import OUTPUT_COLORS  # noqa: E402

__all__ = ["PLOTTERS", "fig2_data", "fig3_data", "fig4_data", "fig8_data", "figS2_data",
           "plot_fig2", "plot_fig3", "plot_fig4", "plot_fig8", "plot_figS2", "state_space_entry"]

NOISE_CMAP = "inferno"
RT_COLORS = [plt.cm.inferno(0.9), plt.cm.inferno(0.7), (0.6, 0.0, 0.0), "0.6"]  # RT bins of spec E.6
UNSTABLE_COLORS = ["0.75", "tab:orange", "tab:red"]  # 0, 1, >= 2 unstable eigenvalues
KDE_GRIDSIZE = 70
KDE_MAX_POINTS = 600
GROUP_COLORS = {"transition": RT_COLORS[0], "kick": RT_COLORS[2], "cluster": "0.45"}


# ============================================================================= figure data

def _r(x, nd: int = 4):
    """Rounded nested lists (JSON); NaN stays NaN."""
    return np.round(np.asarray(x, dtype=float), nd).tolist()


def _even(n: int, k: int) -> np.ndarray:
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
    keep = _even(proj.shape[1], n_points or proj.shape[1])
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
        "with_input": {"coords": _r(np.asarray(a["in_coords"])[..., :2]), "outputs": np.asarray(a["in_outputs"]).tolist()},
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
        "coords": _r(coords[idx], 3), "residency": _r(rt[idx], 2), "n_unstable": np.asarray(a["n_unstable"])[idx].tolist(),
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
    keep = _even(len(hc), n_background)
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
            "rnn_per_seed": _r(d), "floor_mean": float(floor["floor_mean"]), "floor_sd": float(floor["floor_within_sd"]),
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
                runs.append({"coords": _r(c[:, [0, 2]], 3), "outputs": np.asarray(sub[f"p{lab}_run{i}_outputs"]).tolist()})
                i += 1
            contours = []
            for j in range(len(stds)):
                c = np.asarray(sub.get(f"p{lab}_contour{j}", np.zeros((0, 3)))).reshape(-1, 3)
                contours.append(_r(c[_even(len(c), n_points)][:, [0, 2]], 3))
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

def _pc_labels(ax, explained, pcs=(1, 2)):
    if explained is None:
        ax.set_xlabel(f"PC{pcs[0]}", fontsize=7)
        ax.set_ylabel(f"PC{pcs[1]}", fontsize=7)
        return
    ax.set_xlabel(f"PC{pcs[0]} ({explained[0]:.1f}%)", fontsize=7)
    ax.set_ylabel(f"PC{pcs[1]} ({explained[1]:.1f}%)", fontsize=7)


def _style(ax, title=None):
    ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title, fontsize=8)


def _colored_path(ax, coords, outputs, lw=0.8, alpha=0.9, arrows=False):
    """A 2-D path with each segment coloured by the output of its end state."""
    c = np.asarray(coords, float)
    o = np.asarray(outputs, int)
    if len(c) < 2:
        return
    seg = np.stack([c[:-1], c[1:]], axis=1)
    cols = [OUTPUT_COLORS[k % len(OUTPUT_COLORS)] for k in o[1:]]
    ax.add_collection(LineCollection(seg, colors=cols, linewidths=lw, alpha=alpha))
    if arrows:  # direction of motion, one arrow head every few steps (one quiver artist)
        i = np.arange(0, len(c) - 1, max(1, len(c) // 25))
        d = c[i + 1] - c[i]
        ax.quiver(c[i, 0], c[i, 1], d[:, 0], d[:, 1], color=[cols[k] for k in i], angles="xy",
                  scale_units="xy", scale=1, width=0.006, headwidth=4, headlength=5, alpha=alpha, zorder=3)
    ax.update_datalim(c)
    ax.autoscale_view()


def _output_legend(ax, n=3, loc="best"):
    h = [Line2D([0], [0], color=OUTPUT_COLORS[k], lw=1.5, label=f"output {k}") for k in range(n)]
    ax.legend(handles=h, fontsize=5.5, loc=loc, frameon=False, handlelength=1.2)


def _kde_contours(ax, level_points, stds, min_points: int = 10, legend=True, gridsize=KDE_GRIDSIZE,
                  max_points: int = KDE_MAX_POINTS):
    """Spec E.4: per noise std a filled KDE band between the 99% and 80% contours (levels 0.01 and 0.2,
    alpha 0.2) and a 95% contour line (level 0.05), seaborn kdeplot with bw_adjust = 3; colours
    inferno(0.9 -> 0.1). Levels with fewer than ``min_points`` points (or degenerate) are skipped."""
    import seaborn as sns

    colors = plt.get_cmap(NOISE_CMAP)(np.linspace(0.9, 0.1, len(stds)))
    handles = []
    for pts, s, col in zip(level_points, stds, colors):
        p = np.asarray(pts, float).reshape(-1, 2)
        label = f"σ = {s:g}"
        p = p[_even(len(p), max_points)]  # the KDE is O(points x grid); bw_adjust=3 is smooth anyway
        if len(p) < min_points or np.any(np.ptp(p, axis=0) <= 1e-12):
            handles.append(Line2D([0], [0], color=col, lw=1, ls=":", label=f"{label} (skipped: {len(p)} pts)"))
            continue
        try:
            sns.kdeplot(x=p[:, 0], y=p[:, 1], levels=[0.01, 0.2], fill=True, alpha=0.2, color=col, bw_adjust=3,
                        ax=ax, gridsize=gridsize, warn_singular=False)
            sns.kdeplot(x=p[:, 0], y=p[:, 1], levels=[0.05], color=col, bw_adjust=3, ax=ax, linewidths=1,
                        gridsize=gridsize, warn_singular=False)
            handles.append(Line2D([0], [0], color=col, lw=1.2, label=label))
        except (ValueError, np.linalg.LinAlgError):
            handles.append(Line2D([0], [0], color=col, lw=1, ls=":", label=f"{label} (singular)"))
    if legend:
        ax.legend(handles=handles, fontsize=5.5, title="noise std σ\n(95% contour)", title_fontsize=5.5,
                  loc="best", frameon=False, handlelength=1.2)


def _no_input_panel(ax, e, explained=True):
    n = e["noin"]
    for c, o in zip(n["coords"], n["outputs"]):
        _colored_path(ax, c, o, lw=0.6, alpha=0.6)
        ax.plot(*np.asarray(c)[0], "o", ms=1.5, color="0.5", alpha=0.6)
    fm = n["final_mean"]
    ax.plot(fm[0], fm[1], "x", color="k", ms=8, mew=2, label="fixed point (mean final state)")
    fp = e["fixed_points"]
    for c, st in zip(fp["coords"], fp["stable"]):
        if not st:
            ax.plot(c[0], c[1], "o", mfc="none", mec="magenta", ms=6, label="unstable fixed point")
    n_st = sum(fp["stable"])
    ax.text(0.02, 0.02, f"{n_st} stable fixed point{'s' if n_st != 1 else ''}; "
            f"{n['converged_frac']:.0%} converged", transform=ax.transAxes, fontsize=5.5, va="bottom")
    _pc_labels(ax, e["explained"] if explained else None)


def _with_input_panel(ax, e, slow=True, annotate=True):
    wi = e["with_input"]
    for c, o in zip(wi["coords"], wi["outputs"]):
        _colored_path(ax, c, o, lw=0.8, arrows=True)
    if slow and e["slow"]["coords"]:
        s = np.asarray(e["slow"]["coords"])
        ax.scatter(s[:, 0], s[:, 1], s=4, c="k", marker=".", alpha=0.5, label="slow points", zorder=3)
    fm = e["noin"]["final_mean"]
    ax.plot(fm[0], fm[1], "x", color="k", ms=6, mew=1.5)
    sw = e["switch"]
    if not annotate:
        _pc_labels(ax, e["explained"])
        return
    txt = f"switch rate: argmax {sw['argmax']:.3f}, sampled {sw['sampled']:.3f}"
    if sw["hmm"] is not None:
        txt += f", HMM {sw['hmm']:.3f}"
    ax.text(0.02, 0.02, txt, transform=ax.transAxes, fontsize=5.2, va="bottom")
    _pc_labels(ax, e["explained"])


def _contour_panel(ax, e, legend=True, min_points=10):
    sp = e["spread"]
    _kde_contours(ax, sp["proj"], sp["stds"], min_points=min_points, legend=legend)
    _pc_labels(ax, e["explained"])


def _radius_panel(ax, e):
    sp = e["spread"]
    s, r, fit = np.asarray(sp["stds"]), np.asarray(sp["radius"]), sp["fit"]
    ax.plot(s, r, "o", color="k", ms=4, label="mean distance to centroid")
    xs = np.linspace(0, s.max(), 50)
    ax.plot(xs, fit["slope"] * xs + fit["intercept"], "-", color="tab:red", lw=1,
            label=f"fit {fit['slope']:.3g} σ + {fit['intercept']:.2g}  (R² {fit['r2']:.3f})")
    ax.set_xlabel("noise std σ", fontsize=7)
    ax.set_ylabel("orbit radius (PC1-PC2)", fontsize=7)
    ax.legend(fontsize=5.5, frameon=False)
    ax.set_xlim(0, None)
    ax.set_ylim(0, None)


def _wrap(text: str, width: int = 60) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width))


def _message(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=6, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


# ============================================================================= figures

def plot_fig2(data: dict):
    """Global dynamics per model (columns): input-free trajectories and the fixed point (×), noisy
    trajectories on the orbit coloured by output, KDE contours vs noise std, orbit radius vs std."""
    ms = data["models"]
    n = max(1, len(ms))
    fig, axes = plt.subplots(4, n, figsize=(3.4 * n, 12), squeeze=False)
    for j, e in enumerate(ms):
        if e.get("failed"):
            _message(axes[0, j], f"{e['title']}\n{_wrap(e['message'], 45)}")
            for i in range(1, 4):
                axes[i, j].axis("off")
            continue
        _no_input_panel(axes[0, j], e)
        _style(axes[0, j], f"{e['title']}\nno input")
        _with_input_panel(axes[1, j], e)
        _style(axes[1, j], "with input (σ = 1)")
        _contour_panel(axes[2, j], e, legend=True)
        _style(axes[2, j], "orbit vs noise std σ")
        _radius_panel(axes[3, j], e)
        _style(axes[3, j], "orbit radius vs σ")
    ok = [j for j, e in enumerate(ms) if not e.get("failed")]
    if ok:
        axes[0, ok[0]].legend(fontsize=5.5, frameon=False, loc="best")
        _output_legend(axes[1, ok[0]])
    fig.suptitle("Figure 2: global dynamics — single fixed point without input, noise-sustained orbits",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _rt_cmap(max_rt):
    bounds = [1, 2, 4, 9, max(max_rt, 9.0) + 1e-9]
    return ListedColormap(RT_COLORS), BoundaryNorm(bounds, 4)


def _local_row(axes, e, pcs=(1, 2)):
    """Spec E.6 1x4 panel: RT map, sign-change histogram coloured by RT, unstable count per group,
    PC map of the unstable count."""
    c = np.asarray(e["coords"], float).reshape(-1, 2)
    rt = np.asarray(e["residency"], float)
    cmap, norm = _rt_cmap(e["max_rt"])
    ax = axes[0]
    sc = ax.scatter(c[:, 0], c[:, 1], c=rt, cmap=cmap, norm=norm, s=2, linewidths=0, rasterized=True)
    cb = plt.colorbar(sc, ax=ax, fraction=0.046, pad=0.02)
    cb.set_label("residency time (steps)", fontsize=6)
    cb.ax.tick_params(labelsize=5)
    _pc_labels(ax, e["explained"], pcs)
    _style(ax, f"{e['title']}\nresidency time ({e['n_states']} states)")
    ax = axes[1]
    h = e["hist"]
    edges = np.asarray(h["edges"])
    cols = [cmap(norm(v)) if np.isfinite(v) else "white" for v in np.asarray(h["mean_rt"], float)]
    ax.bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", color=cols, edgecolor="k", linewidth=0.3)
    ax.set_xlabel("mean logit-gradient sign changes", fontsize=7)
    ax.set_ylabel("states", fontsize=7)
    _style(ax, "sign changes (colour: mean RT of bin)")
    ax = axes[2]
    ub = e["unstable_by_group"]
    names = list(GROUP_NAMES.values())
    vals = [ub[k] for k in names]
    ax.bar(range(3), np.nan_to_num(vals), color=[GROUP_COLORS[k] for k in names], edgecolor="k", linewidth=0.4)
    for i, k in enumerate(names):
        ax.text(i, np.nan_to_num(vals[i]), f"n={ub['n_' + k]}", ha="center", va="bottom", fontsize=5.5)
    ax.set_xticks(range(3), ["transition\nRT<2", "kick\n2-8", "cluster\nRT>8"], fontsize=6)
    ax.set_ylabel("mean # unstable eigenvalues", fontsize=7)
    _style(ax, "unstable eigenvalues per group")
    ax = axes[3]
    u = np.minimum(np.asarray(e["n_unstable"]), 2)
    sc = ax.scatter(c[:, 0], c[:, 1], c=u, cmap=ListedColormap(UNSTABLE_COLORS), norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3),
                    s=2, linewidths=0, rasterized=True)
    cb = plt.colorbar(sc, ax=ax, ticks=[0, 1, 2], fraction=0.046, pad=0.02)
    cb.ax.set_yticklabels(["0", "1", "≥2"], fontsize=5)
    cb.set_label("# unstable eigenvalues", fontsize=6)
    _pc_labels(ax, e["explained"], pcs)
    _style(ax, "unstable eigenvalues along the orbit")


def plot_fig3(data: dict):
    """Local dynamics, one row per model (spec E.6)."""
    ms = data["models"]
    fig, axes = plt.subplots(max(1, len(ms)), 4, figsize=(15, 3.2 * max(1, len(ms))), squeeze=False)
    for i, e in enumerate(ms):
        if e.get("failed"):
            _message(axes[i, 0], f"{e['title']}\nnot analysed: {_wrap(e['message'])}")
            for ax in axes[i, 1:]:
                ax.axis("off")
            continue
        _local_row(axes[i], e)
    fig.suptitle("Figure 3: local dynamics — transitions (RT<2), kick-zones (2-8), clusters (RT>8)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_fig4(data: dict):
    """Noise sensitivity (spec E.7): per model, trajectories from the cluster and the transition start
    for each gamma, and the spread (trace of covariance, mean distance) against time."""
    ms = data["models"]
    n_g = max([len(e.get("gammas", [])) for e in ms] + [3])
    ncol = 2 * n_g + 2
    fig, axes = plt.subplots(max(1, len(ms)), ncol, figsize=(2.3 * ncol, 2.6 * max(1, len(ms))), squeeze=False)
    for i, e in enumerate(ms):
        row = axes[i]
        if not e["found"]:
            for ax in row:
                ax.axis("off")
            row[0].text(0, 0.5, f"{e['title']}: cluster/transition pair not found\n{_wrap(e['message'], 120)}",
                        transform=row[0].transAxes, fontsize=8, va="center")
            continue
        bg = np.asarray(e["background"])
        bgc = np.where(np.asarray(e["background_outputs"]) == np.asarray(e["background_outputs"]).max(), "darkgrey", "dimgrey")
        for k, name in enumerate(("cluster", "transition")):
            d = e[name]
            for gi, g in enumerate(e["gammas"]):
                ax = row[k * n_g + gi]
                ax.scatter(bg[:, 0], bg[:, 1], s=1, c=bgc, alpha=0.3, linewidths=0, rasterized=True)
                for tr in d["traj"][gi]:
                    t = np.asarray(tr)
                    ax.plot(t[:, 0], t[:, 1], color="darkblue", lw=0.6, alpha=0.6)
                ax.plot(*d["start"], "*", color="gold", mec="k", ms=9, zorder=5)
                _pc_labels(ax, e["explained"])
                _style(ax, (f"{e['title']}\n" if k == 0 and gi == 0 else "") + f"{name} start (t={d['idx']}), γ={g:g}")
        t = np.arange(len(e["cluster"]["trace"][0]))
        for j, (key, lab) in enumerate((("trace", "trace of covariance"), ("mean_dist", "mean distance to mean"))):
            ax = row[2 * n_g + j]
            for gi, g in enumerate(e["gammas"]):
                if g == 0:
                    continue
                ls = "-" if g >= 1 else "--"
                ax.plot(t, e["cluster"][key][gi], ls, color="tab:red", label=f"cluster, γ={g:g}")
                ax.plot(t, e["transition"][key][gi], ls, color="tab:blue", label=f"transition, γ={g:g}")
            ax.set_xlabel("t (steps)", fontsize=7)
            ax.set_ylabel(lab, fontsize=7)
            ax.legend(fontsize=5.5, frameon=False)
            _style(ax, lab)
    fig.suptitle("Figure 4: noise sensitivity — trajectories from cluster vs transition states under "
                 "partially fresh noise (γ = fraction of fresh noise)", fontsize=10)
    fig.tight_layout()
    return fig


def _performance_panels(ax_d, ax_t, perf):
    if perf is None:
        _message(ax_d, "no performance metrics")
        ax_t.axis("off")
        return
    ax_d.bar([0, 1], [perf["floor_mean"], perf["rnn_mean"]], yerr=[perf["floor_sd"], perf["rnn_sd"]],
             color=["0.45", "tab:orange"], capsize=3, width=0.6)
    ax_d.plot(np.ones(len(perf["rnn_per_seed"])), perf["rnn_per_seed"], "k.", ms=4, label="per seed")
    ax_d.set_xticks([0, 1], ["HMM-HMM", "HMM-RNN"], fontsize=7)
    ax_d.set_ylabel("matched Euclidean distance", fontsize=7)
    ax_d.legend(fontsize=5.5, frameon=False)
    _style(ax_d, f"performance ({len(perf['seeds'])} seeds)")
    M = np.asarray(perf["sq_diff"], float)
    vmax = max(0.02, float(M.max()))
    im = ax_t.imshow(M, cmap="Reds", vmin=0, vmax=vmax)
    for (i, j), v in np.ndenumerate(M):
        ax_t.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=6, color="white" if v > 0.6 * vmax else "black")
    ax_t.set_xticks(range(M.shape[1]))
    ax_t.set_yticks(range(M.shape[0]))
    ax_t.set_xlabel("next output", fontsize=7)
    ax_t.set_ylabel("output", fontsize=7)
    plt.colorbar(im, ax=ax_t, fraction=0.046, pad=0.02).ax.tick_params(labelsize=5)
    _style(ax_t, "(T_HMM - T_RNN)², mean over seeds")


def plot_fig8(data: dict):
    """Other architectures: per model 3 rows (orbits and subspace runs; subspace contours and
    performance; subspace residency)."""
    ms = data["models"]
    ncol = 5
    nrow = 3 * max(1, len(ms))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.9 * nrow), squeeze=False)
    for i, e in enumerate(ms):
        A, B, C = axes[3 * i], axes[3 * i + 1], axes[3 * i + 2]
        ss = e["state_space"]
        if ss.get("failed"):
            _message(A[0], f"{ss['title']}\n{_wrap(ss['message'])}")
            A[1].axis("off")
        else:
            _no_input_panel(A[0], ss)
            _style(A[0], f"{ss['title']}\nno input")
            _with_input_panel(A[1], ss)
            _style(A[1], "with input (σ = 1)")
            _output_legend(A[1])
        if e.get("failed"):
            _message(A[2], f"subspaces not analysed:\n{_wrap(e['message'], 45)}")
            for ax in [*A[3:], *B[:3], *C]:
                ax.axis("off")
            _performance_panels(B[3], B[4], e["performance"])
            continue
        pairs = e["pairs"][:3]
        for k in range(3):
            ax = A[2 + k]
            if k >= len(pairs):
                ax.axis("off")
                continue
            p = pairs[k]
            if not p["runs"]:
                _message(ax, f"outputs {p['pair']}: no run longer than min_run\n({p['n_states']} states)")
                _style(ax, f"subspace {p['pair']}")
                continue
            for run in p["runs"]:
                _colored_path(ax, run["coords"], run["outputs"], lw=0.6, arrows=True)
            _pc_labels(ax, [p["explained"][0], p["explained"][2]], (1, 3))
            _style(ax, f"subspace {p['pair']}: longest run ({p['n_runs']} runs)")
        for k in range(3):
            ax = B[k]
            if k >= len(pairs):
                ax.axis("off")
                continue
            p = pairs[k]
            if p["n_states"] == 0 or not any(len(c) for c in p["contours"]):
                _message(ax, f"outputs {p['pair']}: no states")
            else:
                _kde_contours(ax, p["contours"], e["noise_stds"], legend=(k == 0))
                _pc_labels(ax, [p["explained"][0], p["explained"][2]], (1, 3))
            _style(ax, f"subspace {p['pair']} vs noise std σ")
        _performance_panels(B[3], B[4], e["performance"])
        res = e["residency"][:2]
        for k in range(2):
            sub = C[2 * k: 2 * k + 2]
            if k >= len(res):
                for ax in sub:
                    ax.axis("off")
                continue
            r = res[k]
            if r["failed"]:
                _message(sub[0], f"subspace residency {r['pair']}: not found\n{r['message'][:120]}")
                sub[1].axis("off")
                continue
            _residency_pair(sub, r)
        C[4].axis("off")
    fig.suptitle("Figure 8: fully connected and cyclic HMMs — orbits, output-pair subspaces, "
                 "subspace contours and residency, performance", fontsize=10)
    fig.tight_layout()
    return fig


def _residency_pair(axes, r):
    """Subspace residency: RT map (PC1 vs PC3) and unstable eigenvalues per group."""
    c = np.asarray(r["coords"], float).reshape(-1, 2)
    cmap, norm = _rt_cmap(r["max_rt"])
    ax = axes[0]
    sc = ax.scatter(c[:, 0], c[:, 1], c=np.asarray(r["residency"]), cmap=cmap, norm=norm, s=2, linewidths=0,
                    rasterized=True)
    cb = plt.colorbar(sc, ax=ax, fraction=0.046, pad=0.02)
    cb.set_label("residency time", fontsize=6)
    cb.ax.tick_params(labelsize=5)
    _pc_labels(ax, r["explained"], (1, 3))
    _style(ax, f"subspace residency {r['pair']} ({r['n_states']} states)")
    ax = axes[1]
    names = list(GROUP_NAMES.values())
    ub, sb = r["unstable_by_group"], r["sign_changes_by_group"]
    vals = [ub[k] for k in names]
    ax.bar(range(3), np.nan_to_num(vals), color=[GROUP_COLORS[k] for k in names], edgecolor="k", linewidth=0.4)
    for i, k in enumerate(names):
        ax.text(i, np.nan_to_num(vals[i]), f"n={ub['n_' + k]}\nsc={sb[k]:.2g}", ha="center", va="bottom", fontsize=5)
    ax.set_xticks(range(3), ["transition", "kick", "cluster"], fontsize=6)
    ax.set_ylabel("mean # unstable eigenvalues", fontsize=7)
    _style(ax, f"unstable per group ({r['pair']}; sc = sign changes)")


def plot_figS2(data: dict):
    """Trajectories and contours over all (M, hidden, input) configurations at one seed: rows
    (hmm, hidden), column groups input dimension x {no input, with input, contours}."""
    ms = data["models"]
    specs = [ModelSpec.parse(e["model"]) for e in ms]
    rows = sorted({(s.hmm, s.hidden) for s in specs})
    inputs = sorted({s.input for s in specs})
    nr, nc = max(1, len(rows)), 3 * max(1, len(inputs))
    fig, axes = plt.subplots(nr, nc, figsize=(2.4 * nc, 2.3 * nr), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    first_ok = next((e for e in ms if not e.get("failed")), None)
    for e, s in zip(ms, specs):
        i, j = rows.index((s.hmm, s.hidden)), 3 * inputs.index(s.input)
        for k in range(3):
            axes[i, j + k].axis("on")
        if e.get("failed"):
            _message(axes[i, j], f"{s.hmm} |h|={s.hidden} d={s.input}\n{_wrap(e['message'], 40)}")
            axes[i, j + 1].axis("off")
            axes[i, j + 2].axis("off")
            continue
        _no_input_panel(axes[i, j], e)
        _style(axes[i, j], f"{s.hmm} |h|={s.hidden} d={s.input}: no input")
        _with_input_panel(axes[i, j + 1], e, slow=False, annotate=False)
        _style(axes[i, j + 1], "with input (σ=1)")
        _contour_panel(axes[i, j + 2], e, legend=e is first_ok)
        _style(axes[i, j + 2], "contours vs noise std σ")
    fig.suptitle(f"Figure S2: latent trajectories and orbit contours over {len(ms)} configurations "
                 f"(seed {specs[0].seed if specs else '-'})", fontsize=11)
    fig.tight_layout()
    return fig


PLOTTERS = {"fig2": plot_fig2, "fig3": plot_fig3, "fig4": plot_fig4, "fig8": plot_fig8, "figS2": plot_figS2}
