"""The likelihood objective of training (``training.objective: likelihood``, docs/training.md): the
FIVO bound (Maddison et al., "Filtering Variational Objectives", NeurIPS 2017) of a bootstrap
particle filter over the RNN's input noise, batched over models x sequences x particles.

For one model and one sequence y_1..y_L, P particles start at h_0 (zero, or N(0, I) per particle
with ``random_h0``, as training's sequences start). At every step each particle draws its input
noise x ~ N(0, I_D) (reparameterised: the noise is drawn first, the states are differentiable
functions of the weights), moves, h <- ReLU(W_ih x + W_hh h), and is weighted by
g = softmax(W_out h)[y_t]; the step's log-increment is log sum_p wbar_p g_p, wbar being the
normalised weights carried in (uniform after a resampling). Where the effective sample size
1 / sum wbar^2 falls below ``ess_threshold * P`` the sequence is resampled (systematic resampling,
one uniform per sequence and step); the ancestor indices are not differentiated (no
score-function term: the usual, biased but low-variance FIVO gradient). The bound is the sum of
the log-increments: E[bound] <= log p_RNN(y) (Jensen, the filter's estimate of p being
unbiased), tighter as P grows. Outputs o_t are read from h_t, t = 1..L (training's convention:
L noise steps, no uniform first symbol).

Divergence, as the evaluation filter (:func:`rnnhmm.evaluation.likelihood.rnn_loglik`): a particle
whose state is non-finite or has |h| > ``diverge_norm`` (the project's DIVERGE_NORM, 1e6) gets weight
zero from then on (its state is set to 0 so that the arithmetic stays finite) until a resampling
replaces it. A sequence whose particles have all diverged is *dead*: each of its remaining steps
adds the constant :data:`DEAD_LOG_INCREMENT` (no gradient) and it is counted in the statistics.

Shapes: S models (leading axis of the weights), B sequences, P particles; the particle rows of
model s are b * P + p, one tensor (S, B*P, H). The input projection of all steps is one batched
matmul (:func:`rnnhmm.model.project_inputs`); the readout runs in an outputs-major (S, K, B*P)
layout (reductions over K = 3 along a long axis).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch.profiler import record_function

from rnnhmm.analyses.measures import DIVERGE_NORM
from rnnhmm.model import project_inputs

__all__ = ["DEAD_LOG_INCREMENT", "Draws", "draw", "systematic", "fivo_bound", "likelihood_loss", "validation_bound"]

DEAD_LOG_INCREMENT = math.log(1e-30)  # per step of a sequence whose particles have all diverged


class Draws(NamedTuple):
    """The random numbers of one bound evaluation, per model: input noise (S, B*P, L, D), h_0
    (S, B*P, H) or None (h_0 = 0), resampling uniforms (S, L, B)."""

    noise: torch.Tensor
    h0: torch.Tensor | None
    u: torch.Tensor


def draw(gens: Sequence[torch.Generator], B: int, P: int, L: int, D: int, H: int, random_h0: bool,
         device) -> Draws:
    """Draw from each model's generator, in this order: noise (B*P, L, D), h_0 (B*P, H) when
    ``random_h0``, resampling uniforms (L, B)."""
    noise, h0, u = [], [], []
    for g in gens:
        noise.append(torch.randn(B * P, L, D, generator=g, device=device))
        if random_h0:
            h0.append(torch.randn(B * P, H, generator=g, device=device))
        u.append(torch.rand(L, B, generator=g, device=device))
    return Draws(torch.stack(noise), torch.stack(h0) if random_h0 else None, torch.stack(u))


def systematic(w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Systematic resampling: normalised weights (..., P) and one uniform per row (...) -> ancestor
    indices (..., P) (as :func:`rnnhmm.evaluation.likelihood._systematic`, with the uniforms given)."""
    P = w.shape[-1]
    pos = (u.unsqueeze(-1) + torch.arange(P, device=w.device, dtype=w.dtype)) / P
    c = w.cumsum(dim=-1)
    c[..., -1] = 1.0 + 1e-12  # guard against round-off in the last cumulative weight
    return torch.searchsorted(c, pos).clamp_(max=P - 1)


