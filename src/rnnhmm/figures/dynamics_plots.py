"""Plotters of the dynamics figures 2, 3, 4, 8 and S2 (from their figure-data dicts, see
:mod:`rnnhmm.figures.dynamics_data`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from rnnhmm.config import ModelSpec

from .dynamics_panels import (
    colored_path,
    contour_panel,
    kde_contours,
    local_row,
    message,
    no_input_panel,
    output_legend,
    pc_labels,
    performance_panels,
    radius_panel,
    residency_pair,
    style,
    with_input_panel,
    wrap,
)


def plot_fig2(data: dict):
    """Global dynamics per model (columns): input-free trajectories and the fixed point (×), noisy
    trajectories on the orbit coloured by output, KDE contours vs noise std, orbit radius vs std."""
    ms = data["models"]
    n = max(1, len(ms))
    fig, axes = plt.subplots(4, n, figsize=(3.4 * n, 12), squeeze=False)
    for j, e in enumerate(ms):
        if e.get("failed"):
            message(axes[0, j], f"{e['title']}\n{wrap(e['message'], 45)}")
            for i in range(1, 4):
                axes[i, j].axis("off")
            continue
        no_input_panel(axes[0, j], e)
        style(axes[0, j], f"{e['title']}\nno input")
        with_input_panel(axes[1, j], e)
        style(axes[1, j], "with input (σ = 1)")
        contour_panel(axes[2, j], e, legend=True)
        style(axes[2, j], "orbit vs noise std σ")
        radius_panel(axes[3, j], e)
        style(axes[3, j], "orbit radius vs σ")
    ok = [j for j, e in enumerate(ms) if not e.get("failed")]
    if ok:
        axes[0, ok[0]].legend(fontsize=5.5, frameon=False, loc="best")
        output_legend(axes[1, ok[0]])
    fig.suptitle("Figure 2: global dynamics — single fixed point without input, noise-sustained orbits")
    fig.tight_layout()
    return fig



def plot_fig3(data: dict):
    """Local dynamics, one row per model (docs/dynamics.md E.6)."""
    ms = data["models"]
    fig, axes = plt.subplots(max(1, len(ms)), 4, figsize=(15, 3.2 * max(1, len(ms))), squeeze=False)
    for i, e in enumerate(ms):
        if e.get("failed"):
            message(axes[i, 0], f"{e['title']}\nnot analysed: {wrap(e['message'])}")
            for ax in axes[i, 1:]:
                ax.axis("off")
            continue
        local_row(axes[i], e)
    fig.suptitle("Figure 3: local dynamics — transitions (RT<2), kick-zones (2-8), clusters (RT>8)")
    fig.tight_layout()
    return fig


def plot_fig4(data: dict):
    """Noise sensitivity (docs/dynamics.md E.7): per model, trajectories from the cluster and the transition start
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
            row[0].text(0, 0.5, f"{e['title']}: cluster/transition pair not found\n{wrap(e['message'], 120)}",
                        transform=row[0].transAxes, fontsize=8, va="center")
            continue
        bg = np.asarray(e["background"])
        bg_out = np.asarray(e["background_outputs"])
        bgc = np.where(bg_out == bg_out.max(), "darkgrey", "dimgrey")
        for k, name in enumerate(("cluster", "transition")):
            d = e[name]
            for gi, g in enumerate(e["gammas"]):
                ax = row[k * n_g + gi]
                ax.scatter(bg[:, 0], bg[:, 1], s=1, c=bgc, alpha=0.3, linewidths=0, rasterized=True)
                for tr in d["traj"][gi]:
                    t = np.asarray(tr)
                    ax.plot(t[:, 0], t[:, 1], color="darkblue", lw=0.6, alpha=0.6)
                ax.plot(*d["start"], "*", color="gold", mec="k", ms=9, zorder=5)
                pc_labels(ax, e["explained"])
                style(ax, (f"{e['title']}\n" if k == 0 and gi == 0 else "") + f"{name} start (t={d['idx']}), γ={g:g}")
        t = np.arange(len(e["cluster"]["trace"][0]))
        for j, (key, lab) in enumerate((("trace", "trace of covariance"), ("mean_dist", "mean distance to mean"))):
            ax = row[2 * n_g + j]
            for gi, g in enumerate(e["gammas"]):
                if g == 0:
                    continue
                ls = "-" if g >= 1 else "--"
                ax.plot(t, e["cluster"][key][gi], ls, color="tab:red", label=f"cluster, γ={g:g}")
                ax.plot(t, e["transition"][key][gi], ls, color="tab:blue", label=f"transition, γ={g:g}")
            ax.set_xlabel("t (steps)")
            ax.set_ylabel(lab)
            ax.legend(fontsize=5.5, frameon=False)
            style(ax, lab)
    fig.suptitle("Figure 4: noise sensitivity — trajectories from cluster vs transition states under "
                 "partially fresh noise (γ = fraction of fresh noise)")
    fig.tight_layout()
    return fig



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
            message(A[0], f"{ss['title']}\n{wrap(ss['message'])}")
            A[1].axis("off")
        else:
            no_input_panel(A[0], ss)
            style(A[0], f"{ss['title']}\nno input")
            with_input_panel(A[1], ss)
            style(A[1], "with input (σ = 1)")
            output_legend(A[1])
        if e.get("failed"):
            message(A[2], f"subspaces not analysed:\n{wrap(e['message'], 45)}")
            for ax in [*A[3:], *B[:3], *C]:
                ax.axis("off")
            performance_panels(B[3], B[4], e["performance"])
            continue
        pairs = e["pairs"][:3]
        for k in range(3):
            ax = A[2 + k]
            if k >= len(pairs):
                ax.axis("off")
                continue
            p = pairs[k]
            if not p["runs"]:
                message(ax, f"outputs {p['pair']}: no run longer than min_run\n({p['n_states']} states)")
                style(ax, f"subspace {p['pair']}")
                continue
            for run in p["runs"]:
                colored_path(ax, run["coords"], run["outputs"], lw=0.6, arrows=True)
            pc_labels(ax, [p["explained"][0], p["explained"][2]], (1, 3))
            style(ax, f"subspace {p['pair']}: longest run ({p['n_runs']} runs)")
        for k in range(3):
            ax = B[k]
            if k >= len(pairs):
                ax.axis("off")
                continue
            p = pairs[k]
            if p["n_states"] == 0 or not any(len(c) for c in p["contours"]):
                message(ax, f"outputs {p['pair']}: no states")
            else:
                kde_contours(ax, p["contours"], e["noise_stds"], legend=(k == 0))
                pc_labels(ax, [p["explained"][0], p["explained"][2]], (1, 3))
            style(ax, f"subspace {p['pair']} vs noise std σ")
        performance_panels(B[3], B[4], e["performance"])
        res = e["residency"][:2]
        for k in range(2):
            sub = C[2 * k: 2 * k + 2]
            if k >= len(res):
                for ax in sub:
                    ax.axis("off")
                continue
            r = res[k]
            if r["failed"]:
                message(sub[0], f"subspace residency {r['pair']}: not found\n{r['message'][:120]}")
                sub[1].axis("off")
                continue
            residency_pair(sub, r)
        C[4].axis("off")
    fig.suptitle("Figure 8: fully connected and cyclic HMMs — orbits, output-pair subspaces, "
                 "subspace contours and residency, performance")
    fig.tight_layout()
    return fig



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
            message(axes[i, j], f"{s.hmm} |h|={s.hidden} d={s.input}\n{wrap(e['message'], 40)}")
            axes[i, j + 1].axis("off")
            axes[i, j + 2].axis("off")
            continue
        no_input_panel(axes[i, j], e)
        style(axes[i, j], f"{s.hmm} |h|={s.hidden} d={s.input}: no input")
        with_input_panel(axes[i, j + 1], e, slow=False, annotate=False)
        style(axes[i, j + 1], "with input (σ=1)")
        contour_panel(axes[i, j + 2], e, legend=e is first_ok)
        style(axes[i, j + 2], "contours vs noise std σ")
    fig.suptitle(f"Figure S2: latent trajectories and orbit contours over {len(ms)} configurations "
                 f"(seed {specs[0].seed if specs else '-'})", fontsize=11)
    fig.tight_layout()
    return fig


PLOTTERS = {"fig2": plot_fig2, "fig3": plot_fig3, "fig4": plot_fig4, "fig8": plot_fig8, "figS2": plot_figS2}
