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
model s are b * P + p, one tensor (S, B*P, H). The noise of all steps is drawn first, time-major
(S, L, B*P, D), and projected in one batched matmul; the states overwrite that projection in place;
the readout runs in an outputs-major (S, K, B*P) layout (reductions over K = 3 along a long axis);
the gradient is written down (:class:`_FivoBound`), no autograd graph per step. The same bound
written plainly with autograd, one model at a time, is ``benchmarks/reference_fivo.py``;
``tests/test_likelihood_training.py`` checks that both give the same bound and gradient.

Cost: the RNN of B*P sequences, forward and backward, per training batch. Memory: the states,
their gradient and the time-major noise are kept for the whole sequence, (2 H + D) * L * B * P * S
floats (B x P = 64 x 64, L = 50, H = 150, D = 100: 0.33 GB per model). Use a small ``batch_size``
(e.g. 64) with this objective.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch.profiler import record_function

from rnnhmm.analyses.measures import DIVERGE_NORM
from rnnhmm.model import addmm_

__all__ = ["DEAD_LOG_INCREMENT", "Draws", "draw", "systematic", "fivo_bound", "likelihood_loss", "validation_bound"]

DEAD_LOG_INCREMENT = math.log(1e-30)  # per step of a sequence whose particles have all diverged


class Draws(NamedTuple):
    """The random numbers of one bound evaluation, per model: input noise (S, L, B*P, D), time-major,
    h_0 (S, B*P, H) or None (h_0 = 0), resampling uniforms (S, L, B)."""

    noise: torch.Tensor
    h0: torch.Tensor | None
    u: torch.Tensor


def draw(gens: Sequence[torch.Generator], B: int, P: int, L: int, D: int, H: int, random_h0: bool,
         device) -> Draws:
    """Draw from each model's generator, in this order: noise (L, B*P, D) (time-major: the input
    projection needs no transposed copy), h_0 (B*P, H) when ``random_h0``, resampling uniforms (L, B).
    Written in place into the stacked tensors (no stacking copy)."""
    S = len(gens)
    noise = torch.empty(S, L, B * P, D, device=device)
    h0 = torch.empty(S, B * P, H, device=device) if random_h0 else None
    u = torch.empty(S, L, B, device=device)
    for s, g in enumerate(gens):
        noise[s].normal_(generator=g)
        if random_h0:
            h0[s].normal_(generator=g)
        u[s].uniform_(generator=g)
    return Draws(noise, h0, u)


