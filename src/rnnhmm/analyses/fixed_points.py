"""Fixed points and slow points of the input-free map (docs/dynamics.md E.2)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from rnnhmm.threads import threaded as _threaded

from .circuit import make_generator
from .numerics import UNSTABLE_TOL, as_tensor, jacobian_eigvals, jacobian_spectrum_stats


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
    h0 = as_tensor(h_init, W).reshape(-1, W.shape[0])
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
    X = as_tensor(states, W).reshape(-1, W.shape[0])
    gen = make_generator(generator, device="cpu")
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