def fivo_bound(W_ih: torch.Tensor, W_hh: torch.Tensor, W_out: torch.Tensor, y: torch.Tensor, draws: Draws,
               ess_threshold: float = 0.5, diverge_norm: float = DIVERGE_NORM) -> tuple[torch.Tensor, dict]:
    """The FIVO bound of every sequence under every model: weights (S, H, D), (S, H, H), (S, K, H),
    y (S, B, L) integer symbols, ``draws`` (:func:`draw`, P = rows / B). Returns the bound (S, B),
    differentiable w.r.t. the weights when grad is enabled, and statistics (tensors, no device sync):
    ``n_diverged`` (S,), ``dead`` (S,) sequences whose particles all diverged, ``resampled`` (S,)
    sequence-steps resampled, ``ess`` (S,) mean ESS / P after weighting."""
    S, B, L = y.shape
    H = W_hh.shape[-1]
    BP = draws.noise.shape[1]
    P = BP // B
    if P * B != BP or draws.noise.shape[2] != L:
        raise ValueError(f"fivo_bound: draws {tuple(draws.noise.shape)} do not fit {B} sequences of {L} steps")
    dev = W_hh.device
    log_p = math.log(P)
    with record_function("fivo projection"):
        drive = project_inputs(W_ih, draws.noise)  # (S, L, B*P, H), time-major
        # one view per step: unbind's backward stacks the L gradients once (indexing drive[:, t]
        # per step would make every step's backward fill and add a full-size zero tensor)
        drives = drive.unbind(1)
    W_hh_T = W_hh.transpose(1, 2)
    y_rows = y.repeat_interleave(P, dim=1).transpose(1, 2).unsqueeze(2)  # (S, L, 1, B*P)
    u = draws.u.double()
    h = draws.h0 if draws.h0 is not None else drive.new_zeros(S, BP, H)
    logw = torch.full((S, B, P), -log_p, device=dev, dtype=drive.dtype)  # normalised log-weights
    alive = torch.ones(S, B, P, dtype=torch.bool, device=dev)
    dead = torch.zeros(S, B, dtype=torch.bool, device=dev)
    offsets = (torch.arange(B, device=dev) * P).view(1, B, 1)
    identity = torch.arange(P, device=dev).expand(S, B, P)
    bound = drive.new_zeros(S, B)
    n_div = torch.zeros(S, dtype=torch.long, device=dev)
    n_rs = torch.zeros(S, dtype=torch.long, device=dev)
    ess_sum = torch.zeros(S, dtype=torch.float64, device=dev)
    for t in range(L):
        with record_function("fivo move"):
            h = torch.relu(torch.baddbmm(drives[t], h, W_hh_T))
            with torch.no_grad():
                norm = torch.linalg.vector_norm(h.detach(), dim=-1).view(S, B, P)
                bad = alive & ~(norm <= diverge_norm)  # also NaN / inf
            if bool(bad.any()):
                n_div += bad.sum(dim=(1, 2))
                alive = alive & ~bad
                h = torch.where(alive.view(S, BP, 1), h, 0.0)
                dead = ~alive.any(dim=-1)
        with record_function("fivo weight"):
            logits = torch.bmm(W_out, h.transpose(1, 2))  # (S, K, B*P): outputs-major
            logg = logits.gather(1, y_rows[:, t]).squeeze(1) - torch.logsumexp(logits, dim=1)
            logg = logg.view(S, B, P).masked_fill(~alive, -math.inf)
            lw = logw + logg
            any_dead = bool(dead.any())
            if any_dead:
                lw = lw.masked_fill(dead.unsqueeze(-1), 0.0)
            step = torch.logsumexp(lw, dim=-1)  # log sum_p wbar_p g_p
            if any_dead:
                step = torch.where(dead, DEAD_LOG_INCREMENT, step)
            bound = bound + step
            logw = lw - step.unsqueeze(-1)
            if any_dead:
                logw = logw.masked_fill(dead.unsqueeze(-1), -log_p)
        with record_function("fivo resample"), torch.no_grad():
            wbar = logw.detach().double().exp()
            ess = 1.0 / (wbar * wbar).sum(dim=-1)  # (S, B)
            ess_sum += torch.where(dead, 0.0, ess / P).sum(dim=1)
            rs = (ess < ess_threshold * P) & ~dead
        if bool(rs.any()):
            with record_function("fivo resample"):
                with torch.no_grad():
                    anc = torch.where(rs.unsqueeze(-1), systematic(wbar, u[:, t]), identity)  # (S, B, P)
                    rows = (anc + offsets).view(S, BP, 1).expand(S, BP, H)
                    n_rs += rs.sum(dim=1)
                h = h.gather(1, rows)  # ancestors' states (gradient flows to them; indices detached)
                alive = alive.gather(-1, anc)
                logw = torch.where(rs.unsqueeze(-1), torch.full_like(logw, -log_p), logw)
    n_live = (B - dead.sum(dim=1)).clamp_min(1)
    stats = {"n_diverged": n_div, "dead": dead.sum(dim=1), "resampled": n_rs,
             "ess": ess_sum / (L * n_live).double()}
    return bound, stats


