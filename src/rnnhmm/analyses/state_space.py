"""Global dynamics of one model (docs/dynamics.md E.1-E.4): PCA of a noise-driven run,
input-free trajectories and fixed points, slow points, trajectories with input, orbit spread vs noise
standard deviation. :func:`run` is the whole analysis of one model (``workflow/scripts/dyn_state_space.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA

from rnnhmm.model import Weights, gumbel_noise, run_rnn
from rnnhmm.threads import threaded as _threaded

from .circuit import make_generator
from .fixed_points import find_fixed_points, slow_points_along
from .measures import divergence_message, pca_project, switch_rate
from .numerics import (
    as_tensor,
    check_weights,
    explained_variance_percent,
    fit_pca,
    pca_transform,
    randn_on,
    simulate,
    simulate_no_input,
    to_numpy,
)


@torch.no_grad()
@_threaded
def orbit_spread(weights: Weights, noise_stds=(0.1, 1.0, 2.0, 3.0, 4.0), n_steps: int = 10_000,
                 pca: PCA | None = None, generator=None, common_noise: bool = True) -> dict:
    """Noise-driven runs from h = 0 at each noise standard deviation, projected on PC1-PC2 (docs/dynamics.md E.4).

    pca: fitted PCA (e.g. on a sigma = 1 run); None fits PCA(2) on the sigma = 1 run of this call
    (or the first level if 1.0 is absent). common_noise: one N(0, I) draw scaled by each std
    (common random numbers; by homogeneity the orbit then scales exactly with std).
    Returns numpy: ``noise_stds`` (S,), ``projections`` (S, n_steps, 2) for KDE contours,
    ``centroid`` (S, 2), ``radius`` (S,) = mean distance to the centroid in the PC1-PC2 plane.
    """
    W_ih, W_hh, _ = check_weights(weights)
    gen = make_generator(generator, device=W_hh.device)
    stds = as_tensor(list(noise_stds), W_ih)
    S = stds.shape[0]
    base = randn_on((1 if common_noise else S, n_steps, W_ih.shape[1]), gen, W_ih)
    hidden = run_rnn(W_ih, W_hh, base * stds[:, None, None])  # (S, n_steps, H)
    if pca is None:
        ref = int(torch.argmin((stds - 1.0).abs()))
        pca = fit_pca(hidden[ref], 2)
    proj = pca_transform(pca, hidden)[..., :2]
    centroid = proj.mean(axis=1)
    radius = np.linalg.norm(proj - centroid[:, None], axis=-1).mean(axis=1)
    return {"noise_stds": to_numpy(stds), "projections": proj, "centroid": centroid, "radius": radius, "pca": pca}


class Diverged(RuntimeError):
    """A noise-driven state of the model overflows: it has no bounded orbit to analyse."""


def _bounded(states, what):
    msg = divergence_message(torch.as_tensor(states).reshape(-1, states.shape[-1]).norm(dim=-1).numpy(), what)
    if msg:
        raise Diverged(msg)


def analyse(w, p, gen, log=print) -> dict:
    """The arrays of the state-space analysis of weights ``w`` with settings ``p`` (config
    ``dynamics.state_space``); raises :class:`Diverged` when a run overflows."""
    H = w.W_hh.shape[0]
    # docs/dynamics.md E.1: PCA of a sigma = 1 run from h = 0 (the zero state included, as in the reference)
    hidden, _ = simulate(w, p["pca_steps"], generator=gen)
    _bounded(hidden[0], f"sigma = 1 run of {p['pca_steps']} steps")
    states = torch.cat([hidden.new_zeros(1, H), hidden[0]])
    pca = fit_pca(states, min(p["pca_components"], H))
    proj = lambda x: pca_project(pca, x)[..., :3]  # noqa: E731
    logits = states[1:] @ w.W_out.T
    argmax = logits.argmax(-1).numpy()
    sampled = (logits + gumbel_noise(logits, gen)).argmax(-1).numpy()
    log(f"PCA {explained_variance_percent(pca)[:3].round(1)} %; switching rate argmax "
        f"{switch_rate(argmax):.4f}, sampled {switch_rate(sampled):.4f}")

    # docs/dynamics.md E.2: input-free trajectories from states of the run; fixed points from the same states
    n0 = min(p["no_input_trajectories"], states.shape[0] - 1)
    h_init = states[1:][torch.randperm(states.shape[0] - 1, generator=gen)[:n0]]
    noin = simulate_no_input(w.W_hh, h_init, p["no_input_steps"])
    _bounded(noin, "input-free map")
    final = noin[:, -1]
    spread = (final - final.mean(0)).norm(dim=-1)
    converged = spread <= p["converge_tol"] * h_init.norm(dim=-1).clamp_min(1e-12)
    fp = find_fixed_points(w.W_hh, h_init, n_iter=p["fixed_point_iters"])
    for row in fp.summary():
        log(f"fixed point {row}")
    if p["slow_points"] > 0:
        sp = slow_points_along(states[1:], w.W_hh, n_samples=p["slow_points"], speed_threshold=p["slow_speed"],
                                  generator=gen)
        slow = dict(slow_coords=proj(sp.points), slow_speed=sp.speed.numpy(), slow_n_unstable=sp.n_unstable.numpy())
    else:
        slow = dict(slow_coords=np.zeros((0, 3)), slow_speed=np.zeros(0), slow_n_unstable=np.zeros(0, int))
    log(f"{len(slow['slow_speed'])} slow points (relative speed < {p['slow_speed']})")

    # docs/dynamics.md E.3: trajectories with input, coloured by output
    h_in, _ = simulate(w, p["input_steps"], n_traj=p["input_trajectories"], warmup=20, generator=gen)
    _bounded(h_in, "noise-driven trajectory")

    # docs/dynamics.md E.4: orbit spread vs noise std, in PC1-PC2 of the sigma = 1 PCA
    orb = orbit_spread(w, p["noise_stds"], p["contour_steps"], pca=pca, generator=gen,
                          common_noise=p["common_noise"])
    if not np.all(np.isfinite(orb["projections"])):
        raise Diverged(f"diverged: a run of the orbit-spread analysis ({p['contour_steps']} steps) overflows")
    log(f"orbit radius {dict(zip(p['noise_stds'], orb['radius'].round(4)))}")
    return dict(
        explained_percent=explained_variance_percent(pca),
        switch_rate_argmax=switch_rate(argmax), switch_rate_sampled=switch_rate(sampled),
        classes_visited=len(np.unique(argmax)),
        zero_coords=proj(torch.zeros(1, H))[0],
        noin_coords=proj(noin).astype(np.float32), noin_outputs=(noin @ w.W_out.T).argmax(-1).numpy().astype(np.int8),
        noin_final_mean=proj(final.mean(0, keepdim=True))[0], noin_final_spread=float(spread.max()),
        noin_converged_frac=float(converged.double().mean()),
        fp_coords=proj(fp.points), fp_stable=fp.stable.numpy(), fp_is_origin=fp.is_origin.numpy(),
        fp_n_unstable=fp.n_unstable.numpy(), fp_spectral_radius=fp.spectral_radius.numpy(),
        fp_speed=fp.speed.numpy(), fp_n_converged=fp.n_converged.numpy(), fp_n_unconverged=fp.n_unconverged,
        fp_origin_growth=fp.origin_growth, fp_origin_norm_bound=fp.origin_norm_bound,
        in_coords=proj(h_in).astype(np.float32), in_outputs=(h_in @ w.W_out.T).argmax(-1).numpy().astype(np.int8),
        spread_stds=orb["noise_stds"], spread_radius=orb["radius"], spread_centroid=orb["centroid"],
        spread_proj=orb["projections"].astype(np.float32),  # every step: the figure data subsamples
        **slow,
    )


def run(weights: Weights, settings: dict, seed: int, model: str = "", log=print) -> tuple[dict, dict]:
    """The state-space analysis of one model: (arrays, meta) for :func:`rnnhmm.io.save_analysis`.
    A model whose noise-driven state diverges gets ``{"failed": True}`` and ``meta["error"]``."""
    meta = {"model": model, "analysis": "state_space"}
    try:
        arrays = analyse(weights, settings, torch.Generator().manual_seed(seed), log)
    except Diverged as err:
        log(str(err))
        arrays, meta["error"] = {"failed": True}, str(err)
    return arrays, meta

