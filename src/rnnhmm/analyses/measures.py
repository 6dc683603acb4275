"""Torch-free measures on analysis results: the local-dynamics group codes, group means, the orbit
radius fit, the divergence guard's message, output switching rates, onsets that persist, the exit
from the loss plateau, epoch and mu grids, kick-group completion.

numpy only: the claims and figure-data jobs import them in the light environment (envs/plots.yaml,
no torch, no scikit-learn).
"""

from __future__ import annotations

import math

import numpy as np

GROUP_TRANSITION = 0  # residency time < 2
GROUP_KICK = 1  # 2 <= residency time <= 8
GROUP_CLUSTER = 2  # residency time > 8 and max softmax probability > 0.8
GROUP_OTHER = -1
# names of the group codes (GROUP_OTHER = -1 has none)
GROUP_NAMES = {GROUP_TRANSITION: "transition", GROUP_KICK: "kick", GROUP_CLUSTER: "cluster"}


# A trained network can be unstable over runs much longer than its training sequences: without
# biases the map is homogeneous, so once an expanding direction is active |h| grows geometrically
# and overflows. Such a model has no orbit to analyse; its analyses record why instead of crashing.
DIVERGE_NORM = 1e6


def first_diverged_step(norms, limit: float = DIVERGE_NORM) -> int | None:
    """The first step whose state norm (of ``norms`` (T,)) is non-finite or above ``limit``; None if none."""
    n = np.asarray(norms, dtype=float).ravel()
    bad = np.flatnonzero(~np.isfinite(n) | (n > limit))
    return int(bad[0]) if len(bad) else None


def divergence_message(norms, what: str = "noise-driven run", limit: float = DIVERGE_NORM) -> str | None:
    """None if the state norms (T,) of a run stay finite and below ``limit``, else a one-line reason."""
    n = np.asarray(norms, dtype=float).ravel()
    t = first_diverged_step(n, limit)
    if t is None:
        return None
    return (f"diverged: in the {what}, |h| exceeds {limit:g} at step {t} of {len(n)} "
            f"(|h| = {n[max(t - 1, 0)]:.3g} one step earlier); the model has no bounded orbit to analyse")


def pca_project(pca, states) -> np.ndarray:
    """Coordinates of states (..., H) (numpy or CPU tensor) on a fitted sklearn PCA, (..., n_components)."""
    X = np.asarray(states, dtype=np.float64)
    if X.size == 0:
        return np.zeros((*X.shape[:-1], pca.n_components_))
    return pca.transform(X.reshape(-1, X.shape[-1])).reshape(*X.shape[:-1], -1)


def switch_rate(outputs) -> float:
    """Fraction of consecutive steps whose output differs, for a 1-D label sequence."""
    o = np.asarray(outputs).ravel()
    return float(np.mean(o[1:] != o[:-1])) if len(o) > 1 else float("nan")


def group_means(groups, values, min_states: int = 1) -> dict:
    """Mean of values per group name (transition, kick, cluster) over groups with >= min_states
    states (others: nan), plus counts."""
    g, v = np.asarray(groups), np.asarray(values, float)
    out = {}
    for code, name in GROUP_NAMES.items():
        sel = g == code
        out[name] = float(v[sel].mean()) if sel.sum() >= min_states else float("nan")
        out[f"n_{name}"] = int(sel.sum())
    return out


def radius_fit(stds, radius) -> dict:
    """Least-squares line radius = a std + b; R^2; radius/std relative to its median (max deviation)."""
    s, r = np.asarray(stds, float), np.asarray(radius, float)
    a, b = np.polyfit(s, r, 1)
    pred = a * s + b
    ss = float(np.sum((r - r.mean()) ** 2))
    r2 = 1.0 - float(np.sum((r - pred) ** 2)) / ss if ss > 0 else float("nan")
    ratio = r / s
    med = float(np.median(ratio))
    dev = float(np.max(np.abs(ratio / med - 1))) if med > 0 else float("inf")
    return {"slope": float(a), "intercept": float(b), "r2": r2, "ratio_median": med, "ratio_max_dev": dev}


