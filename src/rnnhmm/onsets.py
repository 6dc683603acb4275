"""Training-time events of the evolution analyses (paper E.10), in numpy only: the claims and
plotting rules run in the light environment (envs/plots.yaml), without torch."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["persistent_onset", "plateau_exit"]


def _lower_median(x: np.ndarray) -> float:
    """The lower of the two middle values for an even count (as torch.median)."""
    s = np.sort(x)
    return float(s[(s.size - 1) // 2])


def persistent_onset(epochs, values, threshold: float, finite=None, min_frac: float = 0.9):
    """First evaluated epoch from which ``values`` exceed ``threshold`` at that epoch and at no less
    than ``min_frac`` of the finite evaluations up to the end (an onset that persists, not a single
    jump); non-finite snapshots (``finite`` False or nan values) are skipped. None if none."""
    v = np.asarray([math.nan if x is None else float(x) for x in values], dtype=np.float64)
    ok = np.isfinite(v)
    if finite is not None:
        ok &= np.asarray(list(finite), dtype=bool)
    ep = list(epochs)
    idx = np.flatnonzero(ok).tolist()
    above = [bool(v[i] > threshold) for i in idx]
    for k, i in enumerate(idx):
        if above[k] and sum(above[k:]) >= min_frac * (len(above) - k):
            return ep[i]
    return None


def plateau_exit(loss_per_epoch, epochs=None, plateau_frac: float = 0.2, smooth: int = 5) -> dict:
    """The loss drop of the paper (E.10) as the exit from the early (i.i.d.-output) plateau.

    The loss is smoothed by a centred running median of ``smooth`` epochs (transient spikes and
    non-finite values do not count). Plateau level P = median over the first ``plateau_frac`` of
    training; final level F = median over the last 10%. The exit is the first epoch from which the
    smoothed loss stays below (P + F) / 2 until the end. Returns {'epoch' (or None), 'plateau',
    'final', 'threshold'}; None when the loss never falls below the midpoint for good, or when
    P <= F (no drop)."""
    loss = np.asarray([math.nan if x is None else float(x) for x in loss_per_epoch], dtype=np.float64)
    n = loss.size
    ep = list(range(1, n + 1)) if epochs is None else list(epochs)
    w = max(1, int(smooth))
    s = np.full(n, math.nan)
    for i in range(n):
        win = loss[max(0, i - w // 2): i + w // 2 + 1]
        win = win[np.isfinite(win)]
        if win.size:
            s[i] = _lower_median(win)
    fin = np.isfinite(s)
    head = s[: max(1, int(round(plateau_frac * n)))]
    tail = s[-max(1, int(round(0.1 * n))):] if n else s
    head, tail = head[np.isfinite(head)], tail[np.isfinite(tail)]
    if head.size == 0 or tail.size == 0:
        return {"epoch": None, "plateau": None, "final": None, "threshold": None}
    P, F = _lower_median(head), _lower_median(tail)
    thr = 0.5 * (P + F)
    out = {"epoch": None, "plateau": P, "final": F, "threshold": thr}
    if not P > F:
        return out
    below = (s < thr) | ~fin
    for i in range(n):
        if bool(fin[i]) and bool(below[i:].all()):
            out["epoch"] = ep[i]
            break
    return out
