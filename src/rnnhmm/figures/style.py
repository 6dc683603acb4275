"""The one matplotlib style of the figures: ``rnnhmm.mplstyle`` (shipped as package data), applied
once by :mod:`rnnhmm.figures.common` on import."""

from __future__ import annotations

from pathlib import Path

STYLE = Path(__file__).with_name("rnnhmm.mplstyle")


def apply_style() -> None:
    """Make ``rnnhmm.mplstyle`` the current matplotlib style."""
    import matplotlib.pyplot as plt

    plt.style.use(STYLE)
