"""Debiased Sinkhorn divergence between one-hot point clouds, S problems at once: the training loss
of :mod:`rnnhmm.training.engine` (a re-implementation of geomloss's ``SamplesLoss("sinkhorn", p=2,
debias=True, scaling=0.5)``; the engine's docstring says what it saves and why it is exact).
"""

from __future__ import annotations

import math

import numpy as np
import torch

_SCHEDULES: dict = {}


def sinkhorn_schedule(diameter: float, blur: float, scaling: float) -> list[float]:
    """geomloss's eps-scaling schedule for p = 2 (the very same function; memoised)."""
    key = (diameter, blur, scaling)
    if key not in _SCHEDULES:
        if len(_SCHEDULES) > 10000:
            _SCHEDULES.clear()
        _SCHEDULES[key] = [float(e) for e in epsilon_schedule(2, diameter, blur, scaling)]
    return _SCHEDULES[key]


def epsilon_schedule(p: float, diameter: float, blur: float, scaling: float) -> list:
    """geomloss's ``epsilon_schedule`` (0.3.x), restated here so that no private module of
    geomloss is imported: diameter^p, then exponential cooling by scaling^p down to blur^p.
    ``tests/test_engine.py`` checks it against geomloss's own where that is importable."""
    return ([diameter ** p]
            + [np.exp(e) for e in np.arange(p * np.log(diameter), p * np.log(blur), p * np.log(scaling))]
            + [blur ** p])


