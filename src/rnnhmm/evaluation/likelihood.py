"""Likelihood of symbol sequences under an HMM (exact) and under a noise-driven RNN (particle filter),
and the KL rate between the two: how far a model is from its HMM, in one number that sees every
statistic of the sequences at once (docs/likelihood.md).

The RNN (rnnhmm.model) is a nonlinear state-space model,

    h_s = ReLU(W_ih x_s + W_hh h_{s-1}),  x_s ~ N(0, I_D),  h_0 = 0,
    o | h ~ Categorical(softmax(W_out h))   (the hard Gumbel-softmax at tau = 1 samples exactly that),

so p_RNN(y) = E_x[prod_t softmax(W_out h_t)[y_t]]. :func:`rnn_loglik` estimates it with a bootstrap
particle filter (unbiased in p, biased low in log p; the bias shrinks as the particle count grows),
:func:`rnnhmm.hmm.hmm_loglik` gives log p_HMM(y) exactly by the scaled forward algorithm, and :func:`kl_rate`
gives (1/T) E_y~HMM[log p_HMM(y) - log p_RNN(y)], which the filter's log-bias makes biased *high*.

Conventions (checked against rnnhmm.model.generate_outputs and rnnhmm.hmm.HMM.sample):

* HMM: z_0 ~ ``start``, o_t ~ ``emission[z_t]`` at every step t = 0..T-1, z_{t+1} ~ ``transition[z_t]``.
* RNN, ``uniform_first=True`` (generate_outputs' default and the pipeline's ``metrics.uniform_first_symbol``):
  o_0 is read from h_0 = 0 (logits 0: uniform over the K symbols, log-increment exactly -log K),
  then o_t from h_t for t = 1..T-1 (T-1 noise steps). ``uniform_first=False``: o_t from h_{t+1},
  t = 0..T-1 (T noise steps). Both start at h_0 = 0 (training's random h_0 is not the
  evaluation protocol).
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from rnnhmm.analyses.measures import DIVERGE_NORM
from rnnhmm.hmm import HMM, as_symbols, hmm_forward
from rnnhmm.model import Weights

__all__ = ["rnn_loglik", "hmm_filter_loglik", "kl_rate", "doubling_rule", "converged_kl_rate"]

# ---------------------------------------------------------------------------------------- RNN side
def _systematic(w: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Systematic resampling: normalised weights (n, P) -> ancestor indices (n, P), one uniform per row."""
    n, P = w.shape
    u = (torch.rand(n, 1, generator=generator, device=w.device, dtype=w.dtype)
         + torch.arange(P, device=w.device, dtype=w.dtype)) / P
    c = w.cumsum(dim=1)
    c[:, -1] = 1.0 + 1e-12  # guard against round-off in the last cumulative weight
    return torch.searchsorted(c, u).clamp_(max=P - 1)


