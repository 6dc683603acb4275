"""Figures of the paper: figure-data builders (cached analyses -> small JSON dicts) and plotters
(figure data -> matplotlib figure), per group of figures, plus the shared plumbing (:mod:`.common`)
and the one matplotlib style (:mod:`.style`, applied here, once, with the Agg backend)."""

import matplotlib

matplotlib.use("Agg")

from .style import apply_style  # noqa: E402

apply_style()
