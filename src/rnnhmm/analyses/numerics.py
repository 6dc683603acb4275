"""Shared numerics of the dynamics analyses (docs/dynamics.md E): simulation, PCA, Jacobian spectra,
the divergence guard and the local-dynamics group codes.

The network is h_t = ReLU(W_ih x_t + W_hh h_{t-1}), x_t ~ N(0, noise_std^2 I), no biases (docs/training.md).
The "output" (class) of a state h is argmax(W_out h), a deterministic label, unless stated.

Conventions
-----------
* Shapes: ``W_ih`` (H, D), ``W_hh`` (H, H), ``W_out`` (K, H); states are rows, (N, H).
* ``noise_std`` is always a *standard deviation* (the reference labels it "variance").
* Randomness: every stochastic function takes ``generator``: a ``torch.Generator``, an int seed, or
  None (= seed 0, so results are deterministic). Pass one Generator through a pipeline to get
  independent draws from successive calls.
* Time alignment of a simulated trajectory: ``hidden[t] = ReLU(W_ih noise[t] + W_hh hidden[t-1])``,
  i.e. ``noise[t]`` is the input that *produced* ``hidden[t]``.
* Building blocks (``simulate``, ``find_fixed_points`` ...) return torch tensors; the analysis
  functions that return dicts (``local_dynamics``, ``orbit_spread`` ...) return numpy arrays.

Homogeneity. Without biases the map F(h, x) = ReLU(W_ih x + W_hh h) is positively homogeneous:
F(c h, c x) = c F(h, x) for c > 0. Consequences used below: h = 0 is always a fixed point of the
input-free map; any other fixed point comes with its whole ray {c h*, c > 0} and has the Jacobian
eigenvalue 1 along that ray; and a trajectory started at h = 0 scales exactly linearly with the
noise standard deviation (the "orbit radius grows linearly with input noise" of docs/pipeline.md).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from sklearn.decomposition import PCA

from rnnhmm.model import Weights, run_rnn
from rnnhmm.threads import n_workers as _n_workers
from rnnhmm.threads import threaded as _threaded

from .circuit import make_generator
from .measures import divergence_message

UNSTABLE_TOL = 1e-6  # an eigenvalue is unstable when |lambda| > 1 + UNSTABLE_TOL

# ----------------------------------------------------------------------------- helpers

def randn_on(shape, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Standard normal draws with ``gen``, returned on ``like``'s device and dtype."""
    x = torch.randn(tuple(shape), generator=gen, device=gen.device, dtype=like.dtype)
    return x.to(like.device)


def as_tensor(x, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x).to(device=like.device, dtype=like.dtype)


def to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def check_weights(weights: Weights) -> Weights:
    W_ih, W_hh, W_out = weights
    if W_hh.dim() != 2:
        raise ValueError(f"dynamics analyses take one model; got W_hh of shape {tuple(W_hh.shape)}")
    return Weights(*weights)


# ----------------------------------------------------------------------------- simulation

@torch.no_grad()
@_threaded
def simulate(weights: Weights, n_steps: int, noise_std: float = 1.0, n_traj: int = 1,
             h0: torch.Tensor | None = None, generator=None, warmup: int = 0):
    """Noise-driven trajectories.

    h0: None (zeros), (H,) or (n_traj, H): the state before the first (warm-up) step.
    Runs ``warmup + n_steps`` steps and drops the first ``warmup``.
    Returns ``hidden`` (n_traj, n_steps, H) and the inputs ``noise`` (n_traj, n_steps, D) that produced
    them (``hidden[:, t] = ReLU(W_ih noise[:, t] + W_hh hidden[:, t-1])``); noise ~ N(0, noise_std^2).
    """
    W_ih, W_hh, _ = check_weights(weights)
    gen = make_generator(generator, device=W_hh.device)
    noise = randn_on((n_traj, warmup + n_steps, W_ih.shape[1]), gen, W_ih) * noise_std
    if h0 is not None:
        h0 = as_tensor(h0, W_hh).expand(n_traj, W_hh.shape[0]).contiguous()
    hidden = run_rnn(W_ih, W_hh, noise, h0)
    return hidden[:, warmup:], noise[:, warmup:]