def subspace_residency(a: dict, label: str) -> dict:
    """The residency arrays of output pair ``label`` ('01') of a subspaces analysis, without prefix."""
    pre = f"res{label}_"
    out = {k[len(pre):]: v for k, v in a.items() if k.startswith(pre)}
    err = a["meta"].get("residency_errors", {}).get(label)
    out["failed"] = err is not None
    out["meta"] = {"error": err} if err else {}
    return out


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


def _single_phase_exit(loss: np.ndarray, ep: list, plateau_frac: float, smooth: int, z: float) -> dict:
    """:func:`plateau_exit` on one curriculum phase (see there)."""
    n = loss.size
    w = max(1, int(smooth))
    s = np.full(n, math.nan)
    for i in range(n):
        win = loss[max(0, i - w // 2): i + w // 2 + 1]
        win = win[np.isfinite(win)]
        if win.size:
            s[i] = _lower_median(win)
    fin = np.isfinite(s)
    raw = loss[np.isfinite(loss)]
    d = np.diff(raw)
    # per-epoch sampling spread of the validation loss: robust SD of epoch-to-epoch steps / sqrt(2)
    # (the median absolute step ignores the drop itself)
    noise = float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2)) if d.size >= 2 else 0.0
    out = {"epoch": None, "plateau": None, "final": None, "threshold": None, "noise_sd": noise,
           "first_epoch": ep[0] if ep else None, "significant": False}
    head = s[: max(1, int(round(plateau_frac * n)))]
    tail = s[-max(1, int(round(0.1 * n))):] if n else s
    head, tail = head[np.isfinite(head)], tail[np.isfinite(tail)]
    if head.size == 0 or tail.size == 0:
        return out
    P, F = _lower_median(head), _lower_median(tail)
    thr = 0.5 * (P + F)
    out.update(plateau=P, final=F, threshold=thr, significant=bool(P - F > z * noise))
    if not (P > F and out["significant"]):
        return out
    below = (s < thr) | ~fin
    for i in range(n):
        if bool(fin[i]) and bool(below[i:].all()):
            out["epoch"] = ep[i]
            break
    return out


def plateau_exit(loss_per_epoch, epochs=None, plateau_frac: float = 0.2, smooth: int = 5,
                 phase_starts=(), z: float = 3.0) -> dict:
    """The loss drop of the paper (E.10) as the exit from the early (i.i.d.-output) plateau.

    The loss is smoothed by a centred running median of ``smooth`` epochs (transient spikes and
    non-finite values do not count). Plateau level P = median over the first ``plateau_frac`` of
    training; final level F = median over the last 10%. The exit is the first epoch from which the
    smoothed loss stays below (P + F) / 2 until the end. A drop counts only when P - F exceeds ``z``
    times the per-epoch sampling spread of the loss (robust SD of its epoch-to-epoch steps over
    sqrt 2, ``noise_sd``): a flat noisy curve has no exit.

    A warm-up curriculum validates its first epochs on shorter sequences, whose loss is on another
    scale (lower): ``phase_starts`` (0-based positions where a new phase begins, e.g. [warmup_epochs])
    splits the curve into phases, each with its own P, F and smoothing (no window crosses the
    switch). The exit is that of the first phase with a significant drop (the network may leave the
    plateau during the warm-up, or only at full length).

    Returns {'epoch' (or None), 'plateau', 'final', 'threshold', 'noise_sd'} of the phase that gave
    the exit (else of the last phase), 'phase' (its index, or None) and 'phases' (every phase's
    record with its 'first_epoch' and 'significant'); epoch None when no phase falls below its
    midpoint for good after a significant drop."""
    loss = np.asarray([math.nan if x is None else float(x) for x in loss_per_epoch], dtype=np.float64)
    n = loss.size
    ep = list(range(1, n + 1)) if epochs is None else list(epochs)
    if len(ep) != n:
        raise ValueError(f"{len(ep)} epochs but {n} losses")
    cuts = [0] + sorted({int(c) for c in phase_starts if 0 < int(c) < n}) + [n]
    phases = [_single_phase_exit(loss[a:b], ep[a:b], plateau_frac, smooth, z) for a, b in zip(cuts[:-1], cuts[1:])]
    if not phases:
        return {"epoch": None, "plateau": None, "final": None, "threshold": None, "noise_sd": None,
                "phase": None, "phases": []}
    k = next((i for i, ph in enumerate(phases) if ph["epoch"] is not None), None)
    chosen = phases[k if k is not None else -1]
    return {**{key: chosen[key] for key in ("epoch", "plateau", "final", "threshold", "noise_sd")},
            "phase": k, "phases": phases}


