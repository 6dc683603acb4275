"""Helpers shared by the mechanism analyses (kick, interventions, evolution, readout; docs/pipeline.md-5,
docs/mechanism.md E.8-E.11): index handling, generators, pre-activations, Moebius transform, output changes
and chunked eigenvalues.

All functions are pure: weights and arrays in, tensors / dicts out. Every random draw goes through
an explicit ``torch.Generator`` (or a seed that builds one). Conventions (docs/dynamics.md E):

* one step ``h_t = ReLU(W_hh h_{t-1} + W_ih x_t)``; ``hidden[t]`` is h_{t+1} when the trajectory
  starts from ``h0`` (the layout of :func:`rnnhmm.model.run_rnn`);
* "pre-activation" of step t is ``W_hh h_{t-1} + W_ih x_t`` (the argument of the ReLU), in the
  same units as the hidden state;
* "output" is the deterministic label ``argmax(W_out h_t)``;
* the Jacobian of step t is ``J_t = d h_t / d h_{t-1}``;
* Moebius transform ``w = (lambda - 1) / (lambda + 1)`` maps the unit circle onto the imaginary
  axis: ``Re w > 0  <=>  |lambda| > 1``; a complex pair near the unit circle has ``|Re w|`` small
  and is counted once, by its member with ``Im w > 0``;
* local-dynamics regions use the integer codes of :mod:`rnnhmm.analyses.measures`:
  GROUP_TRANSITION=0, GROUP_KICK=1, GROUP_CLUSTER=2, GROUP_OTHER=-1.
"""

from __future__ import annotations

import torch

from rnnhmm.model import Weights
from rnnhmm.threads import single_intraop_thread

# helpers


def as_long(idx) -> torch.Tensor:
    return torch.as_tensor(idx, dtype=torch.long).reshape(-1)


def flat_indices(groups) -> torch.Tensor:
    """A flat LongTensor from an index tensor, a list of ints or a list of index groups."""
    if isinstance(groups, torch.Tensor):
        return groups.reshape(-1).long()
    parts = [as_long(g) for g in groups] if len(groups) and not isinstance(groups[0], int) else [as_long(groups)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def make_generator(generator=None, seed: int | None = None, device=None) -> torch.Generator:
    """The analyses' one generator helper: ``generator`` itself when it is a torch.Generator, else a
    new generator (on ``device``, default the CPU) seeded with ``seed``, or with ``generator`` when
    that is an int, or with 0."""
    if isinstance(generator, torch.Generator):
        return generator
    s = seed if seed is not None else generator
    g = torch.Generator() if device is None else torch.Generator(device=device)
    return g.manual_seed(0 if s is None else int(s))


def moebius(eigvals: torch.Tensor) -> torch.Tensor:
    """Moebius transform w = (lambda - 1) / (lambda + 1) (complex, same shape)."""
    return (eigvals - 1) / (eigvals + 1)


def output_change_times(outputs: torch.Tensor) -> torch.Tensor:
    """Times t (1 <= t < T) with outputs[t] != outputs[t-1], for outputs (T,); LongTensor (n,)."""
    return (torch.nonzero(outputs[1:] != outputs[:-1]).reshape(-1) + 1).long()


def eigvals_chunked(mats: torch.Tensor, chunk: int) -> torch.Tensor:
    """Eigenvalues of a stack (N, H, H) computed in chunks of ``chunk`` matrices; (N, H) complex."""
    if not bool(torch.isfinite(mats).all()):
        raise ValueError("non-finite entries in the matrices passed to eigvals")
    with single_intraop_thread():
        out = [torch.linalg.eigvals(mats[i:i + chunk]) for i in range(0, mats.shape[0], chunk)]
    return torch.cat(out, 0) if out else torch.zeros(0, mats.shape[-1], dtype=torch.complex128)


# ----------------------------------------------------------------------------------------------
# 1. kick neurons (docs/mechanism.md E.8)


def spectrum_counts(lam: torch.Tensor, re_tol: float, im_min: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of eigenvalues lam (..., H) complex: (number with |lambda| > 1, number with
    |Re w| < re_tol and Im w > im_min, w = moebius(lambda): complex pairs near the unit circle,
    each pair counted once)."""
    w = moebius(lam)
    return (lam.abs() > 1).sum(-1), ((w.real.abs() < re_tol) & (w.imag > im_min)).sum(-1)


def masked_spectrum_counts(masks: torch.Tensor, W: torch.Tensor, re_tol: float, im_min: float,
                           chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectral counts of the step Jacobians J = diag(m) W of a ReLU network, one per activity
    mask m (U, H) bool: (number of |lambda| > 1, number of eigenvalues with |Re w| < re_tol and
    Im w > im_min, w = moebius(lambda)), each (U,) int64.

    After reordering the units active-first, diag(m) W is block upper triangular with W's principal
    submatrix on the active units and a zero block, so its eigenvalues are those of that k x k
    submatrix plus H - k zeros; a zero counts in neither (|0| < 1; moebius(0) = -1, |Re| = 1 >=
    re_tol for re_tol <= 1, Im 0 not > im_min >= 0). So only k x k problems are solved, grouped by
    k: at half the units active about 8x less work than H x H (the same counts up to eigenvalues
    within rounding of a threshold)."""
    if not (0 < re_tol <= 1 and im_min >= 0):
        return spectrum_counts(eigvals_chunked(masks.to(W.dtype).unsqueeze(-1) * W, chunk), re_tol, im_min)
    U = masks.shape[0]
    n_unst = torch.zeros(U, dtype=torch.long)
    n_cplx = torch.zeros(U, dtype=torch.long)
    sizes = masks.sum(1)
    for k in torch.unique(sizes).tolist():
        if k == 0:
            continue
        rows = torch.nonzero(sizes == k).reshape(-1)
        idx = torch.nonzero(masks[rows])[:, 1].reshape(-1, k)            # (n, k) active units
        sub = W[idx.unsqueeze(-1), idx.unsqueeze(-2)]                    # (n, k, k)
        n_unst[rows], n_cplx[rows] = spectrum_counts(eigvals_chunked(sub, chunk), re_tol, im_min)
    return n_unst, n_cplx


def preactivations(weights: Weights, hidden: torch.Tensor, noise: torch.Tensor,
                   h0: torch.Tensor | None = None) -> torch.Tensor:
    """Pre-activations ``W_hh h_{t-1} + W_ih x_t`` of every step, shape (..., T, H).

    hidden (..., T, H) = h_1..h_T as returned by ``run_rnn`` from ``h0`` (zeros if None);
    noise (..., T, D) = x_1..x_T, the inputs that produced them.
    """
    W_ih, W_hh, _ = weights
    first = torch.zeros_like(hidden[..., :1, :]) if h0 is None else h0.unsqueeze(-2).expand_as(hidden[..., :1, :])
    prev = torch.cat([first, hidden[..., :-1, :]], dim=-2)
    return prev @ W_hh.transpose(-1, -2) + noise @ W_ih.transpose(-1, -2)


def logit_difference(weights: Weights, hidden: torch.Tensor, a: int = 2, b: int = 0) -> torch.Tensor:
    """Logit difference ``l_a - l_b`` of hidden states (..., H) -> (...)."""
    W_out = weights.W_out
    return hidden @ (W_out[a] - W_out[b])
