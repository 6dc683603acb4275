"""Figure of docs/loss_bias.md from the TSVs of studies/loss_bias.py (``--tsv``).

Usage::

    python studies/loss_bias_plot.py docs/loss_bias docs/figures/loss_bias.png

Left: lin2 at the small config's batch (512, L = 50), one line per blur. Right: every paper HMM
at the paper's batch (4096) and training length. y: the variant's loss minus the HMM's own loss,
in % of the HMM's own loss (below 0: the loss prefers the variant); solid: rare symbol as in the
HMM, dashed: never emitted; bars: ± 1 SE (paired draws).
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from rnnhmm.figures.style import apply_style  # noqa: E402


def _lines(ax, df: pd.DataFrame, label: str, color) -> None:
    truth = df[(df["rare"] == "hmm") & (df["switch_scale"] == 1.0) & (df["flip"] == 0)]["loss"].iloc[0]
    for rare, ls in (("hmm", "-"), ("0.0", "--")):
        d = df[(df["rare"].astype(str) == rare) & (df["flip"] == 0)].sort_values("switch_scale")
        if d.empty:
            continue
        ax.errorbar(d["switch_scale"], 100 * d["excess"] / truth, yerr=100 * d["excess_se"] / truth, ls=ls,
                    marker="o", ms=3, color=color, capsize=2, label=label if rare == "hmm" else None)


def main(folder: str, out: str) -> None:
    apply_style()
    folder = Path(folder)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6), sharey=False)
    small = pd.read_csv(folder / "lin2_L50_b512.tsv", sep="\t", dtype={"rare": str})
    cmap = plt.get_cmap("viridis")
    blurs = sorted(small["blur"].unique())
    for i, blur in enumerate(blurs):
        _lines(a, small[small["blur"] == blur], f"blur {blur:g}" + (" (paper)" if blur == 0.2 else ""),
               cmap(i / max(len(blurs) - 1, 1)))
    a.set_title("lin2, batch 512, L = 50 (config/small.yaml)")
    a.set_ylim(-22, 25)  # blur 2-3 at x0.7 lie at +14% to +81% (the loss there is small): off scale
    a.text(0.71, 23, "blur 2-3 at x0.7: off scale (+14% to +81%)", fontsize=7, va="top")
    paper = (("lin2", 100), ("lin3", 30), ("lin4", 30), ("lin5", 40), ("fully", 30), ("cyclic", 40))
    for i, (name, L) in enumerate(paper):
        f = folder / f"{name}_L{L}_b4096.tsv"
        if f.exists():
            _lines(b, pd.read_csv(f, sep="\t", dtype={"rare": str}), f"{name} (L = {L})", f"C{i}")
    b.set_title("paper HMMs, batch 4096, blur 0.2 (the paper's)")
    for ax in (a, b):
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(1, color="0.6", lw=0.8, ls=":")
        ax.set_xlabel("switching rate x (1 = the HMM)")
        ax.legend(fontsize=7, frameon=False)
    a.set_ylabel("loss - HMM's own loss (% of it)")
    fig.text(0.5, -0.02, "solid: rare symbol as in the HMM; dashed: never emitted; below 0: the loss prefers "
             "the variant to the HMM", ha="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=150, bbox_inches="tight")


if __name__ == "__main__":
    main(*sys.argv[1:3])
