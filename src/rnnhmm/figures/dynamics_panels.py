"""Panels shared by the dynamics figures (2, 3, 4, 8, S2): styled axes, coloured trajectories, KDE
contours, the state-space and local-dynamics rows.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.lines import Line2D

from rnnhmm.analyses.measures import GROUP_NAMES

from .common import OUTPUT_COLORS
from .dynamics_data import GROUP_COLORS, KDE_GRIDSIZE, KDE_MAX_POINTS, NOISE_CMAP, RT_COLORS, UNSTABLE_COLORS, even


def pc_labels(ax, explained, pcs=(1, 2)):
    if explained is None:
        ax.set_xlabel(f"PC{pcs[0]}")
        ax.set_ylabel(f"PC{pcs[1]}")
        return
    ax.set_xlabel(f"PC{pcs[0]} ({explained[0]:.1f}%)")
    ax.set_ylabel(f"PC{pcs[1]} ({explained[1]:.1f}%)")


def style(ax, title=None):
    ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title, fontsize=8)


def colored_path(ax, coords, outputs, lw=0.8, alpha=0.9, arrows=False):
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


def output_legend(ax, n=3, loc="best"):
    h = [Line2D([0], [0], color=OUTPUT_COLORS[k], lw=1.5, label=f"output {k}") for k in range(n)]
    ax.legend(handles=h, fontsize=5.5, loc=loc, frameon=False, handlelength=1.2)


def kde_contours(ax, level_points, stds, min_points: int = 10, legend=True, gridsize=KDE_GRIDSIZE,
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
        p = p[even(len(p), max_points)]  # the KDE is O(points x grid); bw_adjust=3 is smooth anyway
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


def no_input_panel(ax, e, explained=True):
    n = e["noin"]
    for c, o in zip(n["coords"], n["outputs"]):
        colored_path(ax, c, o, lw=0.6, alpha=0.6)
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
    pc_labels(ax, e["explained"] if explained else None)


def with_input_panel(ax, e, slow=True, annotate=True):
    wi = e["with_input"]
    for c, o in zip(wi["coords"], wi["outputs"]):
        colored_path(ax, c, o, lw=0.8, arrows=True)
    if slow and e["slow"]["coords"]:
        s = np.asarray(e["slow"]["coords"])
        ax.scatter(s[:, 0], s[:, 1], s=4, c="k", marker=".", alpha=0.5, label="slow points", zorder=3)
    fm = e["noin"]["final_mean"]
    ax.plot(fm[0], fm[1], "x", color="k", ms=6, mew=1.5)
    sw = e["switch"]
    if not annotate:
        pc_labels(ax, e["explained"])
        return
    txt = f"switch rate: argmax {sw['argmax']:.3f}, sampled {sw['sampled']:.3f}"
    if sw["hmm"] is not None:
        txt += f", HMM {sw['hmm']:.3f}"
    ax.text(0.02, 0.02, txt, transform=ax.transAxes, fontsize=5.2, va="bottom")
    pc_labels(ax, e["explained"])


def contour_panel(ax, e, legend=True, min_points=10):
    sp = e["spread"]
    kde_contours(ax, sp["proj"], sp["stds"], min_points=min_points, legend=legend)
    pc_labels(ax, e["explained"])


def radius_panel(ax, e):
    sp = e["spread"]
    s, r, fit = np.asarray(sp["stds"]), np.asarray(sp["radius"]), sp["fit"]
    ax.plot(s, r, "o", color="k", ms=4, label="mean distance to centroid")
    xs = np.linspace(0, s.max(), 50)
    ax.plot(xs, fit["slope"] * xs + fit["intercept"], "-", color="tab:red", lw=1,
            label=f"fit {fit['slope']:.3g} σ + {fit['intercept']:.2g}  (R² {fit['r2']:.3f})")
    ax.set_xlabel("noise std σ")
    ax.set_ylabel("orbit radius (PC1-PC2)")
    ax.legend(fontsize=5.5, frameon=False)
    ax.set_xlim(0, None)
    ax.set_ylim(0, None)


def wrap(text: str, width: int = 60) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(str(text), width))


def message(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=6, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


# ============================================================================= figures


def _rt_cmap(max_rt):
    bounds = [1, 2, 4, 9, max(max_rt, 9.0) + 1e-9]
    return ListedColormap(RT_COLORS), BoundaryNorm(bounds, 4)


def local_row(axes, e, pcs=(1, 2)):
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
    pc_labels(ax, e["explained"], pcs)
    style(ax, f"{e['title']}\nresidency time ({e['n_states']} states)")
    ax = axes[1]
    h = e["hist"]
    edges = np.asarray(h["edges"])
    cols = [cmap(norm(v)) if np.isfinite(v) else "white" for v in np.asarray(h["mean_rt"], float)]
    ax.bar(edges[:-1], h["counts"], width=np.diff(edges), align="edge", color=cols, edgecolor="k", linewidth=0.3)
    ax.set_xlabel("mean logit-gradient sign changes")
    ax.set_ylabel("states")
    style(ax, "sign changes (colour: mean RT of bin)")
    ax = axes[2]
    _unstable_bars(ax, e["unstable_by_group"], ["transition\nRT<2", "kick\n2-8", "cluster\nRT>8"],
                   lambda k, ub: f"n={ub['n_' + k]}", fontsize=5.5)
    style(ax, "unstable eigenvalues per group")
    ax = axes[3]
    u = np.minimum(np.asarray(e["n_unstable"]), 2)
    sc = ax.scatter(c[:, 0], c[:, 1], c=u, cmap=ListedColormap(UNSTABLE_COLORS),
                    norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3),
                    s=2, linewidths=0, rasterized=True)
    cb = plt.colorbar(sc, ax=ax, ticks=[0, 1, 2], fraction=0.046, pad=0.02)
    cb.ax.set_yticklabels(["0", "1", "≥2"], fontsize=5)
    cb.set_label("# unstable eigenvalues", fontsize=6)
    pc_labels(ax, e["explained"], pcs)
    style(ax, "unstable eigenvalues along the orbit")



def performance_panels(ax_d, ax_t, perf):
    if perf is None:
        message(ax_d, "no performance metrics")
        ax_t.axis("off")
        return
    ax_d.bar([0, 1], [perf["floor_mean"], perf["rnn_mean"]], yerr=[perf["floor_sd"], perf["rnn_sd"]],
             color=["0.45", "tab:orange"], capsize=3, width=0.6)
    ax_d.plot(np.ones(len(perf["rnn_per_seed"])), perf["rnn_per_seed"], "k.", ms=4, label="per seed")
    ax_d.set_xticks([0, 1], ["HMM-HMM", "HMM-RNN"], fontsize=7)
    ax_d.set_ylabel("matched Euclidean distance")
    ax_d.legend(fontsize=5.5, frameon=False)
    style(ax_d, f"performance ({len(perf['seeds'])} seeds)")
    M = np.asarray(perf["sq_diff"], float)
    vmax = max(0.02, float(M.max()))
    im = ax_t.imshow(M, cmap="Reds", vmin=0, vmax=vmax)
    for (i, j), v in np.ndenumerate(M):
        ax_t.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=6, color="white" if v > 0.6 * vmax else "black")
    ax_t.set_xticks(range(M.shape[1]))
    ax_t.set_yticks(range(M.shape[0]))
    ax_t.set_xlabel("next output")
    ax_t.set_ylabel("output")
    plt.colorbar(im, ax=ax_t, fraction=0.046, pad=0.02).ax.tick_params(labelsize=5)
    style(ax_t, "(T_HMM - T_RNN)², mean over seeds")



def _unstable_bars(ax, ub: dict, ticks: list[str], note, fontsize: float) -> None:
    """Mean number of unstable eigenvalues per residency group (transition, kick, cluster), each bar
    annotated with ``note(group, ub)``."""
    names = list(GROUP_NAMES.values())
    vals = [ub[k] for k in names]
    ax.bar(range(3), np.nan_to_num(vals), color=[GROUP_COLORS[k] for k in names], edgecolor="k", linewidth=0.4)
    for i, k in enumerate(names):
        ax.text(i, np.nan_to_num(vals[i]), note(k, ub), ha="center", va="bottom", fontsize=fontsize)
    ax.set_xticks(range(3), ticks, fontsize=6)
    ax.set_ylabel("mean # unstable eigenvalues")


def residency_pair(axes, r):
    """Subspace residency: RT map (PC1 vs PC3) and unstable eigenvalues per group."""
    c = np.asarray(r["coords"], float).reshape(-1, 2)
    cmap, norm = _rt_cmap(r["max_rt"])
    ax = axes[0]
    sc = ax.scatter(c[:, 0], c[:, 1], c=np.asarray(r["residency"]), cmap=cmap, norm=norm, s=2, linewidths=0,
                    rasterized=True)
    cb = plt.colorbar(sc, ax=ax, fraction=0.046, pad=0.02)
    cb.set_label("residency time", fontsize=6)
    cb.ax.tick_params(labelsize=5)
    pc_labels(ax, r["explained"], (1, 3))
    style(ax, f"subspace residency {r['pair']} ({r['n_states']} states)")
    ax = axes[1]
    sb = r["sign_changes_by_group"]
    _unstable_bars(ax, r["unstable_by_group"], ["transition", "kick", "cluster"],
                   lambda k, ub: f"n={ub['n_' + k]}\nsc={sb[k]:.2g}", fontsize=5)
    style(ax, f"unstable per group ({r['pair']}; sc = sign changes)")
