"""Plotters of the mechanism figures 5, 6, 7, S3 and S4 (from their figure-data dicts, see
:mod:`rnnhmm.figures.mechanism_data`).
"""

from __future__ import annotations

import numpy as np

from .mechanism_data import CONDITION_TITLES, KICK_COLORS, KICK_DRIVES, MU_COLORS, POP_COLORS


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _unavailable(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _heat(ax, M, title, xlabel, ylabel, fig, splits_x=(), splits_y=()):
    M = np.asarray(M, dtype=float)
    v = float(np.max(np.abs(M))) if M.size else 1.0
    im = ax.imshow(M, cmap="bwr", vmin=-v, vmax=v, aspect="auto", interpolation="nearest")
    for s in splits_x:
        ax.axvline(s - 0.5, color="k", lw=0.8)
    for s in splits_y:
        ax.axhline(s - 0.5, color="k", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="weight")


def _blocks(axes, fig, blocks, groups, pops, unavailable_text):
    if not blocks:
        for ax in axes:
            _unavailable(ax, unavailable_text)
        return
    k1 = len(groups[0])
    p1 = len(pops[0])
    _heat(axes[0], blocks["kick_kick"], "W_hh[kick, kick]", f"from kick neuron (group 1: first {k1})",
          "onto kick neuron", fig,
          [k1], [k1])
    _heat(axes[1], blocks["kick_pop"], "W_hh[kick, populations]", f"from population neuron (pop. 1: first {p1})",
          "onto kick neuron", fig, [p1], [k1])
    _heat(axes[2], blocks["pop_pop"], "W_hh[populations, populations]", "from population neuron",
          "onto population neuron", fig, [p1], [p1])
    kick = [i for g in groups for i in g]
    if len(kick) <= 12:
        for ax, xaxis in ((axes[0], True), (axes[0], False), (axes[1], False)):
            (ax.set_xticks if xaxis else ax.set_yticks)(range(len(kick)))
            (ax.set_xticklabels if xaxis else ax.set_yticklabels)([str(i) for i in kick], fontsize=7)


# ---------------------------------------------------------------------------------------------
# figure 5


def plot_fig5(data: dict):
    plt = _plt()
    from matplotlib.gridspec import GridSpec

    fig = plt.figure(figsize=(14, 16))
    gs = GridSpec(4, 3, figure=fig, height_ratios=[1, 1, 0.9, 0.8], hspace=0.5, wspace=0.5)
    status = ", ".join(f"group {i + 1}: {n} pass ({s})" for i, (n, s) in
                       enumerate(zip(data["n_selected"], data["group_status"])))
    fig.suptitle(f"Figure 5: kick neurons and noise-integrating populations — {data['model']}\n"
                 f"kick criterion: {status}" + (f"\n{data['error']}" if data.get("error") else ""), fontsize=11)
    pa = data["preact"]
    xy = np.asarray(pa["coords"], dtype=float)
    ev = pa["explained_variance"]
    sc = None
    for n in range(6):
        ax = fig.add_subplot(gs[n // 3, n % 3])
        if n >= len(pa["neurons"]):
            _unavailable(ax, "no further kick neuron")
            ax.axis("off")
            continue
        pre = np.asarray(pa["pre"][n], dtype=float)
        ax.plot(xy[:, 0], xy[:, 1], color="0.85", lw=0.4, zorder=0)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=pre, cmap="seismic", vmin=-pa["vmax"], vmax=pa["vmax"], s=5, zorder=1)
        g = pa["neuron_group"][n]
        ax.set_title(f"neuron {pa['neurons'][n]} (kick group {g}, {KICK_DRIVES[g - 1]})",
                     color=KICK_COLORS[g - 1])
        ax.set_xlabel(f"PC1 ({ev[0]:.1f}%)", fontsize=8)
        ax.set_ylabel(f"PC2 ({ev[1]:.1f}%)", fontsize=8)
    if sc is not None:
        cax = fig.add_axes([0.92, 0.56, 0.012, 0.3])
        fig.colorbar(sc, cax=cax, label="pre-activation (W_hh h + W_ih x)_k  [shared scale]")
    axes = [fig.add_subplot(gs[2, i]) for i in range(3)]
    _blocks(axes, fig, data["blocks"], data["groups"], data["populations"],
            "no weight blocks: a kick group is empty")
    ax = fig.add_subplot(gs[3, :])
    ma = data["mean_activity"]
    for i, (s, e) in enumerate(data["segments"]):
        ax.axvspan(s - 0.5, e - 0.5, color="0.93" if i % 2 == 0 else "0.8", lw=0)
    for key, label, color, ls in (("kick1", data["kick_labels"][0], KICK_COLORS[0], "-"),
                                  ("kick2", data["kick_labels"][1], KICK_COLORS[1], "-"),
                                  ("pop1", data["pop_labels"][0], POP_COLORS[0], "--"),
                                  ("pop2", data["pop_labels"][1], POP_COLORS[1], "--")):
        if ma.get(key) is not None:
            ax.plot(ma[key], color=color, ls=ls, lw=1.3, label=label)
    ax.set_xlabel("time step")
    ax.set_ylabel("mean activity (ReLU output)")
    ax.set_title("mean activity of kick groups (solid) and integrating populations (dashed); "
                 "background shade alternates at every output change")
    ax.legend(loc="upper right", ncol=2)
    ax.set_xlim(0, len(next((v for v in ma.values() if v is not None), [0])))
    return fig


# ---------------------------------------------------------------------------------------------
# figure 6


def _mu_role(mu: float) -> str:
    if abs(mu - 1.0) < 1e-9:
        return "nominal"
    return "inhibition" if mu < 1 else "excitation"


def plot_fig6(data: dict):
    plt = _plt()
    groups = data["groups"]
    conds = ["kick", "noise_projection", "control"]
    fig, axes = plt.subplots(2 * len(groups), 3, figsize=(14, 4.3 * 2 * len(groups)), squeeze=False)
    fig.suptitle(f"Figure 6: causal interventions — {data['model']}\n"
                 "gain mu scales the targeted input of the chosen neurons (mu = 1: unperturbed)", fontsize=11)
    mus = np.asarray(data["mus"])
    for gi, g in enumerate(groups):
        for ci, cname in enumerate(conds):
            ax_t, ax_p = axes[2 * gi, ci], axes[2 * gi + 1, ci]
            c = g["conditions"].get(cname)
            if c is None:
                _unavailable(ax_t, f"{g['label']}\nnot run: {g.get('skipped')}")
                _unavailable(ax_p, "not run")
                continue
            ev = g.get("explained_variance") or [0, 0]
            for mu in sorted(data["show_mus"], key=lambda m: (_mu_role(m) != "nominal", m)):
                xy = np.asarray(c["trajectories"][f"{mu:g}"], dtype=float)
                role = _mu_role(mu)
                ax_t.plot(xy[:, 0], xy[:, 1], color=MU_COLORS[role], lw=1.2 if role != "nominal" else 2,
                          alpha=0.9, label=f"mu = {mu:g} ({role})")
                ax_t.plot(xy[0, 0], xy[0, 1], "o", color=MU_COLORS[role], ms=4)
            ax_t.set_title(f"group {g['group']}: {CONDITION_TITLES[cname]}\n{c['n_targets']} target neurons",
                           fontsize=8.5)
            ax_t.set_xlabel(f"PC1 of the mu=1 run ({ev[0]:.1f}%)", fontsize=8)
            ax_t.set_ylabel(f"PC2 ({ev[1]:.1f}%)", fontsize=8)
            ax_t.legend(title=f"first {data['show_steps']} steps", title_fontsize=7)
            m, s = np.asarray(c["pairs_mean"]), np.asarray(c["pairs_std"])
            ax_p.errorbar(mus, m, yerr=s, color="k", marker="o", ms=3, lw=1, capsize=2,
                          label="mean ± std over transitions")
            for mu in data["show_mus"]:
                j = int(np.argmin(np.abs(mus - mu)))
                ax_p.plot(mus[j], m[j], "o", ms=9, color=MU_COLORS[_mu_role(mu)], zorder=3)
            ax_p.set_xlabel("gain mu")
            ax_p.set_ylabel("critical complex pairs per transition")
            ax_p.set_title(f"group {g['group']}: critical pairs (|Re w| < 0.1, Im w > 0.06) vs mu", fontsize=8.5)
            ax_p.set_ylim(bottom=0)
            ax_p.legend()
        axes[2 * gi, 0].annotate(g["label"], xy=(0, 1.32), xycoords="axes fraction", fontsize=9, weight="bold",
                                 color=KICK_COLORS[g["group"] - 1])
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


# ---------------------------------------------------------------------------------------------
# figure 7


def _vlines(ax, m):
    if m["bifurcation_epoch"] is not None:
        ax.axvline(m["bifurcation_epoch"], color="violet", lw=1.5,
                   label=f"bifurcation (epoch {m['bifurcation_epoch']})")
    if m["second_loss_drop"] is not None:
        ax.axvline(m["second_loss_drop"], color="k", ls=":", lw=1.2,
                   label=f"2nd loss drop (epoch {m['second_loss_drop']})")


def plot_fig7(data: dict):
    plt = _plt()
    models = data["models"]
    n = max(1, len(models))
    height = 4.4 * n + 0.8
    fig = plt.figure(figsize=(25, height))
    gs = fig.add_gridspec(n, 5, width_ratios=[1.5, 1, 1, 1, 1.1], wspace=0.3, hspace=0.45)
    fig.suptitle("Figure 7: emergence of the orbit during training (same noise for every epoch)", fontsize=12)
    out_cols = np.array(["darkgreen", "royalblue", "darkred"])
    for r, m in enumerate(models):
        ep = np.asarray(m["epochs"])
        # 1. PCA across epochs (3D)
        ax = fig.add_subplot(gs[r, 0], projection="3d")
        pca = m["pca"]
        for k, e in enumerate(pca["epochs"]):
            if pca["coords"][k] is None:
                continue
            xy = np.asarray(pca["coords"][k])
            o = np.asarray(pca["outputs"][k])
            if e == m["bifurcation_epoch"]:
                ax.plot(xy[:, 0], xy[:, 1], np.full(len(xy), k), color="violet", lw=0.6)
            else:
                ax.scatter(xy[:, 0], xy[:, 1], np.full(len(xy), k), c=out_cols[np.clip(o, 0, 2)], s=1.5)
        ax.set_zticks(range(len(pca["epochs"])))
        ax.set_zticklabels([str(e) for e in pca["epochs"]], fontsize=6)
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.set_zlabel("epoch", fontsize=7)
        ax.view_init(elev=14, azim=80)
        ax.set_title(f"{m['model']}: PCA per epoch\n(colour = output 0/1/2; violet = bifurcation)", fontsize=8)
        # 2. losses
        ax = fig.add_subplot(gs[r, 1])
        ax.plot(np.arange(1, len(m["train_loss"]) + 1), m["train_loss"], color="0.6", lw=0.8, label="train")
        ax.plot(np.arange(1, len(m["val_loss"]) + 1), m["val_loss"], color="k", lw=1, label="validation")
        _vlines(ax, m)
        ax.set_xlabel("epoch")
        ax.set_ylabel("Sinkhorn loss")
        ax.set_title("loss")
        ax.legend()
        # 3. transition rate
        ax = fig.add_subplot(gs[r, 2])
        rate = np.asarray([np.nan if v is None else v for v in m["transition_rate"]], dtype=float)
        ax.plot(ep, rate, "o-", ms=2, color="tab:blue", label="transition rate (mean 1/dwell)")
        if m["converged_rate"] is not None:
            ax.axhline(m["converged_rate"], color="tab:blue", ls="--", lw=1,
                       label=f"converged (last {m['converged_last']}): {m['converged_rate']:.3f}")
        if m["hmm_change_probability"] is not None:
            ax.axhline(m["hmm_change_probability"], color="tab:red", ls=":", lw=1.2,
                       label=f"HMM change prob. {m['hmm_change_probability']:.3f}")
        _vlines(ax, m)
        ax.set_xlabel("epoch")
        ax.set_ylabel("output transitions per step")
        ax.set_title("transition rate")
        ax.legend(fontsize=6.5)
        # 4. fractions
        ax = fig.add_subplot(gs[r, 3])
        for key, lab, col in (("complex_fraction", "complex pair near |lambda| = 1", "tab:green"),
                              ("unstable_fraction", "unstable (|lambda| > 1)", "tab:orange")):
            ax.plot(ep, np.asarray([np.nan if v is None else v for v in m[key]], dtype=float), "o-", ms=2, color=col,
                    label=lab)
        _vlines(ax, m)
        ax.set_xlabel("epoch")
        ax.set_ylabel("fraction of steps")
        ax.set_title("Jacobian eigenvalues along the noisy trajectory")
        ax.legend(fontsize=6.5)
        # 5. E[dh2]
        ax = fig.add_subplot(gs[r, 4])
        D = np.asarray(m["dh2"], dtype=float)
        if D.size:
            im = ax.imshow(D.T, aspect="auto", cmap="magma", origin="lower", interpolation="nearest",
                           extent=(ep[0] - 0.5, ep[-1] + 0.5, -0.5, D.shape[1] - 0.5))
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="sqrt|E[dh2]|")
            if m["bifurcation_epoch"] is not None:
                ax.axvline(m["bifurcation_epoch"], color="violet", lw=1.5)
        else:
            _unavailable(ax, "no E[dh2]")
        ax.set_xlabel("epoch")
        ax.set_ylabel("hidden unit (sorted by last epoch)")
        ax.set_title("second-order perturbation sqrt|E[dh2]|")
    fig.subplots_adjust(left=0.03, right=0.97, top=1 - 1.1 / height, bottom=0.6 / height)
    return fig


# ---------------------------------------------------------------------------------------------
# figures S3, S4


def plot_figS3(data: dict):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    st = data["states"]
    if st:
        ax.errorbar(st, data["mean"], yerr=data["std"], marker="o", color="k", capsize=4, lw=1.5,
                    label="ours: mean ± std over seeds")
        for m in st:
            pts = data["points"][str(m)]
            ax.scatter([m] * len(pts), pts, color="tab:blue", s=14, alpha=0.7, zorder=3)
        ax.scatter([], [], color="tab:blue", s=14, label="ours: individual models")
    else:
        _unavailable(ax, "no readout alignment available")
    pm = sorted((int(k), v) for k, v in data["paper"].items())
    ax.plot([k for k, _ in pm], [v for _, v in pm], "s--", color="tab:red", alpha=0.7, label="paper (G.4)")
    ax.set_xlabel("number of HMM states M")
    ax.set_ylabel("projection of readout onto PC1-PC2 plane")
    ax.set_xticks(sorted(set(st) | {k for k, _ in pm}))
    ax.set_ylim(0, 1)
    ax.set_title("Figure S3: readout alignment with the orbit plane\n(mean of readouts 0 and 2; 1 = in the plane)",
                 fontsize=10)
    if data["failed"]:
        ax.text(0.02, 0.02, "failed: " + "; ".join(data["failed"]), fontsize=6, transform=ax.transAxes)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_figS4(data: dict):
    plt = _plt()
    models = data["models"]
    n = max(1, len(models))
    fig, axes = plt.subplots(n, 3, figsize=(15, 4.3 * n), squeeze=False)
    fig.suptitle("Figure S4: sorted recurrent weights — kick groups and integrating populations of other HMMs",
                 fontsize=11)
    if not models:
        for ax in axes[0]:
            _unavailable(ax, "no model configured (config.mechanism.kick.models is empty)")
    for r, m in enumerate(models):
        _blocks(axes[r], fig, m["blocks"], m["groups"], m["populations"], "no weight blocks: a kick group is empty")
        axes[r, 0].annotate(f"{m['model']}:  " + ";  ".join(m["kick_labels"]), xy=(0, 1.18),
                            xycoords="axes fraction", fontsize=8.5, weight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


PLOTTERS = {"fig5": plot_fig5, "fig6": plot_fig6, "fig7": plot_fig7, "figS3": plot_figS3, "figS4": plot_figS4}
