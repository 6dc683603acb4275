"""Evaluation metrics of the paper (docs/claims.md D).

* D.1 Sinkhorn-aligned Euclidean distance: :func:`sinkhorn_plan_argmax`, :func:`matched_distances`.
* D.2 observation volatility: :func:`volatility`.
* D.3 per-sequence output frequencies: :func:`output_frequencies`.
* D.4 empirical output-to-output transition matrix: :func:`output_transition_matrix`.
* :func:`emission_statistics` and :func:`compare` bundle these into JSON-serialisable dicts.

Conventions: observations are integer symbols ``obs`` of shape (n, L) (any integer dtype);
one-hot sequences are float tensors (n, L, K). Distances are plain Euclidean norms between
flattened one-hot sequences (so between two sequences differing at k steps the distance is
sqrt(2 k)). Everything is vectorised over sequences; only the Sinkhorn iterations loop.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..analyses.measures import frequent_block as _frequent_block

__all__ = [
    "sinkhorn_potentials",
    "sinkhorn_plan",
    "sinkhorn_plan_argmax",
    "matched_distances",
    "volatility",
    "output_frequencies",
    "output_transition_matrix",
    "emission_statistics",
    "compare",
]

# Defaults of the reference evaluation solver (docs/claims.md D.1: SinkhornSolver(epsilon=0.1, iterations=1000)).
EPS = 0.1
MAX_ITER = 1000
TOL = 0.1
LOG_OFFSET = 1e-8  # added to the uniform marginal inside the log, as in the reference


# ---------------------------------------------------------------------- Sinkhorn (D.1)
def _as_float(t, dtype: torch.dtype | None) -> torch.Tensor:
    t = torch.as_tensor(t)
    if dtype is not None:
        return t.to(dtype)
    return t if t.is_floating_point() else t.to(torch.float32)


_TAU = 20.0  # max |potential - absorbed potential| / eps before the kernel is rebuilt
_EXP_FLOOR = -80.0  # exponents below this are clamped (e^-80 ~ 2e-35 of the row max: negligible);
# it also keeps exp() off its very slow underflow path on CPU


def _lse(z: torch.Tensor, dim: int) -> torch.Tensor:
    """Max-shifted logsumexp of z (consumed in place) along ``dim``."""
    mx = z.amax(dim=dim, keepdim=True)
    z.sub_(mx).clamp_(min=_EXP_FLOOR).exp_()
    return z.sum(dim=dim).log_().add_(mx.squeeze(dim))


class _AbsorbedSinkhorn:
    """Half-steps of the log-domain Sinkhorn recursion evaluated through an absorbed kernel."""

    def __init__(self, C: torch.Tensor, eps: float, log_a: float, log_b: float):
        self.C, self.eps, self.log_a, self.log_b = C, eps, log_a, log_b
        self.G = torch.empty_like(C)
        self.u0 = self.v0 = None
        self.huge = torch.finfo(C.dtype).max / 1e6
        self.floor = math.exp(_EXP_FLOOR)
        self.n_absorb = 0

    def _absorb(self, u: torch.Tensor, v: torch.Tensor) -> None:
        eps = self.eps
        torch.sub(u[:, None], self.C, out=self.G).add_(v[None, :]).div_(eps)
        self.G.clamp_(min=_EXP_FLOOR).exp_()
        self.u0, self.v0 = u.clone(), v.clone()
        self.n_absorb += 1

    def _ok(self, sums: torch.Tensor, scale: torch.Tensor) -> bool:
        """Sums are finite and dominated by genuine kernel entries, not by clamped ones
        (whose total is at most len(scale) * e^_EXP_FLOOR * max(scale)): relative error < 1e-7."""
        bound = 1e7 * scale.numel() * self.floor * float(scale.max())
        return bool(((sums > bound) & (sums < self.huge)).all())

    def _exact(self, u, v, dim):
        z = torch.sub(u[:, None], self.C).add_(v[None, :]).div_(self.eps)
        return _lse(z, dim)

    def update_u(self, u, v):
        eps = self.eps
        if self.u0 is not None:
            dv = (v - self.v0) / eps
            if float(dv.abs().max()) <= _TAU:
                t = dv.exp_()
                r = self.G @ t
                if self._ok(r, t):
                    return eps * (self.log_a - r.log_()) + self.u0
        # exact log-domain half-step, then rebuild the kernel around the new potentials
        u_new = eps * (self.log_a - self._exact(u, v, 1)) + u
        self._absorb(u_new, v)
        return u_new

    def update_v(self, u, v):
        eps = self.eps
        du = (u - self.u0) / eps
        if float(du.abs().max()) <= _TAU:
            s = du.exp_()
            c = s @ self.G
            if self._ok(c, s):
                return eps * (self.log_b - c.log_()) + self.v0
        v_new = eps * (self.log_b - self._exact(u, v, 0)) + v
        self._absorb(u, v_new)
        return v_new


def sinkhorn_potentials(x: torch.Tensor, y: torch.Tensor, eps: float = EPS, max_iter: int = MAX_ITER,
                        tol: float = TOL, dtype: torch.dtype | None = None):
    """Log-domain entropic OT between uniform clouds ``x`` (n, F) and ``y`` (m, F).

    Cost C_ij = ||x_i - y_j||_2 (not squared). Potentials start at 0; each iteration
    ``u <- eps (log a - LSE_j((-C + u + v) / eps)) + u`` then the same for ``v`` over columns
    with the new ``u``; stop once ``sum|du| + sum|dv| < tol`` or after ``max_iter`` iterations.
    a = 1/n, b = 1/m with 1e-8 added inside the log. Runs on the device of ``x``.

    Returns ``(C, u, v, n_iter)``: C (n, m), u (n,), v (m,) in the working dtype (float32 unless
    ``dtype`` or float64 inputs say otherwise) and the number of iterations performed.
    The plan is ``exp((-C + u[:, None] + v[None, :]) / eps)``.
    """
    x = _as_float(x, dtype)
    y = _as_float(y, x.dtype).to(x.device)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (n, F) and (m, F) with the same F, got {tuple(x.shape)}, {tuple(y.shape)}")
    n, m = x.shape[0], y.shape[0]
    # Euclidean cost via the Gram matrix (15x faster than the difference mode on CPU); exact for
    # one-hot data (integer dot products), ~1e-3 absolute for near-identical general float points.
    C = torch.cdist(x, y, p=2.0, compute_mode="use_mm_for_euclid_dist")
    log_a = math.log(1.0 / n + LOG_OFFSET)
    log_b = math.log(1.0 / m + LOG_OFFSET)
    u = torch.zeros(n, dtype=x.dtype, device=x.device)
    v = torch.zeros(m, dtype=x.dtype, device=x.device)
    # Implementation: the iterates are exactly those of the log-domain recursion above, but each
    # half-step is evaluated with the usual "absorption" trick (Schmitzer 2019) to replace the
    # exp-heavy logsumexp over (n, m) by a mat-vec: with a kernel G = exp((-C + u0 + v0)/eps)
    # built at absorbed potentials (u0, v0),
    #     eps*(log a - LSE_j((-C + u + v)/eps)) + u = eps*(log a - log(G @ exp((v - v0)/eps))) + u0.
    # G is rebuilt from the current potentials when |u - u0|/eps or |v - v0|/eps exceeds ``_TAU``
    # or a sum under/overflows; such half-steps fall back to an exact, max-shifted logsumexp.
    solver = _AbsorbedSinkhorn(C, eps, log_a, log_b)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (returned: the iterations run)
        u_new = solver.update_u(u, v)
        v_new = solver.update_v(u_new, v)
        err = (u_new - u).abs().sum() + (v_new - v).abs().sum()
        u, v = u_new, v_new
        if float(err) < tol:
            break
    return C, u, v, n_iter


def sinkhorn_plan(x: torch.Tensor, y: torch.Tensor, **kw) -> torch.Tensor:
    """Transport plan pi (n, m) = exp((-C + u + v)/eps) of :func:`sinkhorn_potentials` (same kwargs).

    Rows sum to a = 1/n and columns to b = 1/m once converged. Meant for small clouds and tests.
    """
    eps = kw.get("eps", EPS)
    C, u, v, _ = sinkhorn_potentials(x, y, **kw)
    return torch.exp((-C + u[:, None] + v[None, :]) / eps)


def sinkhorn_plan_argmax(x: torch.Tensor, y: torch.Tensor, eps: float = EPS, max_iter: int = MAX_ITER,
                         tol: float = TOL, dtype: torch.dtype | None = None):
    """Evaluation matching of docs/claims.md D.1: for every column j (sample y_j) the row i*(j) = argmax_i pi_ij.

    x (n, F), y (m, F). Not a bijection: rows may be chosen several times.
    Returns ``(idx, n_iter)``: idx a LongTensor (m,) on the device of ``x``, n_iter an int.
    """
    C, u, _, n_iter = sinkhorn_potentials(x, y, eps=eps, max_iter=max_iter, tol=tol, dtype=dtype)
    # argmax_i exp((-C_ij + u_i + v_j)/eps) = argmax_i (u_i - C_ij): v_j and the monotone map drop out.
    C.neg_().add_(u[:, None])
    idx = C.argmax(dim=0)
    return idx, n_iter


def _flatten(t) -> torch.Tensor:
    t = torch.as_tensor(t)
    if not t.is_floating_point():
        t = t.to(torch.float32)
    return t.reshape(t.shape[0], -1)


def matched_distances(a, b, **kw) -> torch.Tensor:
    """Sinkhorn-aligned Euclidean distances d_j = ||a[i*(j)] - b[j]||_2, shape (m,).

    a (n, L, K) and b (m, L, K) one-hot sequences (or already flat (n, F), (m, F)); numpy arrays
    are accepted. b is the second argument of the match, as in the reference
    (score = match(HMM, RNN)). ``kw`` goes to :func:`sinkhorn_plan_argmax`.
    """
    xa, xb = _flatten(a), _flatten(b)
    xb = xb.to(device=xa.device)
    idx, _ = sinkhorn_plan_argmax(xa, xb, **kw)
    diff = xa[idx].to(torch.float64) - xb.to(torch.float64)
    return torch.linalg.vector_norm(diff, dim=1)


# ---------------------------------------------------------------------- emission statistics (D.2-D.4)
def _obs(obs) -> np.ndarray:
    if isinstance(obs, torch.Tensor):
        obs = obs.detach().cpu().numpy()
    obs = np.asarray(obs)
    if obs.ndim != 2:
        raise ValueError(f"obs must be integer symbols of shape (n, L), got shape {obs.shape}")
    return obs.astype(np.int64, copy=False)


def volatility(obs) -> np.ndarray:
    """Number of output changes per sequence, count_nonzero(diff(o)), shape (n,) int64. obs (n, L)."""
    o = _obs(obs)
    return np.count_nonzero(np.diff(o, axis=1), axis=1).astype(np.int64)


def output_frequencies(obs, K: int) -> np.ndarray:
    """Per-sequence fraction of time steps showing each symbol, shape (n, K) float64; rows sum to 1."""
    o = _obs(obs)
    n, L = o.shape
    if o.size and (o.min() < 0 or o.max() >= K):
        raise ValueError(f"symbols must lie in [0, {K}), got range [{o.min()}, {o.max()}]")
    keys = (np.arange(n)[:, None] * K + o).ravel()
    return np.bincount(keys, minlength=n * K).reshape(n, K) / L


def output_transition_matrix(obs, K: int) -> np.ndarray:
    """Empirical P(o_t = j | o_{t-1} = i), shape (K, K) float64, from all pairs of all sequences.

    Rows of symbols never seen at t-1 (zero counts) stay all zero (no NaN).
    """
    o = _obs(obs)
    if o.size and (o.min() < 0 or o.max() >= K):
        raise ValueError(f"symbols must lie in [0, {K}), got range [{o.min()}, {o.max()}]")
    pairs = o[:, :-1].ravel() * K + o[:, 1:].ravel()
    counts = np.bincount(pairs, minlength=K * K).reshape(K, K).astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)


def emission_statistics(obs, K: int) -> dict:
    """JSON-serialisable summary of a sample obs (n, L): volatility mean/std (changes per sequence),
    per-symbol frequency mean/std across sequences (lists of K) and the transition matrix (K x K lists)."""
    vol = volatility(obs)
    freq = output_frequencies(obs, K)
    return {
        "n_sequences": int(vol.shape[0]),
        "seq_len": int(_obs(obs).shape[1]),
        "volatility_mean": float(vol.mean()),
        "volatility_std": float(vol.std()),
        "frequencies_mean": freq.mean(axis=0).tolist(),
        "frequencies_std": freq.std(axis=0).tolist(),
        "transition_matrix": output_transition_matrix(obs, K).tolist(),
    }


def _one_hot_t(obs, K: int, device=None) -> torch.Tensor:
    o = torch.as_tensor(_obs(obs), device=device)
    return torch.nn.functional.one_hot(o, K).to(torch.float32)


def compare(hmm_obs_1, hmm_obs_2, hmm_obs_3, rnn_obs, K: int, device=None, **sinkhorn_kw) -> dict:
    """Full D.1-D.4 comparison of an RNN sample with HMM samples; JSON-serialisable dict.

    All inputs are integer symbols (n, L), the three HMM samples independent. RNN score:
    match(H1, R) with R the second argument; HMM floor: match(H2, H3). Emission statistics
    come from H1 (``hmm``) and R (``rnn``); ``transition_sq_diff`` is (T_H1 - T_R)^2 elementwise.
    ``device`` is where the Sinkhorn runs (default CPU); ``sinkhorn_kw`` go to the solver.
    """
    h1, h2, h3, r = (_one_hot_t(o, K, device) for o in (hmm_obs_1, hmm_obs_2, hmm_obs_3, rnn_obs))
    d_rnn = matched_distances(h1, r, **sinkhorn_kw).cpu().numpy()
    d_hmm = matched_distances(h2, h3, **sinkhorn_kw).cpu().numpy()
    s_hmm = emission_statistics(hmm_obs_1, K)
    s_rnn = emission_statistics(rnn_obs, K)
    sq = (np.asarray(s_hmm["transition_matrix"]) - np.asarray(s_rnn["transition_matrix"])) ** 2
    return {
        "rnn_distance_mean": float(d_rnn.mean()),
        "rnn_distance_std": float(d_rnn.std()),
        "hmm_distance_mean": float(d_hmm.mean()),
        "hmm_distance_std": float(d_hmm.std()),
        "hmm": s_hmm,
        "rnn": s_rnn,
        "transition_sq_diff": sq.tolist(),
    }


# ---------------------------------------------------------------------- performance claims (G.2)
def change_rate(obs, skip_first: bool = True) -> float:
    """Fraction of consecutive steps whose symbol changes, over all sequences of obs (n, L).

    With ``skip_first`` the first symbol is dropped: under the reference's evaluation protocol it
    is uniform (read from h_0 = 0), not the model's, so volatility compared with an HMM that
    starts stationary is biased by it (~0.6 changes of 6.8 for M=2, issue 10)."""
    o = _obs(obs)
    if skip_first:
        o = o[:, 1:]
    return float(np.mean(o[:, 1:] != o[:, :-1])) if o.shape[1] > 1 else float("nan")


def _standardised(dev: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """|dev| / sd, with entries of zero spread giving 0 when dev is 0 and inf otherwise."""
    dev = np.abs(dev)
    out = np.divide(dev, sd, out=np.zeros_like(dev), where=sd > 0)
    out[(sd <= 0) & (dev > 1e-12)] = np.inf
    return out


def performance_record(rnn_obs, hmm, repeats: int = 200, seed=None, skip_first: bool = True,
                       quantile: float = 0.99) -> dict:
    """Statistics of the performance claims for one sample obs (n, L) of a model, with their spread
    over ``repeats`` independent HMM samples of the same size (n, L) (the null a perfect emulator
    would show), all computed the same way (first symbol dropped when ``skip_first``).

    Returns a JSON-serialisable dict: ``change_rate`` {rnn, null_mean, null_sd}; ``transition``
    {rnn, null_mean, null_sd (K x K), max_z (max_ij |ΔP_ij| / SD_ij), argmax 'i->j', max_abs,
    null_q (the ``quantile`` of the same max over the null samples, each against the null mean),
    excluded_symbol}; ``rare`` (None without a rare symbol) {symbol, rnn, hmm (its columns), rnn_row,
    hmm_row, max_z, null_q}. With a rare symbol, ``transition``'s maximum runs over the transitions
    between the other symbols (rows renormalised over them), and ``rare``'s over the transitions into
    and out of the rare symbol (its column and row), so one defect is not counted by two claims.
    """
    o = _obs(rnn_obs)
    n, L = o.shape
    K = hmm.n_outputs
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    crop = (lambda x: x[:, 1:]) if skip_first else (lambda x: x)
    null_cr, null_T = [], []
    for _ in range(repeats):
        h = hmm.sample(n, L, rng)
        null_cr.append(change_rate(h, skip_first))
        null_T.append(output_transition_matrix(crop(h), K))
    null_cr, null_T = np.asarray(null_cr), np.stack(null_T)
    T_mean, T_sd = null_T.mean(0), null_T.std(0, ddof=1)
    T_rnn = output_transition_matrix(crop(o), K)
    z = _standardised(T_rnn - T_mean, T_sd)
    null_z = np.stack([_standardised(t - T_mean, T_sd) for t in null_T])  # (R, K, K)
    r = hmm.rare_symbol()
    # transitions into and out of the rare symbol have a claim of their own; the transition claim
    # compares P(o_t = j | o_t-1 = i, o_t not rare) between the other symbols (renormalised rows:
    # a missing rare symbol otherwise shifts its probability onto the diagonal, and one defect
    # would fail two claims)
    cols = [c for c in range(K) if c != r]
    Fr, Fn = _frequent_block(T_rnn, cols), np.stack([_frequent_block(t, cols) for t in null_T])
    F_mean, F_sd = Fn.mean(0), Fn.std(0, ddof=1)
    zc = _standardised(Fr - F_mean, F_sd)
    null_zc = np.stack([_standardised(f - F_mean, F_sd) for f in Fn])
    ic, jc = np.unravel_index(int(np.argmax(zc)), zc.shape)
    i, j = cols[ic], cols[jc]
    keep = np.ones((K, K), dtype=bool)
    if r is not None:
        keep[r, :] = keep[:, r] = False
    out = {
        "repeats": int(repeats), "skip_first": bool(skip_first),
        "change_rate": {"rnn": change_rate(o, skip_first), "null_mean": float(null_cr.mean()),
                        "null_sd": float(null_cr.std(ddof=1))},
        "transition": {"rnn": T_rnn.tolist(), "null_mean": T_mean.tolist(), "null_sd": T_sd.tolist(),
                       "max_z": float(zc.max()), "argmax": f"{i}->{j}", "max_abs": float(np.abs(Fr - F_mean).max()),
                       "null_q": float(np.quantile(null_zc.reshape(repeats, -1).max(1), quantile)),
                       "excluded_symbol": r},
        "rare": None,
    }
    if r is not None:
        rare = ~keep
        out["rare"] = {"symbol": r, "rnn": T_rnn[:, r].tolist(), "hmm": T_mean[:, r].tolist(),
                       "rnn_row": T_rnn[r].tolist(), "hmm_row": T_mean[r].tolist(),
                       "max_z": float(z[rare].max()), "null_q": float(np.quantile(null_z[:, rare].max(1), quantile))}
    return out