def systematic(w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Systematic resampling: normalised weights (..., P) and one uniform per row (...) -> ancestor
    indices (..., P) (as :func:`rnnhmm.evaluation.likelihood._systematic`, with the uniforms given)."""
    P = w.shape[-1]
    pos = (u.unsqueeze(-1) + torch.arange(P, device=w.device, dtype=w.dtype)) / P
    c = w.cumsum(dim=-1)
    c[..., -1] = 1.0 + 1e-12  # guard against round-off in the last cumulative weight
    return torch.searchsorted(c, pos).clamp_(max=P - 1)


class _FivoBound(torch.autograd.Function):
    """The bound of S models x B sequences with its gradient written down (no autograd graph).

    Forward, per step: the states overwrite the input projection in place (a_t = drive_t + W_hh
    h_{t-1}, ReLU, diverged particles zeroed), the readout in an outputs-major layout, the weights,
    the increment and, where needed, the resampling (the resampled states are a gathered copy; the
    buffer keeps the states before resampling). Saved per step: the states (the buffer), the
    normalised weights after weighting wbar_t (S, B, P), which sequences were resampled or dead, and
    the ancestor rows.

    Backward: with lw_t = logw_{t-1} + log g_t and bound = sum_t log sum_p exp(lw_t), the gradient
    of the bound w.r.t. lw_t is G_t = wbar_t + [not resampled at t] (G_{t+1} - wbar_t sum_p G_{t+1})
    (0 for a dead sequence; resampling resets the weights to constants), i.e. the normalised weights
    at the end of the current resampling block. Then d log g / d logits = onehot(y) - softmax, through
    the readout, the ReLU mask and the recurrence; a resampling's gradient is scattered back to the
    ancestors (D_t = sum over the children, so dh_{t-1} = D_t W_hh, dW_hh += D_t^T h_{t-1}); the input
    weights' gradient is one matmul over all steps.
    """

    @staticmethod
    def forward(ctx, W_ih, W_hh, W_out, y, noise, h0, u, ess_threshold, diverge_norm, stats):
        S, B, L = y.shape
        BP, D = noise.shape[2], noise.shape[-1]
        P, H = BP // B, W_hh.shape[-1]
        dev, dt = W_hh.device, W_hh.dtype
        log_p = math.log(P)
        with record_function("fivo projection"):
            x = noise.reshape(S, L * BP, D)  # time-major (a view), kept for dW_ih
            states = torch.bmm(x, W_ih.transpose(1, 2)).view(S, L, BP, H)
        W_hh_T = W_hh.transpose(1, 2)
        y_rows = y.repeat_interleave(P, dim=1).transpose(1, 2).unsqueeze(2).contiguous()  # (S, L, 1, B*P)
        u = u.double()
        h = h0 if h0 is not None else states.new_zeros(S, BP, H)
        logw = torch.full((S, B, P), -log_p, device=dev, dtype=dt)  # normalised log-weights
        alive = torch.ones(S, B, P, dtype=torch.bool, device=dev)
        dead = torch.zeros(S, B, dtype=torch.bool, device=dev)
        any_dead = False  # changes only where particles diverge: one device sync fewer per step
        offsets = (torch.arange(B, device=dev) * P).view(1, B, 1)
        identity = torch.arange(P, device=dev).expand(S, B, P)
        bound = states.new_zeros(S, B)
        wbar_hist = states.new_empty(S, L, B, P)
        keep = torch.zeros(S, L, B, dtype=torch.bool, device=dev)  # not resampled at t (weights carried on)
        dead_hist = torch.zeros(S, L, B, dtype=torch.bool, device=dev)
        rows_hist: list = [None] * L  # ancestor rows (S, B*P) of the steps that resampled
        n_div = torch.zeros(S, dtype=torch.long, device=dev)
        n_rs = torch.zeros(S, dtype=torch.long, device=dev)
        ess_sum = torch.zeros(S, dtype=torch.float64, device=dev)
        n_ess = torch.zeros(S, dtype=torch.long, device=dev)  # live sequence-steps
        for t in range(L):
            with record_function("fivo move"):
                h_t = states[:, t]
                addmm_(h_t, h, W_hh_T)
                h_t.relu_()
                norm = torch.linalg.vector_norm(h_t, dim=-1).view(S, B, P)
                # past the bound (or NaN / inf): any particle, a dead one too (it keeps moving, from
                # 0, and would reach inf, whose NaN times a zero gradient is NaN)
                over = ~(norm <= diverge_norm)
                if bool(over.any()):
                    n_div += (alive & over).sum(dim=(1, 2))
                    alive &= ~over
                    h_t.masked_fill_(~alive.view(S, BP, 1), 0.0)
                    dead = ~alive.any(dim=-1)
                    any_dead = bool(dead.any())
            with record_function("fivo weight"):
                logits = torch.bmm(W_out, h_t.transpose(1, 2))  # (S, K, B*P): outputs-major
                logg = logits.gather(1, y_rows[:, t]).squeeze(1) - torch.logsumexp(logits, dim=1)
                lw = logw + logg.view(S, B, P).masked_fill_(~alive, -math.inf)
                if any_dead:
                    lw.masked_fill_(dead.unsqueeze(-1), 0.0)
                step = torch.logsumexp(lw, dim=-1)  # log sum_p wbar_p g_p
                if any_dead:
                    step = torch.where(dead, DEAD_LOG_INCREMENT, step)
                bound += step
                logw = lw.sub_(step.unsqueeze(-1))
                if any_dead:
                    logw.masked_fill_(dead.unsqueeze(-1), -log_p)
                    dead_hist[:, t] = dead
            with record_function("fivo resample"):
                wbar = logw.double().exp()
                ess = 1.0 / (wbar * wbar).sum(dim=-1)  # (S, B)
                ess_sum += torch.where(dead, 0.0, ess / P).sum(dim=1)
                n_ess += (~dead).sum(dim=1)
                rs = (ess < ess_threshold * P) & ~dead
                wbar_hist[:, t] = wbar.masked_fill_(dead.unsqueeze(-1), 0.0)
                keep[:, t] = ~rs
                h = h_t
                if bool(rs.any()):
                    anc = torch.where(rs.unsqueeze(-1), systematic(wbar, u[:, t]), identity)  # (S, B, P)
                    rows = (anc + offsets).view(S, BP)
                    rows_hist[t] = rows
                    n_rs += rs.sum(dim=1)
                    h = h_t.gather(1, rows.unsqueeze(-1).expand(S, BP, H))
                    alive = alive.gather(-1, anc)
                    logw = logw.masked_fill_(rs.unsqueeze(-1), -log_p)
        ctx.save_for_backward(W_ih, W_hh, W_out, x, h0, states, y_rows, wbar_hist, keep, dead_hist)
        ctx.rows_hist = rows_hist
        stats.update(n_diverged=n_div, dead=dead.sum(dim=1), resampled=n_rs, ess=ess_sum / n_ess.clamp_min(1))
        return bound

    @staticmethod
    @record_function("fivo backward")
    def backward(ctx, grad_bound):
        W_ih, W_hh, W_out, x, h0, states, y_rows, wbar_hist, keep, dead_hist = ctx.saved_tensors
        rows_hist = ctx.rows_hist
        S, L, BP, H = states.shape
        gb = grad_bound.unsqueeze(-1)
        dA = torch.empty_like(states)
        dW_hh = torch.zeros_like(W_hh)
        dW_out = torch.zeros_like(W_out)
        G = None
        carry = None  # gradient w.r.t. h_t coming from step t + 1 (scattered back to the ancestors)
        for t in range(L - 1, -1, -1):
            w_t = wbar_hist[:, t]
            if G is None:
                G = w_t.clone()
            else:
                k = keep[:, t].unsqueeze(-1).to(G.dtype)
                G = w_t * (1.0 - k * G.sum(dim=-1, keepdim=True)) + k * G
                G.masked_fill_(dead_hist[:, t].unsqueeze(-1), 0.0)
            gl = (G * gb).view(S, 1, BP)  # d(out) / d log g_t
            h_t = states[:, t]
            logits = torch.bmm(W_out, h_t.transpose(1, 2))
            dlogits = torch.softmax(logits, dim=1).mul_(-gl)
            dlogits.scatter_add_(1, y_rows[:, t], gl)
            dW_out.baddbmm_(dlogits, h_t)
            d_t = dA[:, t]
            if d_t.is_contiguous():  # S = 1
                torch.bmm(dlogits.transpose(1, 2), W_out, out=d_t)
            else:
                d_t.copy_(torch.bmm(dlogits.transpose(1, 2), W_out))
            if carry is not None:
                d_t.add_(carry)
            d_t.mul_(torch.sign(h_t))  # ReLU (and diverged particles, zeroed)
            prev = h0 if t == 0 else states[:, t - 1]
            rows = rows_hist[t - 1] if t > 0 else None
            if rows is not None:  # h^res_{t-1} = h_{t-1}[rows]: scatter to the ancestors
                Dt = torch.zeros_like(d_t).scatter_add_(1, rows.unsqueeze(-1).expand(S, BP, H), d_t)
            else:
                Dt = d_t
            if prev is not None:
                dW_hh.baddbmm_(Dt.transpose(1, 2), prev)
            if t > 0:
                carry = torch.bmm(Dt, W_hh)
        dW_ih = torch.bmm(dA.view(S, L * BP, H).transpose(1, 2), x)
        return dW_ih, dW_hh, dW_out, None, None, None, None, None, None, None


def fivo_bound(W_ih: torch.Tensor, W_hh: torch.Tensor, W_out: torch.Tensor, y: torch.Tensor, draws: Draws,
               ess_threshold: float = 0.5, diverge_norm: float = DIVERGE_NORM) -> tuple[torch.Tensor, dict]:
    """The FIVO bound of every sequence under every model: weights (S, H, D), (S, H, H), (S, K, H),
    y (S, B, L) integer symbols, ``draws`` (:func:`draw`, P = rows / B). Returns the bound (S, B),
    differentiable w.r.t. the weights (hand-written backward, :class:`_FivoBound`), and statistics
    (tensors, no device sync): ``n_diverged`` (S,), ``dead`` (S,) sequences whose particles all
    diverged, ``resampled`` (S,) sequence-steps resampled, ``ess`` (S,) mean ESS / P after weighting."""
    S, B, L = y.shape
    BP = draws.noise.shape[2]
    if BP % B or draws.noise.shape[1] != L:
        raise ValueError(f"fivo_bound: draws {tuple(draws.noise.shape)} do not fit {B} sequences of {L} steps")
    stats: dict = {}
    bound = _FivoBound.apply(W_ih, W_hh, W_out, y, draws.noise, draws.h0, draws.u, float(ess_threshold),
                             float(diverge_norm), stats)
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
