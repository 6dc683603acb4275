"""Global dynamics of one model (spec E.1-E.4): PCA of a noise-driven run, input-free trajectories
and fixed points, slow points, trajectories with input, orbit spread vs noise std. A model whose
noise-driven state diverges gets a result that records why (figures and claims report it)."""
import time

import numpy as np
import torch

from rnnhmm import dynamics as dy
from rnnhmm.config import derive_seed
from rnnhmm.dynamics_claims import divergence_message, pca_project, save_analysis, switch_rate
from rnnhmm.io import job_log, provenance
from rnnhmm.model import gumbel_noise, load_weights


class Diverged(RuntimeError):
    pass


def bounded(states, what):
    msg = divergence_message(torch.as_tensor(states).reshape(-1, states.shape[-1]).norm(dim=-1).numpy(), what)
    if msg:
        raise Diverged(msg)


def analyse(w, p, gen, log):
    H = w.W_hh.shape[0]
    # E.1: PCA of a sigma = 1 run from h = 0 (the zero state included, as in the reference)
    hidden, _ = dy.simulate(w, p["pca_steps"], generator=gen)
    bounded(hidden[0], f"sigma = 1 run of {p['pca_steps']} steps")
    states = torch.cat([hidden.new_zeros(1, H), hidden[0]])
    pca = dy.fit_pca(states, min(p["pca_components"], H))
    proj = lambda x: pca_project(pca, x)[..., :3]  # noqa: E731
    logits = states[1:] @ w.W_out.T
    argmax = logits.argmax(-1).numpy()
    sampled = (logits + gumbel_noise(logits, gen)).argmax(-1).numpy()
    log(f"PCA {dy.explained_variance_percent(pca)[:3].round(1)} %; switching rate argmax "
        f"{switch_rate(argmax):.4f}, sampled {switch_rate(sampled):.4f}")

    # E.2: input-free trajectories from states of the run; fixed points from the same states
    n0 = min(p["no_input_trajectories"], states.shape[0] - 1)
    h_init = states[1:][torch.randperm(states.shape[0] - 1, generator=gen)[:n0]]
    noin = dy.simulate_no_input(w.W_hh, h_init, p["no_input_steps"])
    bounded(noin, "input-free map")
    final = noin[:, -1]
    spread = (final - final.mean(0)).norm(dim=-1)
    converged = spread <= p["converge_tol"] * h_init.norm(dim=-1).clamp_min(1e-12)
    fp = dy.find_fixed_points(w.W_hh, h_init, n_iter=p["fixed_point_iters"])
    for row in fp.summary():
        log(f"fixed point {row}")
    if p["slow_points"] > 0:
        sp = dy.slow_points_along(states[1:], w.W_hh, n_samples=p["slow_points"], speed_threshold=p["slow_speed"],
                                  generator=gen)
        slow = dict(slow_coords=proj(sp.points), slow_speed=sp.speed.numpy(), slow_n_unstable=sp.n_unstable.numpy())
    else:
        slow = dict(slow_coords=np.zeros((0, 3)), slow_speed=np.zeros(0), slow_n_unstable=np.zeros(0, int))
    log(f"{len(slow['slow_speed'])} slow points (relative speed < {p['slow_speed']})")

    # E.3: trajectories with input, coloured by output
    h_in, _ = dy.simulate(w, p["input_steps"], n_traj=p["input_trajectories"], warmup=20, generator=gen)
    bounded(h_in, "noise-driven trajectory")

    # E.4: orbit spread vs noise std, in PC1-PC2 of the sigma = 1 PCA
    orb = dy.orbit_spread(w, p["noise_stds"], p["contour_steps"], pca=pca, generator=gen,
                          common_noise=p["common_noise"])
    if not np.all(np.isfinite(orb["projections"])):
        raise Diverged(f"diverged: a run of the orbit-spread analysis ({p['contour_steps']} steps) overflows")
    log(f"orbit radius {dict(zip(p['noise_stds'], orb['radius'].round(4)))}")
    return dict(
        explained_percent=dy.explained_variance_percent(pca),
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


sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    p = dict(sm.params.settings)
    model = sm.params.model
    seed = derive_seed("dynamics", "state_space", model, sm.params.seed)
    meta = {"model": model, "analysis": "state_space"}
    try:
        arrays = analyse(load_weights(sm.input.model, sm.params.weights), p, torch.Generator().manual_seed(seed), log)
    except Diverged as err:
        log(str(err))
        arrays, meta["error"] = {"failed": True}, str(err)
    meta["provenance"] = provenance(p, seed, t0)
    save_analysis(sm.output[0], arrays, meta)
    log(f"wrote {sm.output[0]} in {time.perf_counter() - t0:.1f} s")
