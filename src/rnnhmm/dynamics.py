"""State-space analyses of a trained noise-driven ReLU RNN (spec E.1-E.7).

The network is h_t = ReLU(W_ih x_t + W_hh h_{t-1}), x_t ~ N(0, noise_std^2 I), no biases (spec B.1).
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
noise standard deviation (the "orbit radius grows linearly with input noise" of spec E.4).
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA

from rnnhmm.model import Weights, run_rnn

__all__ = [
    "GROUP_TRANSITION", "GROUP_KICK", "GROUP_CLUSTER", "GROUP_OTHER", "UNSTABLE_TOL",
    "simulate", "simulate_no_input", "fit_pca", "explained_variance_percent",
    "FixedPoints", "find_fixed_points", "SlowPoints", "slow_points_along",
    "jacobian_eigvals", "jacobian_spectrum_stats",
    "orbit_spread", "contiguous_runs", "output_pair_subspaces",
    "classify_groups", "local_dynamics", "residency_analysis", "local_dynamics_subspace",
    "Areas", "locate_areas", "noise_sensitivity",
]

GROUP_TRANSITION = 0  # residency time < 2
GROUP_KICK = 1  # 2 <= residency time <= 8
GROUP_CLUSTER = 2  # residency time > 8 and max softmax probability > 0.8
GROUP_OTHER = -1
UNSTABLE_TOL = 1e-6  # an eigenvalue is unstable when |lambda| > 1 + UNSTABLE_TOL


# ----------------------------------------------------------------------------- helpers

# Threading. The public functions run torch with ONE intra-op thread and, where the work is big
# enough (rollouts, batched eigenproblems), spread chunks over ``n_workers`` Python threads instead
# (torch releases the GIL). On the 2-core target machine, under load, a BLAS call with 2 intra-op
# threads was measured 3-4000x slower for tiny float64 matrices and 3-5x slower for the rollout
# matmuls (each parallel region waits for a descheduled OpenMP thread). The caller's setting is
# restored on exit; not safe if other threads use torch concurrently.
_OUTER_THREADS: list[int | None] = [None]


@contextmanager
def _single_intraop_thread():
    if _OUTER_THREADS[0] is not None:  # nested call
        yield
        return
    n = torch.get_num_threads()
    _OUTER_THREADS[0] = n
    if n != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if n != 1:
            torch.set_num_threads(n)
        _OUTER_THREADS[0] = None


def _threaded(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with _single_intraop_thread():
            return fn(*args, **kwargs)
    return wrapper


def _n_workers(n_workers: int | None) -> int:
    """Worker threads: explicit, else the caller's torch.get_num_threads()."""
    if n_workers is not None:
        return max(1, int(n_workers))
    return max(1, _OUTER_THREADS[0] or torch.get_num_threads())

def _generator(generator, device) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    g = torch.Generator(device=device)
    g.manual_seed(0 if generator is None else int(generator))
    return g