def _diameters(x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Per model, as geomloss's max_diameter: norm of the coordinate ranges of x and y together."""
    mins = torch.minimum(x.amin(dim=1), y.amin(dim=1))
    maxs = torch.maximum(x.amax(dim=1), y.amax(dim=1))
    return (maxs - mins).norm(dim=-1).tolist()


# exp of float32 arguments below about -87 underflows (to a denormal or 0), and PyTorch's
# vectorised CPU exp then takes a slow path (10-30x slower per element). In a logsumexp every
# argument is <= 0 after subtracting the row maximum, and the sum is >= 1, so arguments below -87
# contribute less than N * 1.7e-38, far below float32 resolution: clamping them at -87 leaves the
# result unchanged (bit for bit for N < 1e30) and avoids the slow path.
_EXP_FLOOR = -87.0


def _lse_(Z: torch.Tensor, dim: int) -> torch.Tensor:
    """logsumexp of Z along ``dim``; overwrites Z."""
    m = Z.amax(dim, keepdim=True)
    s = Z.sub_(m).clamp_min_(_EXP_FLOOR).exp_().sum(dim)
    return s.log_().add_(m.squeeze(dim))


class Softmin:
    """-eps * logsumexp_j (h_j - C_ij / eps) for S models, eps (S,), C (S,N,M), h (S,M) -> (S,N).

    One fused pass (addcdiv) builds h_j - C_ij / eps into a reused work buffer (fresh multi-MB
    allocations cost page faults on every call)."""

    def __init__(self):
        self.buf: dict = {}

    def z(self, eps: torch.Tensor, C: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        key = (tuple(C.shape), C.dtype, C.device)
        if key not in self.buf:
            self.buf[key] = torch.empty_like(C)
        return torch.addcdiv(h.unsqueeze(1), C, eps.view(-1, 1, 1), value=-1.0, out=self.buf[key])

    def __call__(self, eps: torch.Tensor, C: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return -eps.view(-1, 1) * _lse_(self.z(eps, C, h), 2)


def _run_group(eps_rows: torch.Tensor, C_xy, C_xx, C_yy, a_log, b_log, x, y, a, b, need_grad,
               softmin: Softmin | None = None):
    """geomloss's sinkhorn_loop (balanced, debiased) for models sharing the schedule length.

    eps_rows (T, S). C_yy None: the b<->b problem is skipped (its term is supplied by the caller).
    Returns loss without the <b, g_bb> term (S,), <b, g_bb> (S,) or None, grad (S,N,F) or None.
    """
    _softmin_rows = softmin or Softmin()
    C_yx = C_xy.transpose(1, 2).contiguous()
    eps = eps_rows[0]
    g_ab = _softmin_rows(eps, C_yx, a_log)
    f_ba = _softmin_rows(eps, C_xy, b_log)
    f_aa = _softmin_rows(eps, C_xx, a_log)
    g_bb = _softmin_rows(eps, C_yy, b_log) if C_yy is not None else None
    for eps in eps_rows:
        e = eps.view(-1, 1)
        ft_ba = _softmin_rows(eps, C_xy, b_log + g_ab / e)
        gt_ab = _softmin_rows(eps, C_yx, a_log + f_ba / e)
        ft_aa = _softmin_rows(eps, C_xx, a_log + f_aa / e)
        if g_bb is not None:
            gt_bb = _softmin_rows(eps, C_yy, b_log + g_bb / e)
        f_ba, g_ab = 0.5 * (f_ba + ft_ba), 0.5 * (g_ab + gt_ab)
        f_aa = 0.5 * (f_aa + ft_aa)
        if g_bb is not None:
            g_bb = 0.5 * (g_bb + gt_bb)
    # last extrapolation (the step geomloss differentiates through, potentials detached)
    eps = eps_rows[-1]
    e3 = eps.view(-1, 1, 1)
    e = eps.view(-1, 1)
    Z_xy = torch.addcdiv((b_log + g_ab / e).unsqueeze(1), C_xy, e3, value=-1.0)
    Z_xx = torch.addcdiv((a_log + f_aa / e).unsqueeze(1), C_xx, e3, value=-1.0)
    # _lse_ leaves exp(Z - rowmax) in Z; the plans are that divided by the row sums
    lse_xy, lse_xx = _lse_(Z_xy, 2), _lse_(Z_xx, 2)
    g_ab_new = _softmin_rows(eps, C_yx, a_log + f_ba / e)
    f_ba = -e * lse_xy
    f_aa = -e * lse_xx
    g_ab = g_ab_new
    bb_term = None
    if g_bb is not None:
        g_bb = _softmin_rows(eps, C_yy, b_log + g_bb / e)
        bb_term = (b * g_bb).sum(1)
    partial = (a * (f_ba - f_aa)).sum(1) + (b * g_ab).sum(1)
    grad = None
    if need_grad:
        P = Z_xy.div_(Z_xy.sum(2, keepdim=True))  # (S,N,M), softmax rows, sum to 1
        Q = Z_xx.div_(Z_xx.sum(2, keepdim=True))  # (S,N,N)
        coef = (P.sum(2) - Q.sum(2)).unsqueeze(2)
        grad = a.unsqueeze(2) * (coef * x + Q @ x - P @ y)
    return partial, bb_term, grad


# Sums outside [_LO, _HI] mean the absorbed kernel left float32's comfortable range: that problem
# is redone in the log domain (_run_group). Entries clamped at exp(-87) add at most M * 1.6e-38 to
# a sum >= 1e-20: far below float32 resolution.
_LO, _HI = 1e-20, 1e20
FALLBACKS = {"calls": 0, "log_domain": 0}  # diagnostics: problems redone in the log domain


_LOG2E = 1.4426950408889634


def _absorbed_group(eps_rows: torch.Tensor, C_xy, C_xx, C_yy, xh, y, need_grad, bufs: dict, clamp: bool = True):
    """geomloss's sinkhorn_loop (balanced, debiased, uniform weights) with the potentials absorbed
    into the kernel: K_ij = exp((f_i + g_j - C_ij) / eps), so that both softmins of a pair are
    row / column sums of one exp pass: softmin_j(C, b, g)_i = f_i - eps log(mean_j K_ij), and
    likewise for columns. Same updates and values as :func:`_run_group` (algebraically equal;
    float32 rounding differs). Returns (partial, bb_term or None, grad or None, ok (S,) bool):
    ``ok`` False where a sum left [_LO, _HI] (redo that problem with :func:`_run_group`).
    """
    S, N, M = C_xy.shape
    logN, logM = math.log(N), math.log(M)
    ok = torch.ones(S, dtype=torch.bool, device=C_xy.device)

    def kernel(f, g, C, eps, name):
        # exp(z) as exp2(z * log2(e)): torch's vectorised CPU exp takes a 10-30x slower path for
        # arguments below about -87, exp2 does not; results below 2^-126 (denormal, and slow in
        # the sums and matmuls that follow) are flushed to zero by the caller (FTZ/DAZ) or, where
        # that is unavailable, avoided by clamping the argument
        c = _LOG2E / eps.view(-1, 1)
        key = (name, tuple(C.shape), C.dtype, C.device)
        if key not in bufs:
            bufs[key] = torch.empty_like(C)
        Z = torch.addcdiv((g * c).unsqueeze(1), C, (1.0 / c).unsqueeze(2), value=-1.0, out=bufs[key])
        if f is not None:
            Z.add_((f * c).unsqueeze(2))
        if clamp:
            Z.clamp_min_(-126.0)
        return Z.exp2_()

    def logmean(K, dim, log_n):
        nonlocal ok
        s = K.sum(dim)
        ok = ok & ((s > _LO) & (s < _HI)).all(dim=1)
        return s.log().sub_(log_n), s

    zN = C_xy.new_zeros(S, N)
    zM = C_xy.new_zeros(S, M)
    eps = eps_rows[0]
    e = eps.view(-1, 1)
    K = kernel(None, zM, C_xy, eps, "xy")
    g_ab = -e * logmean(K, 1, logN)[0]
    f_ba = -e * logmean(K, 2, logM)[0]
    f_aa = -e * logmean(kernel(None, zN, C_xx, eps, "xx"), 2, logN)[0]
    g_bb = -e * logmean(kernel(None, zM, C_yy, eps, "yy"), 2, logM)[0] if C_yy is not None else None
    for eps in eps_rows:
        e = eps.view(-1, 1)
        K = kernel(f_ba, g_ab, C_xy, eps, "xy")
        ft_ba = f_ba - e * logmean(K, 2, logM)[0]
        gt_ab = g_ab - e * logmean(K, 1, logN)[0]
        ft_aa = f_aa - e * logmean(kernel(f_aa, f_aa, C_xx, eps, "xx"), 2, logN)[0]
        if g_bb is not None:
            gt_bb = g_bb - e * logmean(kernel(g_bb, g_bb, C_yy, eps, "yy"), 2, logM)[0]
            g_bb = 0.5 * (g_bb + gt_bb)
        f_ba, g_ab, f_aa = 0.5 * (f_ba + ft_ba), 0.5 * (g_ab + gt_ab), 0.5 * (f_aa + ft_aa)
    # last extrapolation (the step geomloss differentiates through, potentials detached)
    eps = eps_rows[-1]
    e = eps.view(-1, 1)
    Kxy = kernel(f_ba, g_ab, C_xy, eps, "xy")
    lr, s_xy = logmean(Kxy, 2, logM)
    lc, _ = logmean(Kxy, 1, logN)
    Kxx = kernel(f_aa, f_aa, C_xx, eps, "xx")
    lx, s_xx = logmean(Kxx, 2, logN)
    f_new, g_new, faa_new = f_ba - e * lr, g_ab - e * lc, f_aa - e * lx
    bb_term = None
    if g_bb is not None:
        g_bb = g_bb - e * logmean(kernel(g_bb, g_bb, C_yy, eps, "yy"), 2, logM)[0]
        bb_term = g_bb.mean(1)
    partial = (f_new - faa_new).mean(1) + g_new.mean(1)
    grad = None
    if need_grad:
        # dS/dx_i = a_i [ (sum_j P_ij - sum_k Q_ik) x_i - (P y)_i + (Q x)_i ]; the rows of the plans
        # P = K_xy / rowsum, Q = K_xx / rowsum sum to 1, so the first term vanishes
        grad = (torch.bmm(Kxx, xh) / s_xx.unsqueeze(2) - torch.bmm(Kxy, y) / s_xy.unsqueeze(2)).div_(N)
    return partial, bb_term, grad, ok


def onehot_sinkhorn(x: torch.Tensor, y: torch.Tensor, blur: float = 0.2, scaling: float = 0.5,
                    need_grad: bool = True, bb_cache: dict | None = None, cache_key=None,
                    x_hard: torch.Tensor | None = None, softmin: Softmin | None = None):
    """Debiased Sinkhorn divergence (geomloss, p = 2, tensorized) of S pairs of one-hot clouds.

    x (S, N, F): model outputs (one-hot up to rounding, e.g. straight-through samples; the
    diameter is taken from these values as geomloss does); y (S, M, F): exact one-hot targets;
    ``x_hard``: the exact one-hot of x (defaults to ``x.round()``). Uniform weights.
    ``bb_cache`` + ``cache_key`` (hashable, identifying the S target batches): cache of the
    target-target term <b, g_bb>, keyed by batch, model and diameter (6 significant digits).
    Returns (loss (S,), grad w.r.t. x (S, N, F) or None).
    """
    if x.dim() != 3 or y.dim() != 3:
        raise ValueError(f"expected (S, N, F) inputs, got {tuple(x.shape)} and {tuple(y.shape)}")
    S, N, F = x.shape
    M = y.shape[1]
    x = x.detach()
    xh = x.round() if x_hard is None else x_hard.detach()
    L = float(xh[0, 0].sum().item())  # one-hot: |x|^2 = L (sum of one row)
    # the S x (N, M) cost matrices, exact integers: |x - y|^2 / 2 = L - <x, y>
    C_xy = L - xh @ y.transpose(1, 2)
    C_xx = L - xh @ xh.transpose(1, 2)
    a = torch.full((S, N), 1.0 / N, dtype=x.dtype, device=x.device)
    b = torch.full((S, M), 1.0 / M, dtype=x.dtype, device=x.device)
    a_log, b_log = a.log(), b.log()
    diameters = _diameters(x, y)
    schedules = [sinkhorn_schedule(d, blur, scaling) for d in diameters]
    loss = torch.empty(S, dtype=x.dtype, device=x.device)
    grad = torch.empty_like(x) if need_grad else None
    groups: dict[tuple, list[int]] = {}
    for s, sched in enumerate(schedules):
        groups.setdefault(len(sched), []).append(s)
    for _, idx in groups.items():
        ids = torch.tensor(idx, device=x.device)
        # the diameter of straight-through outputs wobbles in its last bits (1 - s + s != 1 in
        # float32); the b<->b term depends smoothly on it, so the key keeps 6 significant digits
        keys = [None if cache_key is None else (cache_key, s, f"{diameters[s]:.6g}", blur, scaling) for s in idx]
        cached = bb_cache is not None and all(k is not None and k in bb_cache for k in keys)
        C_yy = None
        if not cached:
            y_g = y[ids]
            C_yy = L - y_g @ y_g.transpose(1, 2)
        eps_rows = torch.tensor([schedules[s] for s in idx], dtype=x.dtype, device=x.device).T.contiguous()
        full = len(idx) == S
        sel = (lambda t: t) if full else (lambda t: t[ids])  # noqa: B023 (used in this iteration only)
        bufs = softmin.buf if softmin is not None else {}
        on_cpu = x.device.type == "cpu"
        ftz = on_cpu and torch.set_flush_denormal(True)  # flush denormals to zero (x86 FTZ/DAZ)
        try:
            partial, bb, g, ok = _absorbed_group(eps_rows, sel(C_xy), sel(C_xx), C_yy, sel(xh), sel(y),
                                                 need_grad, bufs, clamp=on_cpu and not ftz)
        finally:
            if ftz:
                torch.set_flush_denormal(False)
        FALLBACKS["calls"] += len(idx)
        if not bool(ok.all()):  # redo those problems in the log domain
            bad = (~ok).nonzero().flatten()
            FALLBACKS["log_domain"] += len(bad)
            pick = lambda t: sel(t)[bad]  # noqa: E731, B023 (used in this iteration only)
            p2, bb2, g2 = _run_group(eps_rows[:, bad], pick(C_xy), pick(C_xx), None if C_yy is None else C_yy[bad],
                                     pick(a_log), pick(b_log), pick(xh), pick(y), pick(a), pick(b), need_grad)
            partial[bad] = p2
            if bb is not None:
                bb[bad] = bb2
            if need_grad:
                g[bad] = g2
        if cached:
            bb = torch.stack([bb_cache[k] for k in keys])
        elif bb_cache is not None and cache_key is not None:
            for k, v in zip(keys, bb):
                bb_cache[k] = v.clone()
        loss[ids] = partial - bb
        if need_grad:
            grad[ids] = g
    return loss, grad
