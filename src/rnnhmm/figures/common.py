"""Figure plumbing shared by every figure: output colours,
saving with embedded provenance, and the plotter registry (figure name -> ``plot_<name>(data)``).

Figures are drawn only from cached figure-data dictionaries (never from models), so restyling a
figure never reruns an analysis.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

__all__ = ["get_plotter", "note_learned", "read_figure_provenance", "save_figure", "OUTPUT_COLORS"]

OUTPUT_COLORS = ["darkgreen", "royalblue", "darkred"]  # outputs 0, 1, 2 (as in the paper)
HMM_COLOR, RNN_COLOR = "0.45", "tab:orange"


def note_learned(fig, not_learned: dict | list | None, not_faithful: list | None = None,
                 per_line: int = 3) -> None:
    """Name under the figure, in red, the shown models that are not learned
    (:mod:`rnnhmm.claims.learned`: their dynamics and mechanism are not evidence about the paper),
    each with the conditions it fails ('?': not evaluable), and in grey those learned but not
    faithful (a strict performance claim fails, the deviation the paper's loss prefers,
    docs/loss_bias.md). ``not_learned``: {model: [conditions]} or a list of models."""
    y = -0.01
    if not_learned:
        items = (list(not_learned.items()) if isinstance(not_learned, dict)
                 else [(m, []) for m in not_learned])
        names = [f"{m} ({', '.join(c)})" if c else m for m, c in items]
        lines = [", ".join(names[i:i + per_line]) for i in range(0, len(names), per_line)]
        fig.text(0.01, y, "NOT LEARNED (not evidence about the paper): " + "\n".join(lines),
                 color="firebrick", fontsize=7, ha="left", va="top", transform=fig.transFigure)
        y -= (len(lines) + 0.5) * 7 * 1.4 / 72 / fig.get_figheight()  # 7 pt lines, in figure height
    if not_faithful:
        lines = [", ".join(not_faithful[i:i + per_line]) for i in range(0, len(not_faithful), per_line)]
        fig.text(0.01, y, "learned, not faithful (as the loss predicts, docs/loss_bias.md): " + "\n".join(lines),
                 color="0.45", fontsize=7, ha="left", va="top", transform=fig.transFigure)
    return None


def save_figure(fig, *paths, dpi: int = 150, provenance: dict | None = None) -> None:
    """Write ``fig`` to every path (format from the suffix; ``dpi`` for raster formats), then close it.

    ``provenance`` (a JSON-serialisable dict) is embedded in the file: as the PNG text chunk
    ``rnnhmm-provenance`` and as the PDF ``Subject``; read it back with ``read_figure_provenance``.
    """
    import json

    text = json.dumps(provenance, default=str) if provenance else None
    for path in paths:
        meta = None
        if text and str(path).endswith(".png"):
            meta = {"rnnhmm-provenance": text}
        elif text and str(path).endswith(".pdf"):
            meta = {"Subject": text, "Creator": "rnnhmm"}
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata=meta)
    plt.close(fig)


def read_figure_provenance(path) -> dict | None:
    """The provenance embedded by ``save_figure`` in a PNG, or None."""
    import json

    from PIL import Image

    with Image.open(path) as im:
        text = im.info.get("rnnhmm-provenance")
    return json.loads(text) if text else None


def symbol_cmap():
    from matplotlib.colors import ListedColormap

    return ListedColormap(OUTPUT_COLORS)


# Every figure module registers its own PLOTTERS dict.
_PLOTTER_MODULES = ("rnnhmm.figures.performance", "rnnhmm.figures.dynamics_plots", "rnnhmm.figures.mechanism_plots")


def get_plotter(name: str):
    """The plot function of figure ``name`` from the figure modules' ``PLOTTERS``."""
    import importlib

    for mod in _PLOTTER_MODULES:
        try:
            plotters = importlib.import_module(mod).PLOTTERS
        except ModuleNotFoundError as err:
            if err.name != mod:
                raise
            continue
        if name in plotters:
            return plotters[name]
    raise KeyError(f"no plotter registered for figure '{name}'")