@torch.no_grad()
def rnn_loglik(weights: Weights, y, particles: int, seed: int = 0, *, uniform_first: bool = True,
               ess_threshold: float = 0.5, device=None, dtype=None, max_rows: int = 1 << 17,
               diverge_norm: float = DIVERGE_NORM) -> tuple[np.ndarray, np.ndarray, dict]:
    """Bootstrap particle filter estimate of log p_RNN(y) for each sequence of y (N, T).

    Per sequence, ``particles`` (P) hidden states start at h_0 = 0. At each noise step every
    particle draws x ~ N(0, I) and moves, h <- ReLU(W_ih x + W_hh h), and is weighted by
    g = softmax(W_out h)[y_t]. The step's log-increment is log sum_p wbar_p g_p (wbar: the
    normalised weights carried in, i.e. the log-mean-exp of g right after a resampling); the
    log-likelihood estimate is the sum of the increments. After weighting, a sequence whose
    effective sample size 1 / sum wbar^2 is below ``ess_threshold`` * P is resampled (systematic
    resampling, weights reset to uniform); ``ess_threshold = 0`` never resamples (importance
    sampling from the prior), ``1`` resamples at every step.

    Divergence: a particle whose |h| (Euclidean norm) exceeds ``diverge_norm`` (the project's bound,
    rnnhmm.analyses.measures.DIVERGE_NORM = 1e6) or is not finite gets weight 0 from then on
    (its state is zeroed to keep the arithmetic finite) and is counted once. A sequence all of whose
    particles have diverged gets log-likelihood -inf.

    ``uniform_first``: the convention of rnnhmm.model.generate_outputs (module docstring): y_0 from
    h_0 = 0, increment -log K exactly. Runs on ``device`` (default: the weights' device) in ``dtype``
    (default: the weights' dtype) for the dynamics; weights and increments are accumulated in
    float64. Random numbers come from a generator on that device seeded with ``seed``; sequences
    are processed in chunks of at most ``max_rows`` particles in all (the numbers depend on the chunking).

    Returns (loglik (N,), increments (N, T), stats): float64 numpy arrays, and stats with
    ``n_diverged`` (total particles excluded), ``diverged_per_seq`` (N,), ``dead_sequences`` (N with
    every particle diverged), ``ess_mean`` / ``ess_min`` (ESS / P after weighting, mean and minimum over
    steps and sequences), ``resample_fraction`` (share of sequence-steps resampled), ``particles``,
    ``seconds``.
    """
    t0 = time.perf_counter()
    W_ih, W_hh, W_out = weights
    dev = torch.device(device) if device is not None else W_ih.device
    dt = dtype if dtype is not None else W_ih.dtype
    W_ih, W_hh, W_out = (w.to(dev, dt) for w in (W_ih, W_hh, W_out))
    H, D, K = W_hh.shape[0], W_ih.shape[1], W_out.shape[0]
    y = torch.from_numpy(as_symbols(y))
    N, T = y.shape
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= K):
        raise ValueError(f"symbols must lie in 0..{K - 1}, got {int(y.min())}..{int(y.max())}")
    P = int(particles)
    if P < 1:
        raise ValueError(f"particles must be >= 1, got {particles}")
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    W_ih_T, W_hh_T, W_out_T = W_ih.T.contiguous(), W_hh.T.contiguous(), W_out.T.contiguous()
    inc = torch.zeros(N, T, dtype=torch.float64)
    div_per_seq = torch.zeros(N, dtype=torch.int64)
    ess_sum, ess_min, n_ess, n_resampled = 0.0, float("inf"), 0, 0
    chunk = max(1, max_rows // P)
    first = 1 if uniform_first else 0
    if uniform_first and T > 0:
        inc[:, 0] = -math.log(K)
    for s0 in range(0, N, chunk):
        n = min(chunk, N - s0)
        yc = y[s0:s0 + n].to(dev)
        h = torch.zeros(n * P, H, device=dev, dtype=dt)
        logw = torch.full((n, P), -math.log(P), device=dev, dtype=torch.float64)  # normalised log-weights
        alive = torch.ones(n, P, dtype=torch.bool, device=dev)
        ndiv = torch.zeros(n, dtype=torch.int64, device=dev)
        for t in range(first, T):
            x = torch.randn(n * P, D, generator=gen, device=dev, dtype=dt)
            a = x @ W_ih_T
            a.addmm_(h, W_hh_T)
            h = a.relu_()
            norm = torch.linalg.vector_norm(h, dim=1).view(n, P)
            bad = alive & ~(norm <= diverge_norm)  # also catches NaN / inf
            if bool(bad.any()):
                ndiv += bad.sum(dim=1)
                alive &= ~bad
                h.masked_fill_(~alive.view(-1, 1), 0.0)
            logits = h @ W_out_T
            logg = (logits.gather(1, yc[:, t].repeat_interleave(P).view(-1, 1)).squeeze(1)
                    - torch.logsumexp(logits, dim=1)).view(n, P).to(torch.float64)
            logg = logg.masked_fill(~alive, -math.inf)
            lw = logw + logg
            step = torch.logsumexp(lw, dim=1)  # log sum_p wbar_p g_p
            inc[s0:s0 + n, t] = step.cpu()
            dead = ~torch.isfinite(step)
            logw = torch.where(dead[:, None], torch.full_like(lw, -math.log(P)), lw - step[:, None])
            wbar = logw.exp()
            ess = 1.0 / (wbar * wbar).sum(dim=1)
            live = ~dead
            if bool(live.any()):
                e = ess[live] / P
                ess_sum += float(e.sum())
                n_ess += int(live.sum())
                ess_min = min(ess_min, float(e.min()))
            rs = live & (ess < ess_threshold * P)
            if bool(rs.any()):
                idx = rs.nonzero().squeeze(1)
                anc = _systematic(wbar[idx], gen)  # (r, P) ancestors within each sequence
                hv = h.view(n, P, H)
                hv[idx] = torch.gather(hv[idx], 1, anc[..., None].expand(-1, -1, H))
                alive[idx] = torch.gather(alive[idx], 1, anc)
                logw[idx] = -math.log(P)
                n_resampled += int(idx.numel())
        div_per_seq[s0:s0 + n] = ndiv.cpu()
    inc_np = inc.numpy()
    steps_run = max(T - first, 0) * N
    stats = {
        "particles": P, "n_diverged": int(div_per_seq.sum()), "diverged_per_seq": div_per_seq.numpy(),
        "dead_sequences": int(np.sum(~np.isfinite(inc_np).all(axis=1))) if T else 0,
        "ess_mean": ess_sum / n_ess if n_ess else float("nan"),
        "ess_min": ess_min if n_ess else float("nan"),
        "resample_fraction": n_resampled / steps_run if steps_run else 0.0,
        "seconds": time.perf_counter() - t0, "device": str(dev),
    }
    return inc_np.sum(axis=1), inc_np, stats


@torch.no_grad()
def hmm_filter_loglik(hmm: HMM, y, particles: int, seed: int = 0, *,
                      ess_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The same bootstrap particle filter as :func:`rnn_loglik`, run on the HMM itself: particles
    are latent states (z_0 ~ start, z_t ~ transition[z_{t-1}]), weighted by emission[z_t, y_t],
    systematically resampled when the ESS falls below ``ess_threshold`` * P. Returns (log p̂ (N,),
    increments (N, T)), float64.

    Since log p_HMM(y) is known exactly (:func:`rnnhmm.hmm.hmm_loglik`), the difference is the
    filter's own log-bias at P particles on a model that is exactly right: the floor a KL-rate
    estimate of a perfect emulator would sit at (:func:`kl_rate`'s ``kl_self``)."""
    y = torch.from_numpy(as_symbols(y))
    N, T = y.shape
    P = int(particles)
    if P < 1:
        raise ValueError(f"particles must be >= 1, got {particles}")
    gen = torch.Generator().manual_seed(int(seed))
    cum_start = torch.as_tensor(np.cumsum(hmm.start), dtype=torch.float64)
    cum_A = torch.as_tensor(np.cumsum(hmm.transition, axis=1), dtype=torch.float64)
    with np.errstate(divide="ignore"):  # log 0 = -inf: a state that cannot emit the symbol
        logE = torch.as_tensor(np.log(hmm.emission), dtype=torch.float64)
    M = hmm.n_states
    z = (torch.rand(N, P, 1, generator=gen, dtype=torch.float64) > cum_start[:-1]).sum(-1)
    logw = torch.full((N, P), -math.log(P), dtype=torch.float64)
    inc = torch.zeros(N, T, dtype=torch.float64)
    for t in range(T):
        if t:
            u = torch.rand(N, P, 1, generator=gen, dtype=torch.float64)
            z = (u > cum_A[z][..., : M - 1]).sum(-1)
        lw = logw + logE[z, y[:, t].view(-1, 1)]
        step = torch.logsumexp(lw, dim=1)
        inc[:, t] = step
        dead = ~torch.isfinite(step)
        logw = torch.where(dead[:, None], torch.full_like(lw, -math.log(P)), lw - step[:, None])
        wbar = logw.exp()
        rs = ~dead & (1.0 / (wbar * wbar).sum(dim=1) < ess_threshold * P)
        if bool(rs.any()):
            idx = rs.nonzero().squeeze(1)
            z[idx] = torch.gather(z[idx], 1, _systematic(wbar[idx], gen))
            logw[idx] = -math.log(P)
    inc_np = inc.numpy()
    return inc_np.sum(axis=1), inc_np


# ---------------------------------------------------------------------------------------- KL rate
def _se(v: np.ndarray) -> float:
    """Standard error of the mean over sequences (NaN for fewer than 2 or non-finite values)."""
    if len(v) < 2 or not np.all(np.isfinite(v)):
        return float("nan")
    return float(np.std(v, ddof=1) / math.sqrt(len(v)))


def kl_rate(weights: Weights, hmm: HMM, y, particles: int, seed: int = 0, *, uniform_first: bool = True,
            **filter_kw) -> dict:
    """KL rate of the RNN from the HMM on sequences y (N, T) (normally the HMM's own samples):

    * ``kl_rate`` = mean over sequences of (log p_HMM(y) - log p̂_RNN(y)) / T, nats per step, and
      ``kl_se``, its standard error over sequences (the filter's own noise included);
    * ``entropy_rate`` = -(1/T) mean log p_HMM(y) (the HMM's entropy rate when y ~ HMM) and ``entropy_se``;
    * ``rare_symbol`` (:func:`rnnhmm.hmm.rare_symbol`; None if the HMM has none) and ``rare_share`` = sum over the
      steps with y_t = rare symbol of (HMM increment - RNN increment) / the same sum over all steps,
      the increments being the forward algorithm's log p(y_t | y_<t) and the filter's log-increments;
      ``rare_step_fraction``: the share of steps that emit the rare symbol;
    * ``kl_per_step_mean`` (T,): mean over sequences of the per-step differences (where the KL sits in time);
    * the filter's statistics (``n_diverged``, ``dead_sequences``, ESS, ``seconds``) and ``particles``,
      ``n_seq``, ``T``;
    * ``kl_self`` and ``kl_self_se``: the same estimate for the HMM against itself (the filter run on
      the HMM's own particles, :func:`hmm_filter_loglik`, same P, same sequences; its true value is
      0, so this is the filter's measured bias), and ``kl_excess_se``: the standard error over
      sequences of the paired difference (model's minus the HMM's own), the yardstick of the KL
      claim (rnnhmm.claims.performance.kl_claim); ``self_dead_sequences``: sequences on which the
      HMM's own filter lost every particle (an HMM whose states emit disjoint symbols, as the
      linear chains' do, kills a small filter at a switch no particle has made; kl_self is then inf).

    The estimate is biased high (log p̂_RNN is biased low) by an amount that falls with ``particles``:
    see :func:`converged_kl_rate`. Sequences the filter cannot explain (all particles diverged) give
    kl_rate = inf. ``filter_kw`` go to :func:`rnn_loglik`.
    """
    y = as_symbols(y)
    N, T = y.shape
    lh, inc_h = hmm_forward(hmm, y)
    lr, inc_r, st = rnn_loglik(weights, y, particles, seed, uniform_first=uniform_first, **filter_kw)
    d = (lh - lr) / T
    ls, _ = hmm_filter_loglik(hmm, y, particles, seed, ess_threshold=filter_kw.get("ess_threshold", 0.5))
    d_self = (lh - ls) / T
    with np.errstate(invalid="ignore"):  # inf - inf where both filters died: no SE (NaN)
        excess_se = _se(d - d_self)
    diff = inc_h - inc_r
    k = hmm.rare_symbol()
    total = float(diff.sum())
    if k is None:
        share, frac = None, None
    else:
        m = y == k
        share = float(diff[m].sum() / total) if np.isfinite(total) and total != 0 else float("nan")
        frac = float(m.mean())
    return {
        "kl_rate": float(d.mean()), "kl_se": _se(d),
        "kl_self": float(d_self.mean()), "kl_self_se": _se(d_self), "kl_excess_se": excess_se,
        "self_dead_sequences": int(np.sum(~np.isfinite(ls))),
        "entropy_rate": float(-(lh / T).mean()), "entropy_se": _se(-lh / T),
        "rare_symbol": k, "rare_share": share, "rare_step_fraction": frac,
        "kl_per_step_mean": diff.mean(axis=0),
        "particles": int(particles), "n_seq": int(N), "T": int(T), "uniform_first": bool(uniform_first),
        "n_diverged": st["n_diverged"], "dead_sequences": st["dead_sequences"], "ess_mean": st["ess_mean"],
        "ess_min": st["ess_min"], "resample_fraction": st["resample_fraction"], "seconds": st["seconds"],
        "loglik_hmm": lh, "loglik_rnn": lr,
    }


def doubling_rule(trace, paired: bool = False) -> tuple[int, bool]:
    """The stopping rule of :func:`converged_kl_rate` applied to a trace [(P, E(P), SE(P), seconds,
    move SE), ...] of doubling particle counts: (index of the first entry i >= 1 with
    |E_i - E_{i-1}| < SE_i, True), or (the last index, False) if none. ``paired``: the yardstick is
    the entry's move SE (the SE over sequences of the per-sequence change from the previous entry)
    instead of SE_i."""
    for i in range(1, len(trace)):
        if abs(trace[i][1] - trace[i - 1][1]) < trace[i][4 if paired else 2]:
            return i, True
    return len(trace) - 1, False


def converged_kl_rate(weights: Weights, hmm: HMM, y, p0: int = 64, p_max: int = 4096, seed: int = 0,
                      paired: bool = False, **kw) -> dict:
    """The KL rate at a particle count large enough that doubling it no longer matters.

    Rule (exactly): estimate the KL rate E(P) with P = p0 particles; then repeatedly double P
    (P <= p_max) and estimate E(P) again on the same sequences y with the same ``seed``; stop at the
    first P with |E(P) - E(P/2)| < SE(P) (SE(P): the standard error over sequences of E(P), ``kl_se``)
    and report E(P), SE(P) and that P with ``converged = True``. If P reaches p_max without
    meeting the rule, report E(p_max), SE(p_max), P = p_max and ``converged = False``. Since E(P) is
    biased high and decreasing in P, a converged estimate still sits above the limit by about its
    last move or less.

    SE(P) is mostly the sequences' own spread, which does not shrink with P, so the default rule
    stops early on a model whose estimate still falls steadily (docs/likelihood.md, measured).
    ``paired=True`` uses instead the move's own SE: the standard error over sequences of the
    per-sequence change (log p̂_RNN at P minus at P/2)/T, i.e. it stops once the move is within the
    filter's noise.

    Returns {"kl_rate", "kl_se", "particles", "converged", "paired", "trace": [(P, E(P), SE(P),
    seconds, move SE (NaN for the first)), ...], "last": the full :func:`kl_rate` record at the
    reported P}. ``kw`` go to :func:`kl_rate`.
    """
    if p0 < 1 or p_max < p0:
        raise ValueError(f"need 1 <= p0 <= p_max, got p0={p0}, p_max={p_max}")
    trace, prev, P = [], None, int(p0)
    while True:
        r = kl_rate(weights, hmm, y, P, seed, **kw)
        move_se = float("nan") if prev is None else _se((prev["loglik_rnn"] - r["loglik_rnn"]) / r["T"])
        trace.append((P, r["kl_rate"], r["kl_se"], r["seconds"], move_se))
        done = prev is not None and doubling_rule(trace[-2:], paired)[1]
        if done or 2 * P > p_max:
            return {"kl_rate": r["kl_rate"], "kl_se": r["kl_se"], "particles": P, "converged": bool(done),
                    "paired": paired, "trace": trace, "last": r}
        prev, P = r, 2 * P
