"""Local dynamics of one model (docs/dynamics.md E.6): residency time, logit-gradient sign changes and
unstable Jacobian eigenvalues of the states of a noisy run, grouped into transition / kick-zone /
cluster states. :func:`run` is the whole analysis of one model (``workflow/scripts/dyn_local.py``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from sklearn.decomposition import PCA

from rnnhmm.model import Weights
from rnnhmm.threads import n_workers as _n_workers
from rnnhmm.threads import threaded as _threaded

from .circuit import make_generator
from .measures import GROUP_CLUSTER, GROUP_KICK, GROUP_NAMES, GROUP_OTHER, GROUP_TRANSITION, group_means
from .numerics import (
    UNSTABLE_TOL,
    as_tensor,
    check_weights,
    contiguous_runs,
    explained_variance_percent,
    fit_pca,
    jacobian_spectrum_stats,
    pca_transform,
    probe_divergence,
    randn_on,
    simulate,
    to_numpy,
)


def rollouts(W_ih, W_hh, W_out, h, cls, noise_std, max_steps, gen, noise=None):
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
        x = noise[act, t - 1] if noise is not None else randn_on((act.numel(), W_ih.shape[1]), gen, W_ih) * noise_std
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
    rt, p = to_numpy(residency), to_numpy(max_prob)
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
    """Residency time, logit-gradient sign changes and unstable eigenvalues per state (docs/dynamics.md E.6).

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
    W_ih, W_hh, W_out = check_weights(weights)
    gen = make_generator(generator, device=W_hh.device)
    X = as_tensor(states, W_hh).reshape(-1, W_hh.shape[0])
    N, R = X.shape[0], n_rollouts
    logits0 = X @ W_out.T
    max_prob = torch.softmax(logits0, -1).amax(-1)
    cls = logits0.argmax(-1)
    first = torch.empty(N, R, dtype=torch.long, device=X.device)
    fired = torch.empty(N, R, dtype=torch.bool, device=X.device)
    flips = torch.empty(N, R, dtype=torch.long, device=X.device)
    if noise is not None:
        noise = as_tensor(noise, W_ih)
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
        f, fi, fl = rollouts(W_ih, W_hh, W_out, X[s:e].repeat_interleave(R, 0), cls[s:e].repeat_interleave(R),
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
        "residency": to_numpy(residency), "sign_changes": to_numpy(flips.to(torch.float64).mean(1)),
        "fire_rate": to_numpy(fired.to(torch.float64).mean(1)), "n_unstable": to_numpy(stats["n_unstable"]),
        "max_prob": to_numpy(max_prob), "cls": to_numpy(cls), "groups": classify_groups(residency, max_prob),
    }


@torch.no_grad()
@_threaded
def residency_analysis(weights: Weights, T: int = 10_000, warmup: int = 20, n_components: int = 2,
                       generator=None, **kwargs) -> dict:
    """Spec E.6 protocol: one noisy run from h = 0, ``warmup`` steps dropped, T states; PCA(n_components)
    of those states; ``local_dynamics`` on every state (kwargs passed on).
    Returns the local_dynamics dict plus ``states`` (T, H), ``pca``, ``coords`` (T, n_components)."""
    gen = make_generator(generator, device=weights.W_hh.device)
    hidden, _ = simulate(weights, T, warmup=warmup, generator=gen)
    states = hidden[0]
    pca = fit_pca(states, n_components)
    out = local_dynamics(weights, states, generator=gen, **kwargs)
    out.update(states=to_numpy(states), pca=pca, coords=pca_transform(pca, states))
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
    gen = make_generator(generator, device=weights.W_hh.device)
    hidden, _ = simulate(weights, n_steps, warmup=warmup, generator=gen)
    hidden = hidden[0]
    outputs = to_numpy((hidden @ W_out.T).argmax(-1))
    runs = contiguous_runs(np.isin(outputs, pair), min_run)
    if len(runs) == 0:
        raise ValueError(f"no run of outputs in {tuple(pair)} longer than {min_run} steps in {n_steps} steps")
    index = np.sort(np.concatenate([np.arange(a, b) for a, b in runs]))
    gpca = fit_pca(hidden, n_global)
    G = pca_transform(gpca, hidden[torch.as_tensor(index)])
    spca = PCA(n_components=n_sub, svd_solver="full").fit(G)
    if max_states is not None and len(index) > max_states:
        sel = np.sort(to_numpy(torch.randperm(len(index), generator=gen, device=gen.device)[:max_states]))
        index, G = index[sel], G[sel]
    states = hidden[torch.as_tensor(index)]
    out = local_dynamics(weights, states, generator=gen, **kwargs)
    out.update(index=index, states=to_numpy(states), global_pca=gpca, sub_pca=spca, coords=spca.transform(G))
    return out


# ----------------------------------------------------------------------------- noise sensitivity (E.7)

def run(weights: Weights, settings: dict, seed: int, steps: int, model: str = "", log=print) -> tuple[dict, dict]:
    """The local-dynamics analysis of one model (settings: config ``dynamics.local``) over ``steps``
    states of one noisy run: (arrays, meta) for :func:`rnnhmm.io.save_analysis`. A model whose run
    diverges gets ``{"failed": True}`` and ``meta["error"]``."""
    p = settings
    meta = {"model": model, "analysis": "local", "steps": steps}
    # residency_analysis starts with this very run (same seed): check it stays bounded first
    err = probe_divergence(weights, steps + p["warmup"], seed)
    if err:
        log(err)
        arrays, meta["error"] = {"failed": True}, err
        return arrays, meta
    r = residency_analysis(weights, T=steps, warmup=p["warmup"], n_components=2, generator=seed,
                           n_rollouts=p["rollouts"], max_steps=p["max_steps"])
    arrays = {k: r[k] for k in ("residency", "sign_changes", "fire_rate", "n_unstable", "max_prob", "cls", "groups")}
    arrays.update(coords=r["coords"], explained_percent=explained_variance_percent(r["pca"]))
    counts = {n: int(np.sum(r["groups"] == c)) for c, n in GROUP_NAMES.items()}
    log(f"{steps} states; groups {counts}; max RT {r['residency'].max():.1f}")
    log(f"mean unstable {group_means(r['groups'], r['n_unstable'])}")
    log(f"mean sign changes {group_means(r['groups'], r['sign_changes'])}")
    return arrays, meta
