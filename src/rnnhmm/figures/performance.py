"""Figure 1, figure S1 and the per-model diagnostics (docs/training.md): figure-data builders from the cached
per-model metrics and their plotters.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from rnnhmm.claims.learned import model_flags
from rnnhmm.io import read_json

from .common import HMM_COLOR, RNN_COLOR, symbol_cmap


def build(name: str, inputs, params) -> dict:
    """The data of figure ``name`` (fig1 or figS1) from the figure rule's ``inputs`` (attributes
    ``floors``, ``models``, ``table``) and ``params`` (``label``, ``hmms``)."""
    floors = {f["hmm"]: f for f in map(read_json, inputs.floors)}
    if name == "fig1":
        kl = [read_json(p) for p in getattr(inputs, "likelihood", [])]
        return fig1_data([read_json(p) for p in inputs.models], floors, params.label, kl)
    if name == "figS1":
        table = pd.read_csv(inputs.table, sep="\t")
        sq = {m["model"]: m["transition_sq_diff"] for m in map(read_json, inputs.models)}
        return figS1_data(table, floors, params.hmms, sq)
    raise ValueError(f"no figure-data recipe for {name}")


def _with_floor(m: dict, floors: dict) -> dict:
    fl = floors[m["hmm"]]
    return {**m, "floor_mean": fl["floor_mean"], "floor_within_sd": fl["floor_within_sd"]}


KL_KEYS = ("kl_rate", "kl_se", "particles", "converged", "entropy_rate", "rare_share", "n_seq", "dead_sequences")


def fig1_data(models: list[dict], floors: dict[str, dict], config_label: str,
              likelihood: list[dict] | None = None) -> dict:
    """Per example model: matched distances (with the floor), volatility, frequencies, transition
    matrices, a few example sequences, ``learned`` / ``faithful`` (rnnhmm.claims.learned; the
    figure names the shown models that are not learned in red, learned but not faithful in grey)
    and, where the likelihood records are given, the KL rate (``kl``: None otherwise)."""
    keep = ("model", "hmm", "seq_len", "n_seq", "distance_mean", "distance_sd", "hmm_stats", "rnn_stats",
            "transition_sq_diff", "examples")
    kl = {r["model"]: {k: r.get(k) for k in KL_KEYS} for r in likelihood or []}
    return {"config_label": config_label,
            "models": [{**_with_floor({k: m[k] for k in keep}, floors), "kl": kl.get(m["model"]),
                        **_flags(m, floors)} for m in models]}


def _flags(m: dict, floors: dict) -> dict:
    f = model_flags(m, floors[m["hmm"]])
    return {"learned": f["learned"], "faithful": f["faithful"]}


def figS1_data(table: pd.DataFrame, floors: dict[str, dict], hmms: list[str], sq_diffs: dict[str, list]) -> dict:
    """Grid summary: per (hmm, hidden, input), mean and sd over seeds of the per-model mean
    distance and of the squared transition-matrix differences (3x3)."""
    sub = table[table["hmm"].isin(hmms)]
    rows = []
    for (h, H, D), g in sub.groupby(["hmm", "hidden", "input"]):
        sq = np.stack([np.asarray(sq_diffs[mid]) for mid in g["model"]])
        rows.append({"hmm": h, "hidden": int(H), "input": int(D), "n_seeds": len(g),
                     "dist_mean": float(g["distance_mean"].mean()), "dist_sd": float(g["distance_mean"].std(ddof=0)),
                     "sq_mean": sq.mean(0).tolist(), "sq_sd": sq.std(0).tolist()})
    return {
        "hmms": list(hmms),
        "hidden": sorted(int(x) for x in sub["hidden"].unique()),
        "input": sorted(int(x) for x in sub["input"].unique()),
        "floors": {h: {"mean": floors[h]["floor_mean"],
                       "sd": max(floors[h]["floor_sd_across_repeats"], 1e-12)} for h in hmms},
        "rows": rows,
    }

def _matrix(ax, M, title, vmax=1.0, cmap="Blues", fmt="{:.2f}", sd=None):
    M = np.asarray(M, dtype=float)
    ax.imshow(M, cmap=cmap, vmin=0, vmax=vmax)
    for (i, j), v in np.ndenumerate(M):
        txt = fmt.format(v) if sd is None else f"{fmt.format(v)}\n±{fmt.format(sd[i][j])}"
        ax.text(j, i, txt, ha="center", va="center", fontsize=6,
                color="white" if v > 0.6 * vmax else "black")
    ax.set_xticks(range(M.shape[1]))
    ax.set_yticks(range(M.shape[0]))
    ax.tick_params(labelsize=6, length=0)
    ax.set_title(title, fontsize=7)


def _pair_bars(ax, values, errors, labels, title, ylabel=None):
    ax.bar(range(len(values)), values, yerr=errors, color=[HMM_COLOR, RNN_COLOR][: len(values)],
           capsize=3, width=0.6)
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_title(title, fontsize=8)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.tick_params(labelsize=6)


def _frequency_bars(ax, hmm_stats, rnn_stats, title, legend):
    """Per-symbol output frequencies (mean ± sd over sequences), HMM beside RNN."""
    x = np.arange(len(hmm_stats["frequencies_mean"]))
    for dx, st, color, label in ((-0.2, hmm_stats, HMM_COLOR, "HMM"), (0.2, rnn_stats, RNN_COLOR, "RNN")):
        ax.bar(x + dx, st["frequencies_mean"], 0.4, yerr=st["frequencies_std"], color=color, label=label, capsize=2)
    ax.set_xticks(x)
    ax.tick_params(labelsize=6)
    ax.set_title(title, fontsize=8)
    if legend:
        ax.legend(fontsize=6)


# --------------------------------------------------------------------------- diagnostics
def plot_diagnostics(data: dict):
    """Per-model page: loss curves and HMM vs RNN emission statistics. ``data`` = the model's
    metrics JSON plus 'losses' {epoch, train, val}."""
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.2), gridspec_kw={"width_ratios": [2, 1, 1, 1.4, 1.6]})
    lo = data["losses"]
    ax = axes[0]
    ax.plot(lo["epoch"], lo["train"], label="train")
    ax.plot(lo["epoch"], lo["val"], label="validation")
    if data["best_epoch"] is not None:
        ax.axvline(data["best_epoch"], color="0.6", ls=":", lw=1, label=f"best epoch {data['best_epoch']}")
    else:  # a model trained elsewhere (rnnhmm.training.external)
        ax.text(0.5, 0.5, "no training history\n(model trained elsewhere)", ha="center", va="center",
                transform=ax.transAxes, fontsize=8, color="0.4")
    ax.set_xlabel("epoch")
    ax.set_ylabel("Sinkhorn divergence")
    ax.legend()
    ax.set_title(data["model"])
    hs, rs = data["hmm_stats"], data["rnn_stats"]
    _pair_bars(axes[1], [data.get("floor_mean", np.nan), data["distance_mean"]],
               [data.get("floor_within_sd", 0), data["distance_sd"]], ["HMM-HMM", "HMM-RNN"],
               "matched distance")
    _pair_bars(axes[2], [hs["volatility_mean"], rs["volatility_mean"]],
               [hs["volatility_std"], rs["volatility_std"]], ["HMM", "RNN"], f"changes / seq (L={data['seq_len']})")
    _frequency_bars(axes[3], hs, rs, "output frequency", legend=True)
    ax = axes[4]
    diff = np.asarray(data["transition_sq_diff"])
    _matrix(ax, diff, "(T_HMM - T_RNN)^2", vmax=max(0.02, diff.max()), fmt="{:.3f}")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- fig1
def _draw_pipeline(ax, example):
    """Schematic of the training pipeline with sampled sequences of the example HMM and RNN."""
    ax.axis("off")
    box = dict(boxstyle="round,pad=0.4", fc="0.95", ec="0.3")
    items = [(0.0, 0.93, "noise x_t ~ N(0, I_d)"), (0.2, 0.93, "ReLU RNN: h_t = ReLU(W_ih x_t + W_hh h_t-1)"),
             (0.55, 0.93, "hard Gumbel-softmax: o_t ~ softmax(W_out h_t)"),
             (0.0, 0.2, f"HMM '{example['hmm']}'"), (0.88, 0.45, "Sinkhorn\ndivergence")]
    for x, y, s in items:
        ax.text(x, y, s, fontsize=7, bbox=box, va="center", transform=ax.transAxes)
    arrow = dict(arrowstyle="->", color="0.3")
    ax.annotate("", (0.195, 0.93), (0.15, 0.93), xycoords="axes fraction", arrowprops=arrow)
    ax.annotate("", (0.545, 0.93), (0.515, 0.93), xycoords="axes fraction", arrowprops=arrow)
    ax.annotate("", (0.87, 0.5), (0.8, 0.62), xycoords="axes fraction", arrowprops=arrow)
    ax.annotate("", (0.87, 0.4), (0.8, 0.2), xycoords="axes fraction", arrowprops=arrow)
    cmap = symbol_cmap()
    for (y0, key) in ((0.5, "rnn"), (0.06, "hmm")):
        seqs = np.asarray(example["examples"][key])[:8]
        inset = ax.inset_axes([0.14, y0, 0.64, 0.3])
        inset.imshow(seqs, cmap=cmap, vmin=0, vmax=2, aspect="auto", interpolation="nearest")
        inset.set_yticks([])
        inset.set_xticks([])
        inset.set_ylabel(key.upper())
        inset.set_xlabel("time step (colour = output 0 / 1 / 2)", fontsize=6) if key == "hmm" else None
    ax.set_title("Pipeline: RNN output sequences are matched to HMM sequences as distributions")


def _kl_panel(ax, kl: dict | None, ylabel: bool):
    """The model's KL rate from its HMM (nats per step, ± SE over sequences) beside the HMM's own
    entropy rate (the scale: a model emitting i.i.d. symbols at the right frequencies sits near
    the difference between the i.i.d. entropy and this)."""
    if not kl or kl.get("kl_rate") is None:
        why = (f"no KL rate: the filter diverged\non {kl['dead_sequences']} of {kl['n_seq']} sequences"
               if kl and kl.get("dead_sequences") else "no KL rate")
        ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, fontsize=7, color="firebrick")
        ax.axis("off")
        return
    _pair_bars(ax, [kl["entropy_rate"], kl["kl_rate"]], [0.0, kl["kl_se"]], ["HMM entropy", "KL(HMM||RNN)"],
               "KL rate", "nats / step" if ylabel else None)
    note = f"P = {kl['particles']}" + ("" if kl.get("converged") else " (p_max, not converged)")
    if kl.get("rare_share") is not None:
        note += f"; rare-symbol steps: {kl['rare_share']:.0%} of it"
    ax.set_xlabel(note, fontsize=6)


def plot_fig1(data: dict):
    """Figure 1: pipeline and emission statistics of HMM vs RNN for the example models.

    ``data['models']``: list of per-model dicts (metrics JSON + floor)."""
    models = data["models"]
    n = len(models)
    with_kl = any(m.get("kl") for m in models)
    rows = [1.6, 1] + ([1] if with_kl else []) + [1, 1, 1, 1]
    fig = plt.figure(figsize=(max(10, 2.6 * n), 12.5 + 2.1 * with_kl))
    gs = fig.add_gridspec(len(rows), n, height_ratios=rows, hspace=0.75, wspace=0.45)
    _draw_pipeline(fig.add_subplot(gs[0, :]), models[0])
    for j, m in enumerate(models):
        hs, rs = m["hmm_stats"], m["rnn_stats"]
        _pair_bars(fig.add_subplot(gs[1, j]), [m["floor_mean"], m["distance_mean"]],
                   [m["floor_within_sd"], m["distance_sd"]], ["HMM-HMM", "HMM-RNN"],
                   f"{m['hmm']}: matched distance", "Euclidean distance" if j == 0 else None)
        r = 2
        if with_kl:
            _kl_panel(fig.add_subplot(gs[r, j]), m.get("kl"), ylabel=j == 0)
            r += 1
        _pair_bars(fig.add_subplot(gs[r, j]), [hs["volatility_mean"], rs["volatility_mean"]],
                   [hs["volatility_std"], rs["volatility_std"]], ["HMM", "RNN"],
                   f"volatility (L={m['seq_len']})", "output changes / seq" if j == 0 else None)
        _frequency_bars(fig.add_subplot(gs[r + 1, j]), hs, rs, "output frequencies", legend=j == 0)
        _matrix(fig.add_subplot(gs[r + 2, j]), hs["transition_matrix"], "HMM output transitions")
        _matrix(fig.add_subplot(gs[r + 3, j]), rs["transition_matrix"], "RNN output transitions")
    fig.suptitle(f"Figure 1 - RNNs reproduce the emission statistics of their HMMs ({data['config_label']})",
                 fontsize=11, y=0.995)
    return fig


# --------------------------------------------------------------------------- figS1
def plot_figS1(data: dict):
    """Figure S1: the model grid. Top: matched distance vs input dimension per hidden size, with
    the HMM floor band, one panel per HMM. Bottom: squared differences of the output transition
    matrices (mean ± sd over seeds), one block per HMM, rows hidden sizes, columns input dims."""
    rows = data["rows"]  # list of dicts: hmm, hidden, input, dist_mean, dist_sd, sq_mean, sq_sd
    hmms = data["hmms"]
    fig = plt.figure(figsize=(4.2 * len(hmms), 4 + 1.7 * len(data["hidden"])))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 0.5 * len(data["hidden"]) + 0.3])
    axes = top.subplots(1, len(hmms), squeeze=False)[0]
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(data["hidden"])))
    for ax, h in zip(axes, hmms):
        fl = data["floors"][h]
        ax.axhline(fl["mean"], color="0.3", lw=1, label="HMM-HMM")
        ax.axhspan(fl["mean"] - fl["sd"], fl["mean"] + fl["sd"], color="0.8", alpha=0.6)
        for c, H in zip(colors, data["hidden"]):
            sel = sorted((r for r in rows if r["hmm"] == h and r["hidden"] == H), key=lambda r: r["input"])
            if sel:
                ax.errorbar([r["input"] for r in sel], [r["dist_mean"] for r in sel], [r["dist_sd"] for r in sel],
                            marker="o", ms=4, capsize=3, color=c, label=f"H={H}")
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks(data["input"], [str(d) for d in data["input"]])
        ax.set_xlabel("input dimension d")
        ax.set_title(h)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("matched Euclidean distance")
    axes[0].legend()
    top.suptitle("Performance across the grid (mean ± sd over seeds of per-model means; grey: HMM-HMM floor ± sd)",
                 y=1.04)
    blocks = bottom.subfigures(1, len(hmms), squeeze=False)[0]
    for sub, h in zip(blocks, hmms):
        sel = [r for r in rows if r["hmm"] == h]
        vmax = max([0.005] + [float(np.max(r["sq_mean"])) for r in sel])
        axs = sub.subplots(len(data["hidden"]), len(data["input"]), squeeze=False)
        for i, H in enumerate(data["hidden"]):
            for j, D in enumerate(data["input"]):
                ax = axs[i, j]
                r = next((r for r in sel if r["hidden"] == H and r["input"] == D), None)
                if r is None:
                    ax.axis("off")
                    continue
                _matrix(ax, r["sq_mean"], f"H={H} d={D}", vmax=vmax, sd=r["sq_sd"], fmt="{:.3f}")
                ax.set_xticks([])
                ax.set_yticks([])
        sub.suptitle(f"{h}: (T_HMM - T_RNN)^2, scale 0-{vmax:.3f}", fontsize=8)
    return fig



PLOTTERS = {"fig1": plot_fig1, "figS1": plot_figS1}

def diagnostics(loss_paths, metric_paths, floor_paths, out_paths, log=print) -> None:
    """One diagnostics PNG per model (loss curves + emission statistics) from its losses.tsv, its
    metrics record and the floor records."""
    from pathlib import Path

    from .common import save_figure

    floors = {f["hmm"]: f for f in map(read_json, floor_paths)}
    for losses, metrics, out in zip(loss_paths, metric_paths, out_paths):
        data = read_json(metrics)
        data["losses"] = pd.read_csv(losses, sep="\t").to_dict(orient="list")
        data["floor_mean"] = floors[data["hmm"]]["floor_mean"]
        data["floor_within_sd"] = floors[data["hmm"]]["floor_within_sd"]
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        save_figure(plot_diagnostics(data), out, dpi=100)
        log(f"wrote {out}")