def likelihood_loss(params: dict, gens: Sequence[torch.Generator], y: torch.Tensor, particles: int,
                    ess_threshold: float, random_h0: bool) -> tuple[torch.Tensor, dict]:
    """Training loss of one batch for S models: -(sum over the batch of the bound) / (L * B) per model
    (mean nats per step and sequence), shape (S,), differentiable; ``params`` the engine's stacked
    weights (``weight_ih``, ``weight_hh``, ``readout``), ``gens`` the models' noise generators (drawn
    from as :func:`draw`), y (S, B, L) integer symbols."""
    W_ih, W_hh, W_out = params["weight_ih"], params["weight_hh"], params["readout"]
    S, B, L = y.shape
    with record_function("noise"):
        dr = draw(gens, B, particles, L, W_ih.shape[-1], W_hh.shape[-1], random_h0, W_hh.device)
    bound, stats = fivo_bound(W_ih, W_hh, W_out, y, dr, ess_threshold)
    return -bound.sum(dim=1) / (L * B), stats


@torch.no_grad()
def validation_bound(params: dict, seeds: Sequence[int], y: torch.Tensor, batches, particles: int,
                     ess_threshold: float, random_h0: bool) -> torch.Tensor:
    """The bound on the validation data, nats per step and sequence, per model (S,) float64: the
    mean over all sequences of bound / L, computed in the training batches ``batches`` [(start,
    end)]. Its random numbers come from a generator per model seeded from the model's seed alone,
    afresh at every call: the same noise every epoch, so that the curve moves with the weights only,
    and the models' own generators (training's random numbers) are not touched."""
    W_ih, W_hh = params["weight_ih"], params["weight_hh"]
    dev = W_hh.device
    gens = [torch.Generator(device=dev).manual_seed(validation_seed(s)) for s in seeds]
    S, N, L = y.shape
    total = torch.zeros(S, dtype=torch.float64, device=dev)
    for s0, e0 in batches:
        dr = draw(gens, e0 - s0, particles, L, W_ih.shape[-1], W_hh.shape[-1], random_h0, dev)
        bound, _ = fivo_bound(W_ih, W_hh, params["readout"], y[:, s0:e0], dr, ess_threshold)
        total += bound.double().sum(dim=1)
    return total / (N * L)


def validation_seed(seed: int) -> int:
    """Seed of a model's validation-bound generator (distinct from the model's own seed)."""
    return (int(seed) * 1_000_003 + 0x5EED) % (2**63 - 1)