def _randn(shape, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Standard normal draws with ``gen``, returned on ``like``'s device and dtype."""
    x = torch.randn(tuple(shape), generator=gen, device=gen.device, dtype=like.dtype)
    return x.to(like.device)


def _as_tensor(x, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x).to(device=like.device, dtype=like.dtype)


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _check_weights(weights: Weights) -> Weights:
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
    W_ih, W_hh, _ = _check_weights(weights)
    gen = _generator(generator, W_hh.device)
    noise = _randn((n_traj, warmup + n_steps, W_ih.shape[1]), gen, W_ih) * noise_std
    if h0 is not None:
        h0 = _as_tensor(h0, W_hh).expand(n_traj, W_hh.shape[0]).contiguous()
    hidden = run_rnn(W_ih, W_hh, noise, h0)
    return hidden[:, warmup:], noise[:, warmup:]


@torch.no_grad()
@_threaded
def simulate_no_input(W_hh: torch.Tensor, h0: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Input-free iterations h <- ReLU(W_hh h) from every row of h0 (N, H).

    Returns (N, n_steps + 1, H); index 0 is h0 itself.
    """
    h = _as_tensor(h0, W_hh)
    out = [h]
    for _ in range(n_steps):
        h = torch.relu(h @ W_hh.T)
        out.append(h)
    return torch.stack(out, dim=1)


# ----------------------------------------------------------------------------- PCA

def fit_pca(states, n_components: int) -> PCA:
    """sklearn PCA (full SVD, deterministic) fitted on states (..., H), flattened to (N, H)."""
    X = _np(states).astype(np.float64)
    X = X.reshape(-1, X.shape[-1])
    return PCA(n_components=n_components, svd_solver="full").fit(X)


def explained_variance_percent(pca: PCA) -> np.ndarray:
    """Explained variance of each component in percent, (n_components,)."""
    return 100.0 * np.asarray(pca.explained_variance_ratio_)


def _transform(pca: PCA, states) -> np.ndarray:
    X = _np(states).astype(np.float64)
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
    states = _as_tensor(states, W_hh)
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
    states = _as_tensor(states, W_hh)
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


# ----------------------------------------------------------------------------- fixed points

def _q_grad(W: torch.Tensor, h: torch.Tensor):
    """q(h) = 1/2 ||ReLU(W h) - h||^2 per row and its gradient (W^T D - I) r."""
    pre = h @ W.T
    r = torch.relu(pre) - h
    q = 0.5 * (r * r).sum(-1)
    g = ((pre > 0).to(h.dtype) * r) @ W - r
    return q, g


def _adam(h, grad_fn, n_iter, lr, final_lr_factor=1e-3, project=None):
    """Batched Adam on independent rows; lr (N, 1) per row, decayed exponentially to lr*factor."""
    m = torch.zeros_like(h)
    v = torch.zeros_like(h)
    b1, b2, eps = 0.9, 0.999, 1e-30
    decay = final_lr_factor ** (1.0 / max(n_iter, 1))
    for i in range(1, n_iter + 1):
        g = grad_fn(h)
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        step = (m / (1 - b1 ** i)) / ((v / (1 - b2 ** i)).sqrt() + eps)
        h = h - lr * (decay ** i) * step
        if project is not None:
            h = project(h)
    return h


def _project_null(W: torch.Tensor, h: torch.Tensor, n_polish: int) -> torch.Tensor:
    """Gauss-Newton polish: within the linear region of h, the residual is A h with
    A = diag(1[W h > 0]) W - I; h - pinv(A) A h is the projection onto null(A) (exact fixed points
    of that region: 0, or the ray of an eigenvector of the active block with eigenvalue 1).
    A step is kept only where it lowers q."""
    eye = torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
    for _ in range(n_polish):
        if h.shape[0] == 0:
            break
        pat = ((h @ W.T) > 0).to(W.dtype)
        A = pat[:, :, None] * W - eye
        Ah = (A @ h[:, :, None])
        new = h - (torch.linalg.pinv(A, rtol=1e-9) @ Ah).squeeze(-1)
        q_old, _ = _q_grad(W, h)
        q_new, _ = _q_grad(W, new)
        h = torch.where((q_new <= q_old)[:, None], new, h)
    return h


@dataclass
class FixedPoints:
    """Fixed points of h -> ReLU(W_hh h) (float64 tensors; P points, row 0 is always the origin).

    points (P, H); q (P,) = 1/2||F(h) - h||^2; speed (P,) = ||F(h) - h|| / ||h|| (0 at the origin);
    is_origin (P,) bool; n_converged (P,) initial conditions that ended there.
    Nonzero points stand for the whole ray {c h, c > 0} (homogeneity); their Jacobian
    J = diag(1[W_hh h > 0]) W_hh always has the eigenvalue 1 along the ray, which is removed
    (``eigvals`` has it as its last entry) before classification: a ray is ``stable`` when all other
    |lambda| < 1. The origin is not differentiable (W_hh 0 = 0 puts every unit on its kink; the
    reference's diag(1[W h > 0]) gives J = 0 there). Its stability is the asymptotic growth factor
    ``origin_growth`` of the homogeneous map estimated from the initial directions (stable iff < 1;
    certified when ``origin_norm_bound`` = ||W_hh||_2 < 1), and its eigenvalues are those of J along
    the dominant approach/escape direction ``origin_direction``.
    eigvals (P, H) complex, sorted by decreasing modulus; n_unstable (P,) # |lambda| > 1 + tol;
    n_complex_pairs (P,); spectral_radius (P,) (for the origin: origin_growth); stable (P,) bool.
    n_unconverged: initial conditions whose final speed stayed above ``speed_tol``.
    """

    points: torch.Tensor
    q: torch.Tensor
    speed: torch.Tensor
    is_origin: torch.Tensor
    n_converged: torch.Tensor
    eigvals: torch.Tensor
    n_unstable: torch.Tensor
    n_complex_pairs: torch.Tensor
    spectral_radius: torch.Tensor
    stable: torch.Tensor
    n_unconverged: int
    origin_growth: float
    origin_norm_bound: float
    origin_direction: torch.Tensor

    def __len__(self) -> int:
        return self.points.shape[0]

    def summary(self) -> list[dict]:
        """One plain dict per fixed point (for logs / JSON)."""
        return [dict(origin=bool(self.is_origin[i]), norm=float(self.points[i].norm()), q=float(self.q[i]),
                     stable=bool(self.stable[i]), n_unstable=int(self.n_unstable[i]),
                     n_complex_pairs=int(self.n_complex_pairs[i]),
                     spectral_radius=float(self.spectral_radius[i]), n_converged=int(self.n_converged[i]))
                for i in range(len(self))]


def _origin_growth(W: torch.Tensor, h_init: torch.Tensor, n_steps: int):
    """Growth factor per step of the homogeneous map from the directions h_init (normalised power
    iteration); returns (max growth, direction reached by the fastest-growing start)."""
    u = h_init[h_init.norm(dim=-1) > 0]
    H = W.shape[0]
    if u.shape[0] == 0:
        u = torch.ones(1, H, dtype=W.dtype, device=W.device)
    u = u / u.norm(dim=-1, keepdim=True)
    logs = torch.zeros(u.shape[0], dtype=W.dtype, device=W.device)
    dead = torch.zeros(u.shape[0], dtype=torch.bool, device=W.device)
    burn = n_steps // 2
    for s in range(n_steps):
        v = torch.relu(u @ W.T)
        n = v.norm(dim=-1)
        dead |= n == 0
        if s >= burn:
            logs += torch.log(n.clamp_min(1e-300))
        u = v / n.clamp_min(1e-300)[:, None]
    rates = torch.where(dead, torch.zeros_like(logs), torch.exp(logs / max(n_steps - burn, 1)))
    best = int(torch.argmax(rates))
    return float(rates[best]), u[best]


@torch.no_grad()
@_threaded
def find_fixed_points(W_hh: torch.Tensor, h_init: torch.Tensor, n_iter: int = 2000, lr: float = 0.05,
                      tol: float = 1e-3, speed_tol: float = 1e-6, polish: bool = True, n_polish: int = 3,
                      unstable_tol: float = UNSTABLE_TOL, growth_steps: int = 400) -> FixedPoints:
    """All fixed points of h -> ReLU(W_hh h) reached from the initial conditions h_init (N, H).

    Minimises q(h) = 1/2||ReLU(W_hh h) - h||^2 from every row at once (batched Adam, float64, step
    size ``lr`` relative to each row's RMS, decayed 1000x), then (``polish``) projects onto the exact
    fixed set of the linear region reached. A run ends at the origin when ||h|| < tol ||h_init||;
    otherwise at a fixed ray when its speed ||F(h) - h|| / ||h|| < speed_tol; rays whose unit
    directions differ by < tol are merged. See ``FixedPoints`` for the classification.
    (q is homogeneous of degree 2, <grad q, h> = 2q, so there is no local minimum with q > 0.)
    """
    W = W_hh.detach().to(torch.float64)
    h0 = _as_tensor(h_init, W).reshape(-1, W.shape[0])
    H = W.shape[0]
    n0 = h0.norm(dim=-1)
    lr_row = (lr * n0 / math.sqrt(H)).clamp_min(1e-300)[:, None]
    h = _adam(h0.clone(), lambda x: _q_grad(W, x)[1], n_iter, lr_row) if n_iter > 0 else h0.clone()
    at_origin = (h.norm(dim=-1) < tol * n0) | (n0 == 0)
    h[at_origin] = 0.0
    if polish:
        rest = ~at_origin
        h[rest] = _project_null(W, h[rest], n_polish)
        at_origin = at_origin | (h.norm(dim=-1) < tol * n0)
        h[at_origin] = 0.0
    q, _ = _q_grad(W, h)
    norm = h.norm(dim=-1)
    speed = torch.sqrt(2 * q) / norm.clamp_min(1e-300)
    is_ray = (~at_origin) & (speed < speed_tol)
    n_unconverged = int(((~at_origin) & ~is_ray).sum())

    # merge rays by unit direction (greedy, lowest speed first)
    ray_idx = torch.nonzero(is_ray).flatten()
    ray_idx = ray_idx[torch.argsort(speed[ray_idx])]
    reps, counts = [], []
    if len(ray_idx):
        U = h[ray_idx] / norm[ray_idx, None]
        assigned = torch.zeros(len(ray_idx), dtype=torch.bool, device=W.device)
        dist = torch.cdist(U, U)
        for i in range(len(ray_idx)):
            if assigned[i]:
                continue
            members = (dist[i] < tol) & ~assigned
            assigned |= members
            reps.append(int(ray_idx[i]))
            counts.append(int(members.sum()))

    growth, u_dir = _origin_growth(W, h0, growth_steps)
    origin = torch.zeros(1, H, dtype=W.dtype, device=W.device)
    pts = torch.cat([origin, h[reps]]) if reps else origin
    P = pts.shape[0]
    ev = jacobian_eigvals(W, torch.cat([u_dir[None], pts[1:]]))  # origin row: along u_dir
    # move the radial eigenvalue (closest to 1) of each ray to the end and ignore it
    for i in range(1, P):
        j = int(torch.argmin((ev[i] - 1).abs()))
        ev[i] = torch.cat([ev[i, :j], ev[i, j + 1:], ev[i, j:j + 1]])
    core = ev.clone()
    core[1:, -1] = 0
    a = core.abs()
    n_unstable = (a > 1 + unstable_tol).sum(-1)
    n_cplx = (core.imag > 0).sum(-1)
    rad = a.amax(-1)
    rad[0] = growth
    stable = a.amax(-1) < 1
    stable[0] = growth < 1 - unstable_tol
    q_pts, _ = _q_grad(W, pts)
    sp = torch.sqrt(2 * q_pts) / pts.norm(dim=-1).clamp_min(1e-300)
    sp[0] = 0.0
    return FixedPoints(
        points=pts, q=q_pts, speed=sp, is_origin=torch.arange(P, device=W.device) == 0,
        n_converged=torch.tensor([int(at_origin.sum())] + counts, device=W.device), eigvals=ev, n_unstable=n_unstable,
        n_complex_pairs=n_cplx, spectral_radius=rad, stable=stable, n_unconverged=n_unconverged,
        origin_growth=growth, origin_norm_bound=float(torch.linalg.matrix_norm(W, ord=2)),
        origin_direction=u_dir)


@dataclass
class SlowPoints:
    """Slow points found from states along an orbit (float64 tensors, P kept points).

    points (P, H); speed (P,) = ||F(h) - h|| / ||h|| (relative) or ||F(h) - h|| (absolute, see
    ``relative``); init_speed (P,) the same at the starting state; source_index (P,) row of ``states``
    it started from; n_unstable / spectral_radius (P,) of J = diag(1[W_hh h > 0]) W_hh.
    """

    points: torch.Tensor
    speed: torch.Tensor
    init_speed: torch.Tensor
    source_index: torch.Tensor
    n_unstable: torch.Tensor
    spectral_radius: torch.Tensor
    relative: bool


@torch.no_grad()
@_threaded
def slow_points_along(states: torch.Tensor, W_hh: torch.Tensor, n_samples: int = 200,
                      speed_threshold: float = 0.05, n_iter: int = 500, lr: float = 0.02,
                      relative: bool = True, generator=None) -> SlowPoints:
    """Minimise the speed from ``n_samples`` states drawn (without replacement) from states (N, H).

    relative=True (default): minimise q(h)/||h||^2 on the sphere ||h|| = ||h_start||. By homogeneity
    q(c h) = c^2 q(h), so an unconstrained minimisation only slides towards the origin (the one
    fixed point of a contracting network); the relative speed is scale-free and finds the slow
    *directions* of the flow. relative=False runs the plain q minimisation of ``find_fixed_points``
    (n_iter steps, no polish) and thresholds the absolute speed ||F(h) - h||.
    Keeps points with speed < speed_threshold.
    """
    W = W_hh.detach().to(torch.float64)
    X = _as_tensor(states, W).reshape(-1, W.shape[0])
    gen = _generator(generator, "cpu")
    idx = torch.randperm(X.shape[0], generator=gen)[:n_samples].to(X.device)
    h0 = X[idx]
    n0 = h0.norm(dim=-1, keepdim=True)
    ok = n0.squeeze(-1) > 0
    h0, idx, n0 = h0[ok], idx[ok], n0[ok]
    H = W.shape[0]

    def speed_of(h):
        q, _ = _q_grad(W, h)
        s = torch.sqrt(2 * q)
        return s / h.norm(dim=-1).clamp_min(1e-300) if relative else s

    if relative:
        u0 = h0 / n0

        def grad(u):
            q, g = _q_grad(W, u)
            nn2 = (u * u).sum(-1, keepdim=True)
            return g / nn2 - 2 * q[:, None] * u / nn2 ** 2

        proj = lambda u: u / u.norm(dim=-1, keepdim=True).clamp_min(1e-300)  # noqa: E731
        u = _adam(u0.clone(), grad, n_iter, torch.full_like(n0, lr / math.sqrt(H)), project=proj)
        h = u * n0
    else:
        h = _adam(h0.clone(), lambda x: _q_grad(W, x)[1], n_iter, lr * n0 / math.sqrt(H))
    sp = speed_of(h)
    keep = sp < speed_threshold
    pts = h[keep]
    st = jacobian_spectrum_stats(W, pts) if pts.shape[0] else {
        "n_unstable": torch.zeros(0, dtype=torch.long), "spectral_radius": torch.zeros(0, dtype=W.dtype)}
    return SlowPoints(points=pts, speed=sp[keep], init_speed=speed_of(h0)[keep], source_index=idx[keep],
                      n_unstable=st["n_unstable"], spectral_radius=st["spectral_radius"], relative=relative)


# ----------------------------------------------------------------------------- orbits (E.4, E.5)

@torch.no_grad()
@_threaded
def orbit_spread(weights: Weights, noise_stds=(0.1, 1.0, 2.0, 3.0, 4.0), n_steps: int = 10_000,
                 pca: PCA | None = None, generator=None, common_noise: bool = True) -> dict:
    """Noise-driven runs from h = 0 at each noise standard deviation, projected on PC1-PC2 (spec E.4).

    pca: fitted PCA (e.g. on a sigma = 1 run); None fits PCA(2) on the sigma = 1 run of this call
    (or the first level if 1.0 is absent). common_noise: one N(0, I) draw scaled by each std
    (common random numbers; by homogeneity the orbit then scales exactly with std).
    Returns numpy: ``noise_stds`` (S,), ``projections`` (S, n_steps, 2) for KDE contours,
    ``centroid`` (S, 2), ``radius`` (S,) = mean distance to the centroid in the PC1-PC2 plane.
    """
    W_ih, W_hh, _ = _check_weights(weights)
    gen = _generator(generator, W_hh.device)
    stds = _as_tensor(list(noise_stds), W_ih)
    S = stds.shape[0]
    base = _randn((1 if common_noise else S, n_steps, W_ih.shape[1]), gen, W_ih)
    hidden = run_rnn(W_ih, W_hh, base * stds[:, None, None])  # (S, n_steps, H)
    if pca is None:
        ref = int(torch.argmin((stds - 1.0).abs()))
        pca = fit_pca(hidden[ref], 2)
    proj = _transform(pca, hidden)[..., :2]
    centroid = proj.mean(axis=1)
    radius = np.linalg.norm(proj - centroid[:, None], axis=-1).mean(axis=1)
    return {"noise_stds": _np(stds), "projections": proj, "centroid": centroid, "radius": radius, "pca": pca}


def contiguous_runs(mask, min_len: int = 0) -> np.ndarray:
    """Runs of True in a 1-D mask longer than ``min_len`` (strictly), as int (n_runs, 2) [start, stop),
    sorted by decreasing length (ties: earlier first)."""
    m = _np(mask).astype(bool).ravel()
    d = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    lengths = stops - starts
    keep = lengths > min_len
    starts, stops, lengths = starts[keep], stops[keep], lengths[keep]
    order = np.lexsort((starts, -lengths))
    return np.stack([starts[order], stops[order]], axis=1).astype(np.int64).reshape(-1, 2)


@torch.no_grad()
@_threaded
def output_pair_subspaces(weights: Weights, n_steps: int = 100_000, pairs=((0, 1), (1, 2), (0, 2)),
                          min_run: int = 200, generator=None, n_global: int = 4, n_sub: int = 3,
                          noise_std: float = 1.0) -> dict:
    """Output-pair subspaces (spec E.5).

    One run of n_steps from h_0 ~ N(0, I); outputs = argmax(W_out h); global PCA(n_global).
    Per pair: mask of steps whose output is in the pair; PCA(n_sub) on the global coordinates of
    the masked steps; runs of the mask longer than min_run (longest first).
    Returns {"outputs" (T,), "global_pca", "global_coords" (T, n_global), "global_explained_percent",
    "pairs": {pair: {"mask" (T,), "pca" (None if < n_sub + 1 steps), "coords" (n_mask, n_sub),
    "explained_percent" (n_sub,), "runs" (n_runs, 2) [start, stop), "run_coords" [(len, n_sub) ...]}}}.
    """
    W_ih, W_hh, W_out = _check_weights(weights)
    gen = _generator(generator, W_hh.device)
    h0 = _randn((W_hh.shape[0],), gen, W_hh)
    hidden, _ = simulate(weights, n_steps, noise_std=noise_std, h0=h0, generator=gen)
    hidden = hidden[0]
    outputs = _np((hidden @ W_out.T).argmax(-1))
    gpca = fit_pca(hidden, n_global)
    G = _transform(gpca, hidden)
    res = {"outputs": outputs, "global_pca": gpca, "global_coords": G,
           "global_explained_percent": explained_variance_percent(gpca), "pairs": {}}
    for pair in pairs:
        mask = np.isin(outputs, pair)
        entry = {"mask": mask, "pca": None, "coords": np.zeros((0, n_sub)), "explained_percent": np.full(n_sub, np.nan),
                 "runs": contiguous_runs(mask, min_run), "run_coords": []}
        if mask.sum() > n_sub:
            sp = PCA(n_components=n_sub, svd_solver="full").fit(G[mask])
            entry.update(pca=sp, coords=sp.transform(G[mask]), explained_percent=explained_variance_percent(sp),
                         run_coords=[sp.transform(G[a:b]) for a, b in entry["runs"]])
        res["pairs"][tuple(pair)] = entry
    return res


# ----------------------------------------------------------------------------- local dynamics (E.6)

def _rollouts(W_ih, W_hh, W_out, h, cls, noise_std, max_steps, gen, noise=None):
    """Noisy rollouts from the rows of h (B, H), each compared with its class cls (B,).

    Returns first_change (B,) long (1-based step of the first class change; max_steps if none),
    fired (B,) bool, sign_changes (B,) long (sign flips of the class-logit increments before the
    change; zero increments are skipped). Finished rollouts are dropped from the batch.
    noise: optional (B, max_steps, D) inputs to use instead of fresh N(0, noise_std^2) draws.
    """
    B = h.shape[0]
    dev = h.device
    first = torch.full((B,), max_steps, dtype=torch.long, device=dev)
    fired = torch.zeros(B, dtype=torch.bool, device=dev)
    flips = torch.zeros(B, dtype=torch.long, device=dev)
    act = torch.arange(B, device=dev)
    c = cls.clone()
    prev_l = (h @ W_out.T).gather(1, c[:, None]).squeeze(1)
    prev_s = torch.zeros(B, dtype=torch.int8, device=dev)
    W_ih_T, W_hh_T, W_out_T = W_ih.T.contiguous(), W_hh.T.contiguous(), W_out.T.contiguous()
    for t in range(1, max_steps + 1):
        if act.numel() == 0:
            break
        x = noise[act, t - 1] if noise is not None else _randn((act.numel(), W_ih.shape[1]), gen, W_ih) * noise_std
        h = torch.addmm(x @ W_ih_T, h, W_hh_T).relu_()
        logits = h @ W_out_T
        changed = logits.argmax(-1) != c
        l = logits.gather(1, c[:, None]).squeeze(1)
        s = torch.sign(l - prev_l).to(torch.int8)
        flips[act] += ((~changed) & (s != 0) & (prev_s != 0) & (s != prev_s)).long()
        prev_s = torch.where(s != 0, s, prev_s)
        prev_l = l
        if bool(changed.any()):  # drop finished rollouts (skip the copy when none finished)
            done = act[changed]
            first[done] = t
            fired[done] = True
            keep = ~changed
            act, h, c, prev_l, prev_s = act[keep], h[keep], c[keep], prev_l[keep], prev_s[keep]
    return first, fired, flips


def classify_groups(residency, max_prob) -> np.ndarray:
    """Group labels (N,) int: GROUP_TRANSITION (RT < 2), GROUP_KICK (2 <= RT <= 8),
    GROUP_CLUSTER (RT > 8 and max prob > 0.8), GROUP_OTHER (-1) otherwise."""
    rt, p = _np(residency), _np(max_prob)
    g = np.full(rt.shape, GROUP_OTHER, dtype=np.int64)
    g[rt < 2] = GROUP_TRANSITION
    g[(rt >= 2) & (rt <= 8)] = GROUP_KICK
    g[(rt > 8) & (p > 0.8)] = GROUP_CLUSTER
    return g


@torch.no_grad()
@_threaded
def local_dynamics(weights: Weights, states: torch.Tensor, n_rollouts: int = 20, max_steps: int = 60,
                   noise_std: float = 1.0, generator=None, chunk: int = 256, noise: torch.Tensor | None = None,
                   unstable_tol: float = UNSTABLE_TOL, eig_chunk: int = 256, n_workers: int | None = None) -> dict:
    """Residency time, logit-gradient sign changes and unstable eigenvalues per state (spec E.6).

    states (N, H). For every state: class c* = argmax(W_out h), ``n_rollouts`` noisy rollouts of up
    to ``max_steps`` steps (all states x rollouts of a ``chunk`` of states in one batch; chunks run on
    ``n_workers`` threads, default torch.get_num_threads(), each with its own seeded generator).
    noise: optional inputs (N, n_rollouts, max_steps, D) replacing fresh draws (for exact checks).
    Returns numpy (N,) arrays:
      ``residency``   mean over rollouts of the 1-based step of the first class change (max_steps if none);
      ``sign_changes`` mean number of sign flips of Delta l_{c*}(t) = l_{c*}(t) - l_{c*}(t-1) (t = 1 is
                      measured from the state itself) over the steps before the change, zeros skipped;
      ``fire_rate``   fraction of rollouts that changed class;
      ``n_unstable``  # |lambda| > 1 + unstable_tol of J = diag(1[W_hh h > 0]) W_hh (zero input);
      ``max_prob``    max softmax(W_out h); ``cls`` c*; ``groups`` (see classify_groups).
    """
    W_ih, W_hh, W_out = _check_weights(weights)
    gen = _generator(generator, W_hh.device)
    X = _as_tensor(states, W_hh).reshape(-1, W_hh.shape[0])
    N, R = X.shape[0], n_rollouts
    logits0 = X @ W_out.T
    max_prob = torch.softmax(logits0, -1).amax(-1)
    cls = logits0.argmax(-1)
    first = torch.empty(N, R, dtype=torch.long, device=X.device)
    fired = torch.empty(N, R, dtype=torch.bool, device=X.device)
    flips = torch.empty(N, R, dtype=torch.long, device=X.device)
    if noise is not None:
        noise = _as_tensor(noise, W_ih)
        if noise.shape != (N, R, max_steps, W_ih.shape[1]):
            raise ValueError(f"noise must be (N, n_rollouts, max_steps, D) = {(N, R, max_steps, W_ih.shape[1])}, "
                             f"got {tuple(noise.shape)}")
    starts = list(range(0, N, chunk))
    # one child generator per chunk, seeded from ``generator`` up front: results do not depend on
    # how the chunks are scheduled over the worker threads
    seeds = torch.randint(0, 2 ** 62, (len(starts),), generator=gen, device=gen.device).tolist()

    def work(i):
        s = starts[i]
        e = min(N, s + chunk)
        g = torch.Generator(device=gen.device)
        g.manual_seed(seeds[i])
        nz = None if noise is None else noise[s:e].reshape((e - s) * R, max_steps, -1)
        f, fi, fl = _rollouts(W_ih, W_hh, W_out, X[s:e].repeat_interleave(R, 0), cls[s:e].repeat_interleave(R),
                              noise_std, max_steps, g, nz)
        first[s:e], fired[s:e], flips[s:e] = f.view(-1, R), fi.view(-1, R), fl.view(-1, R)

    workers = _n_workers(n_workers)
    if X.device.type == "cpu" and workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(work, range(len(starts))))
    else:
        for i in range(len(starts)):
            work(i)
    stats = jacobian_spectrum_stats(W_hh, X, unstable_tol, eig_chunk, n_workers)
    residency = first.to(torch.float64).mean(1)
    return {
        "residency": _np(residency), "sign_changes": _np(flips.to(torch.float64).mean(1)),
        "fire_rate": _np(fired.to(torch.float64).mean(1)), "n_unstable": _np(stats["n_unstable"]),
        "max_prob": _np(max_prob), "cls": _np(cls), "groups": classify_groups(residency, max_prob),
    }


@torch.no_grad()
@_threaded
def residency_analysis(weights: Weights, T: int = 10_000, warmup: int = 20, n_components: int = 2,
                       generator=None, **kwargs) -> dict:
    """Spec E.6 protocol: one noisy run from h = 0, ``warmup`` steps dropped, T states; PCA(n_components)
    of those states; ``local_dynamics`` on every state (kwargs passed on).
    Returns the local_dynamics dict plus ``states`` (T, H), ``pca``, ``coords`` (T, n_components)."""
    gen = _generator(generator, weights.W_hh.device)
    hidden, _ = simulate(weights, T, warmup=warmup, generator=gen)
    states = hidden[0]
    pca = fit_pca(states, n_components)
    out = local_dynamics(weights, states, generator=gen, **kwargs)
    out.update(states=_np(states), pca=pca, coords=_transform(pca, states))
    return out


@torch.no_grad()
@_threaded
def local_dynamics_subspace(weights: Weights, pair=(0, 1), n_steps: int = 50_000, min_run: int = 200,
                            warmup: int = 20, n_global: int = 4, n_sub: int = 3, max_states: int | None = None,
                            generator=None, **kwargs) -> dict:
    """Subspace variant of E.6 (cyclic HMM): keep the states of the contiguous runs longer than
    ``min_run`` whose outputs lie in ``pair``; global PCA(n_global) on the whole run and subspace
    PCA(n_sub) on the kept states' global coordinates; ``local_dynamics`` on the kept states
    (a seeded random subset of ``max_states`` if given, in time order).
    Returns the local_dynamics dict plus ``index`` (n,) time indices, ``states``, ``global_pca``,
    ``sub_pca`` and ``coords`` (n, n_sub). Raises ValueError if no run is long enough."""
    W_out = weights.W_out
    gen = _generator(generator, weights.W_hh.device)
    hidden, _ = simulate(weights, n_steps, warmup=warmup, generator=gen)
    hidden = hidden[0]
    outputs = _np((hidden @ W_out.T).argmax(-1))
    runs = contiguous_runs(np.isin(outputs, pair), min_run)
    if len(runs) == 0:
        raise ValueError(f"no run of outputs in {tuple(pair)} longer than {min_run} steps in {n_steps} steps")
    index = np.sort(np.concatenate([np.arange(a, b) for a, b in runs]))
    gpca = fit_pca(hidden, n_global)
    G = _transform(gpca, hidden[torch.as_tensor(index)])
    spca = PCA(n_components=n_sub, svd_solver="full").fit(G)
    if max_states is not None and len(index) > max_states:
        sel = np.sort(_np(torch.randperm(len(index), generator=gen, device=gen.device)[:max_states]))
        index, G = index[sel], G[sel]
    states = hidden[torch.as_tensor(index)]
    out = local_dynamics(weights, states, generator=gen, **kwargs)
    out.update(index=index, states=_np(states), global_pca=gpca, sub_pca=spca, coords=spca.transform(G))
    return out


# ----------------------------------------------------------------------------- noise sensitivity (E.7)

@dataclass
class Areas:
    """Result of ``locate_areas``. Indices refer to ``hidden`` (T, H) / ``noise`` (T, D) / ``outputs`` (T,).

    cluster_idx: middle of the longest dwell (tc); transition_idx: earliest state of the block before
    the change from which every continuation switches within < 3 steps (tk); change_idx: first
    state of the new output (tt); prev_change_idx: start of the dwell. scan_idx (n,) the scanned
    states s_i = tt + tf - i; firing_t (n,) mean steps to an output change (dT if none);
    firing_rate (n,) fraction of trials that changed; attempts: trajectories drawn.
    """

    cluster_idx: int
    transition_idx: int
    change_idx: int
    prev_change_idx: int
    hidden: torch.Tensor
    noise: torch.Tensor
    outputs: torch.Tensor
    scan_idx: np.ndarray
    firing_t: np.ndarray
    firing_rate: np.ndarray
    attempts: int


@torch.no_grad()
@_threaded
def locate_areas(weights: Weights, generator=None, T: int = 2000, thr: float = 9, tf: int = 5,
                 n_trials: int = 100, max_attempts: int = 20, warmup: int = 20, t_min: int = 200,
                 skip_first: int = 4, max_back: int = 100, frac: float = 0.5, fast_steps: float = 3,
                 exclude_new_output: int | None = None, noise_std: float = 1.0) -> Areas:
    """Bounded, seeded search for a cluster and a transition state (spec E.7 step 1).

    Per attempt: warm-up from h0 ~ 0.1 N(0, I), then a T-step run. Among the output changes after the
    first ``skip_first``, at t > t_min, with room for tf steps after them (and whose new output is not
    ``exclude_new_output``), take the one, tt, ending the longest dwell [t_prev, tt).
    tc = max(floor(frac tt + (1 - frac) t_prev), tt - max_back). From each s_i = tt + tf - i,
    i = 0..(tt - tc) + tf, run n_trials rollouts of up to dT = max(thr, 25) fresh-noise steps.
    tk = earliest state of the contiguous block of states s < tt nearest tt with firing_t < fast_steps
    and firing_rate = 1. An attempt succeeds when tk exists and some i > tf has firing_t >= thr and
    firing_rate < 1. After ``max_attempts`` failures raises RuntimeError listing every attempt.
    """
    W_ih, W_hh, W_out = _check_weights(weights)
    gen = _generator(generator, W_hh.device)
    dT = int(max(thr, 25))
    H = W_hh.shape[0]
    log = []
    for attempt in range(1, max_attempts + 1):
        h0 = 0.1 * _randn((H,), gen, W_hh)
        hidden, noise = simulate(weights, T, noise_std=noise_std, h0=h0, generator=gen, warmup=warmup)
        hidden, noise = hidden[0], noise[0]
        outputs = (hidden @ W_out.T).argmax(-1)
        ch = (torch.nonzero(outputs[1:] != outputs[:-1]).flatten() + 1).cpu()
        j = torch.arange(len(ch))
        ok = (j >= max(skip_first, 1)) & (ch > t_min) & (ch + tf < T)
        if exclude_new_output is not None:
            ok &= outputs.cpu()[ch] != exclude_new_output
        if not bool(ok.any()):
            log.append(f"attempt {attempt}: {len(ch)} output changes, none usable (after the first {skip_first}, "
                       f"at t > {t_min}, with {tf} steps left)")
            continue
        cand = torch.nonzero(ok).flatten()
        dwell = ch[cand] - ch[cand - 1]
        jj = int(cand[int(torch.argmax(dwell))])
        tt, tp = int(ch[jj]), int(ch[jj - 1])
        tc = max(int(math.floor(frac * tt + (1 - frac) * tp)), tt - max_back)
        scan = np.arange(tt + tf, tc - 1, -1)  # s_i, i = 0..(tt - tc) + tf
        S = torch.as_tensor(scan, device=hidden.device)
        h = hidden[S].repeat_interleave(n_trials, 0)
        c = outputs[S].repeat_interleave(n_trials)
        first, fired, _ = _rollouts(W_ih, W_hh, W_out, h, c, noise_std, dT, gen)
        firing_t = _np(first.view(-1, n_trials).to(torch.float64).mean(1))
        firing_rate = _np(fired.view(-1, n_trials).to(torch.float64).mean(1))
        fast = (firing_t < fast_steps) & (firing_rate == 1.0)
        i = np.arange(len(scan))
        slow = bool(np.any((i > tf) & (firing_t >= thr) & (firing_rate < 1.0)))
        before = np.flatnonzero(fast & (scan < tt))
        if len(before) == 0 or not slow:
            log.append(f"attempt {attempt}: change at t={tt} after a dwell of {tt - tp} steps; "
                       f"{'no fast (transition) state before it' if len(before) == 0 else ''}"
                       f"{'; ' if len(before) == 0 and not slow else ''}"
                       f"{'no slow (cluster) state with firing_t >= %g and rate < 1' % thr if not slow else ''}")
            continue
        k = int(before[0])  # latest qualifying state before tt (scan is in decreasing time)
        while k + 1 < len(scan) and fast[k + 1]:
            k += 1
        return Areas(cluster_idx=tc, transition_idx=int(scan[k]), change_idx=tt, prev_change_idx=tp,
                     hidden=hidden, noise=noise, outputs=outputs, scan_idx=scan, firing_t=firing_t,
                     firing_rate=firing_rate, attempts=attempt)
    raise RuntimeError(f"locate_areas: no cluster/transition pair found in {max_attempts} attempts "
                       f"(T={T}, thr={thr}, tf={tf}, n_trials={n_trials}):\n  " + "\n  ".join(log))


@torch.no_grad()
@_threaded
def noise_sensitivity(weights: Weights, h_track: torch.Tensor, noise: torch.Tensor, idx: int,
                      gammas=(0.0, 0.5, 1.0), n_traj: int = 100, T: int = 5, noise_std: float = 1.0,
                      generator=None) -> dict:
    """Spread of trajectories from h_track[idx] under partially fresh noise (spec E.7 steps 2-3).

    h_track (L, H), noise (L, D) aligned as in ``simulate`` (noise[t] produced h_track[t]). Step t = 1..T
    uses u_t = (1 - g) noise[idx + t] + g z_t, z_t ~ N(0, noise_std^2) (the same z for every g), so
    g = 0 retraces h_track[idx : idx + T + 1] exactly (the reference is off by one here).
    Returns numpy: ``trajectories`` (G, n_traj, T + 1, H) (t = 0 is the start), ``nominal`` (T + 1, H),
    ``trace`` (G, T + 1) = trace of the covariance across trajectories (ddof = 1), ``mean_dist`` (G, T + 1)
    = mean Euclidean distance to the mean trajectory, ``gammas`` (G,).
    """
    W_ih, W_hh, _ = _check_weights(weights)
    gen = _generator(generator, W_hh.device)
    h_track = _as_tensor(h_track, W_hh)
    noise = _as_tensor(noise, W_ih)
    if not 0 <= idx or idx + T >= min(h_track.shape[0], noise.shape[0]):
        raise ValueError(f"idx={idx} with T={T} needs idx + T < {min(h_track.shape[0], noise.shape[0])}")
    if n_traj < 2:
        raise ValueError("n_traj must be >= 2 for a covariance")
    g = _as_tensor(list(gammas), W_ih)[:, None, None, None]
    nominal_in = noise[idx + 1: idx + T + 1]  # (T, D)
    fresh = _randn((n_traj, T, W_ih.shape[1]), gen, W_ih) * noise_std
    inp = (1 - g) * nominal_in + g * fresh  # (G, n_traj, T, D)
    G = g.shape[0]
    start = h_track[idx].expand(G, n_traj, -1).contiguous()
    traj = torch.cat([start[:, :, None], run_rnn(W_ih, W_hh, inp, start)], dim=2)  # (G, n, T+1, H)
    mean = traj.mean(1, keepdim=True)
    trace = traj.var(dim=1, correction=1).sum(-1)
    mean_dist = (traj - mean).norm(dim=-1).mean(1)
    return {"trajectories": _np(traj), "nominal": _np(h_track[idx: idx + T + 1]), "trace": _np(trace),
            "mean_dist": _np(mean_dist), "gammas": np.asarray(list(gammas), dtype=float)}
