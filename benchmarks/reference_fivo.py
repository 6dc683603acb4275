"""Not a benchmark: the FIVO bound written plainly, one model at a time (the style of the throwaway
prototype in /work/shared/likelihood_notes.md): a Python loop over models and time steps, the input
projection per step, the readout with log_softmax over the last axis, autograd throughout.

It takes the same random numbers as :func:`rnnhmm.training.fivo.fivo_bound` (a
:class:`rnnhmm.training.fivo.Draws`), so the two give the same bound and gradient
(``tests/test_likelihood_training.py``); ``benchmarks/bench_likelihood.py`` times one against the other.
"""

from __future__ import annotations

import math

import torch

from rnnhmm.analyses.measures import DIVERGE_NORM
from rnnhmm.training.fivo import DEAD_LOG_INCREMENT, Draws


def reference_bound_one(W_ih, W_hh, W_out, y, noise, h0, u, ess_threshold=0.5, diverge_norm=DIVERGE_NORM):
    """One model: weights (H, D), (H, H), (K, H); y (B, L); noise (L, B*P, D); h0 (B*P, H) or None;
    u (L, B). Returns the bound (B,)."""
    B, L = y.shape
    BP, H = noise.shape[1], W_hh.shape[0]
    P = BP // B
    h = h0 if h0 is not None else noise.new_zeros(BP, H)
    logw = noise.new_full((B, P), -math.log(P))
    alive = torch.ones(B, P, dtype=torch.bool)
    bound = noise.new_zeros(B)
    for t in range(L):
        h = torch.relu(noise[t] @ W_ih.T + h @ W_hh.T)
        with torch.no_grad():
            bad = alive & ~(h.norm(dim=1).view(B, P) <= diverge_norm)
        alive = alive & ~bad
        h = torch.where(alive.view(BP, 1), h, torch.zeros_like(h))
        logp = torch.log_softmax(h @ W_out.T, dim=1)
        logg = logp.gather(1, y[:, t].repeat_interleave(P).view(BP, 1)).view(B, P)
        logg = logg.masked_fill(~alive, -math.inf)
        dead = ~alive.any(dim=1)
        lw = (logw + logg).masked_fill(dead.view(B, 1), 0.0)
        step = torch.where(dead, torch.full_like(bound, DEAD_LOG_INCREMENT), torch.logsumexp(lw, dim=1))
        bound = bound + step
        logw = (lw - step.view(B, 1)).masked_fill(dead.view(B, 1), -math.log(P))
        with torch.no_grad():
            w = logw.double().exp()
            rs = (1.0 / (w * w).sum(dim=1) < ess_threshold * P) & ~dead
            pos = (u[t].double().view(B, 1) + torch.arange(P, dtype=torch.float64)) / P
            c = w.cumsum(dim=1)
            c[:, -1] = 1.0 + 1e-12
            anc = torch.where(rs.view(B, 1), torch.searchsorted(c, pos).clamp(max=P - 1), torch.arange(P))
        h = h.view(B, P, H).gather(1, anc.view(B, P, 1).expand(B, P, H)).view(BP, H)
        alive = alive.gather(1, anc)
        logw = torch.where(rs.view(B, 1), torch.full_like(logw, -math.log(P)), logw)
    return bound


def reference_bound(weights, y, draws: Draws, ess_threshold=0.5, diverge_norm=DIVERGE_NORM):
    """S models one after the other: weights [(W_ih, W_hh, W_out)] * S, y (S, B, L) -> [bound (B,)] * S."""
    return [reference_bound_one(*w, y[s], draws.noise[s], None if draws.h0 is None else draws.h0[s], draws.u[s],
                                ess_threshold, diverge_norm)
            for s, w in enumerate(weights)]