def evaluated_epoch_indices(epochs, stride: int) -> list[int]:
    """Indices into ``epochs`` (snapshot epochs, ascending) of epochs 1, 1 + stride, ... (those
    present) plus the last snapshot: the reference's ep_rate subsampling."""
    ep = [int(e) for e in epochs]
    if not ep:
        return []
    idx = [i for i, e in enumerate(ep) if (e - ep[0]) % stride == 0]
    if idx[-1] != len(ep) - 1:
        idx.append(len(ep) - 1)
    return idx


def display_epochs(epochs, n: int, bifurcation=None) -> list[int]:
    """``n`` evaluated epochs spread evenly from the first to the last (by position), plus the
    bifurcation epoch if given; ascending, unique."""
    ep = [int(e) for e in epochs]
    if not ep:
        return []
    pos = np.unique(np.round(np.linspace(0, len(ep) - 1, min(n, len(ep)))).astype(int))
    out = {ep[i] for i in pos}
    if bifurcation is not None and int(bifurcation) in ep:
        out.add(int(bifurcation))
    return sorted(out)


def mu_grid(mu_max: float, step: float) -> list[float]:
    """0, step, 2 step, ... up to mu_max (inclusive, rounded to 10 decimals)."""
    n = int(math.floor(mu_max / step + 1e-9))
    return [round(i * step, 10) for i in range(n + 1)]


def mu_index(mus, value: float, tol: float = 1e-6) -> int:
    """Position of ``value`` in the sweep ``mus``; ValueError if it is not on the grid."""
    arr = np.asarray(mus, dtype=float)
    hits = np.flatnonzero(np.abs(arr - value) < tol)
    if hits.size == 0:
        raise ValueError(f"mu = {value} is not on the sweep grid {list(arr)}")
    return int(hits[0])


def complete_kick_groups(indices, ranked, fallback_top: int):
    """Kick groups for the downstream analyses, with a status per group.

    indices: the two lists of neurons that passed the criterion; ranked: the two candidate lists
    ordered by decreasing score (``select_kick_neurons``'s ``ranked``). A non-empty group is kept
    ('selected'); an empty one takes the first ``fallback_top`` ranked neurons ('fallback'),
    or stays empty ('empty') when fallback_top is 0 or there are no candidates.
    Returns (groups [list, list], status [str, str]).
    """
    groups, status = [], []
    for sel, rk in zip(indices, ranked):
        sel = [int(i) for i in sel]
        if sel:
            groups.append(sel)
            status.append("selected")
        elif fallback_top > 0 and len(rk):
            groups.append([int(i) for i in list(rk)[:fallback_top]])
            status.append("fallback")
        else:
            groups.append([])
            status.append("empty")
    return groups, status


def frequent_block(T: np.ndarray, cols: list[int]) -> np.ndarray:
    """Transition probabilities between the symbols ``cols``, rows renormalised over them
    (P(o_t = j | o_t-1 = i, o_t in cols)); rows without mass stay zero."""
    B = T[np.ix_(cols, cols)]
    s = B.sum(axis=1, keepdims=True)
    return np.divide(B, s, out=np.zeros_like(B), where=s > 0)