@torch.no_grad()
@_threaded
def simulate_no_input(W_hh: torch.Tensor, h0: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Input-free iterations h <- ReLU(W_hh h) from every row of h0 (N, H).

    Returns (N, n_steps + 1, H); index 0 is h0 itself.
    """
    h = as_tensor(h0, W_hh)
    out = [h]
    for _ in range(n_steps):
        h = torch.relu(h @ W_hh.T)
        out.append(h)
    return torch.stack(out, dim=1)


def contiguous_runs(mask, min_len: int = 0) -> np.ndarray:
    """Runs of True in a 1-D mask longer than ``min_len`` (strictly), as int (n_runs, 2) [start, stop),
    sorted by decreasing length (ties: earlier first)."""
    m = to_numpy(mask).astype(bool).ravel()
    d = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    lengths = stops - starts
    keep = lengths > min_len
    starts, stops, lengths = starts[keep], stops[keep], lengths[keep]
    order = np.lexsort((starts, -lengths))
    return np.stack([starts[order], stops[order]], axis=1).astype(np.int64).reshape(-1, 2)


# ----------------------------------------------------------------------------- PCA

def fit_pca(states, n_components: int) -> PCA:
    """sklearn PCA (full SVD, deterministic) fitted on states (..., H), flattened to (N, H)."""
    X = to_numpy(states).astype(np.float64)
    X = X.reshape(-1, X.shape[-1])
    return PCA(n_components=n_components, svd_solver="full").fit(X)


def explained_variance_percent(pca: PCA) -> np.ndarray:
    """Explained variance of each component in percent, (n_components,)."""
    return 100.0 * np.asarray(pca.explained_variance_ratio_)


def pca_transform(pca: PCA, states) -> np.ndarray:
    X = to_numpy(states).astype(np.float64)
    return pca.transform(X.reshape(-1, X.shape[-1])).reshape(*X.shape[:-1], -1)


# ----------------------------------------------------------------------------- Jacobian spectra

def _active_blocks(W_hh: torch.Tensor, states: torch.Tensor, chunk: int):
    """Split states by number of active units k of the zero-input pattern 1[W_hh h > 0].

    Yields (row indices (n,), active-unit indices (n, k)) with n <= chunk. The Jacobian
    J = diag(1[W_hh h > 0]) W_hh has zero rows outside the active set, so its spectrum is that of the
    active block W_hh[a][:, a] plus H - k zeros: the eigenproblem shrinks from H to k.
    """
    active = (states @ W_hh.T) > 0  # (N, H)
    k = active.sum(-1)
    order = torch.argsort(k, stable=True)
    ks = k[order]
    bounds = torch.nonzero(ks[1:] != ks[:-1]).flatten() + 1
    starts = [0] + bounds.tolist()
    ends = bounds.tolist() + [len(ks)]
    for s, e in zip(starts, ends):
        kk = int(ks[s])
        for c in range(s, e, chunk):
            rows = order[c:min(e, c + chunk)]
            # indices of active units, ascending (True sorts first under descending stable sort)
            idx = torch.argsort(active[rows].to(torch.int8), dim=-1, descending=True, stable=True)[:, :kk]
            yield rows, idx


def _block_eigvals(W_hh: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    if idx.shape[1] == 0:
        return torch.zeros(idx.shape[0], 0, dtype=torch.complex128, device=W_hh.device)
    sub = W_hh[idx[:, :, None], idx[:, None, :]]  # (n, k, k)
    return torch.linalg.eigvals(sub)


def _map_blocks(W_hh, states, chunk, n_workers, fn):
    tasks = list(_active_blocks(W_hh, states, chunk))
    n_workers = _n_workers(n_workers)
    work = lambda t: (t[0], fn(_block_eigvals(W_hh, t[1])))  # noqa: E731
    if W_hh.device.type != "cpu":
        return [work(t) for t in tasks]
    with ThreadPoolExecutor(max(1, n_workers)) as ex:
        return list(ex.map(work, tasks))


@torch.no_grad()
@_threaded
def jacobian_eigvals(W_hh: torch.Tensor, states: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """Eigenvalues of J(h) = diag(1[W_hh h > 0]) W_hh (zero input) for each row of states (N, H).

    Returns complex (N, H), sorted by decreasing modulus (the H - k structural zeros last).
    """
    states = as_tensor(states, W_hh)
    N, H = states.shape
    ctype = torch.complex128 if W_hh.dtype == torch.float64 else torch.complex64
    out = torch.zeros(N, H, dtype=ctype, device=W_hh.device)
    for rows, ev in _map_blocks(W_hh, states, chunk, None, lambda e: e):
        if ev.shape[1]:
            ev = ev.to(ctype)
            ev = torch.gather(ev, 1, torch.argsort(ev.abs(), dim=1, descending=True))
            out[rows, :ev.shape[1]] = ev
    return out


@torch.no_grad()
@_threaded
def jacobian_spectrum_stats(W_hh: torch.Tensor, states: torch.Tensor, tol: float = UNSTABLE_TOL,
                            chunk: int = 256, n_workers: int | None = None) -> dict:
    """Per-state spectrum summary of J(h) = diag(1[W_hh h > 0]) W_hh at zero input.

    states (N, H). Returns torch tensors (N,): ``n_unstable`` (# |lambda| > 1 + tol; equals the
    reference's Moebius count Re((l-1)/(l+1)) > 0), ``n_complex_pairs``, ``spectral_radius``, ``n_active``.
    Eigenproblems are batched per active-set size and split over ``n_workers`` threads.
    """
    states = as_tensor(states, W_hh)
    N = states.shape[0]
    n_unst = torch.zeros(N, dtype=torch.long, device=W_hh.device)
    n_cplx = torch.zeros_like(n_unst)
    n_act = torch.zeros_like(n_unst)
    rad = torch.zeros(N, dtype=W_hh.dtype, device=W_hh.device)

    def summary(ev):
        a = ev.abs()
        return ((a > 1 + tol).sum(-1), (ev.imag > 0).sum(-1),
                a.amax(-1) if ev.shape[1] else a.new_zeros(ev.shape[0]), ev.shape[1])

    for rows, (u, c, r, k) in _map_blocks(W_hh, states, chunk, n_workers, summary):
        n_unst[rows], n_cplx[rows], rad[rows], n_act[rows] = u, c, r.to(rad.dtype), k
    return {"n_unstable": n_unst, "n_complex_pairs": n_cplx, "spectral_radius": rad, "n_active": n_act}




def probe_divergence(weights, n_steps: int, seed: int, noise_std: float = 1.0) -> str | None:
    """Run the model ``n_steps`` from h = 0 with N(0, noise_std^2) inputs and report divergence
    (``divergence_message``)."""
    hidden, _ = simulate(weights, int(n_steps), noise_std=noise_std, generator=int(seed))
    return divergence_message(hidden[0].norm(dim=-1).numpy(), f"{n_steps}-step probe run")


# ----------------------------------------------------------------------------- measures

