"""Noise sensitivity of one model (docs/dynamics.md E.7): locate a cluster and a transition state on a
noisy run, then the spread of trajectories started there under partially fresh noise.
:func:`run` is the whole analysis of one model (``workflow/scripts/dyn_noise.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rnnhmm.config import derive_seed
from rnnhmm.model import Weights, run_rnn
from rnnhmm.threads import threaded as _threaded

from .circuit import make_generator
from .local import rollouts
from .measures import divergence_message, pca_project
from .numerics import (
    as_tensor,
    check_weights,
    explained_variance_percent,
    fit_pca,
    probe_divergence,
    randn_on,
    simulate,
    to_numpy,
)


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
    """Bounded, seeded search for a cluster and a transition state (docs/dynamics.md E.7 step 1).

    Per attempt: warm-up from h0 ~ 0.1 N(0, I), then a T-step run. Among the output changes after the
    first ``skip_first``, at t > t_min, with room for tf steps after them (and whose new output is not
    ``exclude_new_output``), take the one, tt, ending the longest dwell [t_prev, tt).
    tc = max(floor(frac tt + (1 - frac) t_prev), tt - max_back). From each s_i = tt + tf - i,
    i = 0..(tt - tc) + tf, run n_trials rollouts of up to dT = max(thr, 25) fresh-noise steps.
    tk = earliest state of the contiguous block of states s < tt nearest tt with firing_t < fast_steps
    and firing_rate = 1. An attempt succeeds when tk exists and some i > tf has firing_t >= thr and
    firing_rate < 1. After ``max_attempts`` failures raises RuntimeError listing every attempt.
    """
    W_ih, W_hh, W_out = check_weights(weights)
    gen = make_generator(generator, device=W_hh.device)
    dT = int(max(thr, 25))
    H = W_hh.shape[0]
    log = []
    for attempt in range(1, max_attempts + 1):
        h0 = 0.1 * randn_on((H,), gen, W_hh)
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
        first, fired, _ = rollouts(W_ih, W_hh, W_out, h, c, noise_std, dT, gen)
        firing_t = to_numpy(first.view(-1, n_trials).to(torch.float64).mean(1))
        firing_rate = to_numpy(fired.view(-1, n_trials).to(torch.float64).mean(1))
        fast = (firing_t < fast_steps) & (firing_rate == 1.0)
        i = np.arange(len(scan))
        slow = bool(np.any((i > tf) & (firing_t >= thr) & (firing_rate < 1.0)))
        before = np.flatnonzero(fast & (scan < tt))
        if len(before) == 0 or not slow:
            log.append(f"attempt {attempt}: change at t={tt} after a dwell of {tt - tp} steps; "
                       f"{'no fast (transition) state before it' if len(before) == 0 else ''}"
                       f"{'; ' if len(before) == 0 and not slow else ''}"
                       f"{f'no slow (cluster) state with firing_t >= {thr:g} and rate < 1' if not slow else ''}")
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
    """Spread of trajectories from h_track[idx] under partially fresh noise (docs/dynamics.md E.7 steps 2-3).

    h_track (L, H), noise (L, D) aligned as in ``simulate`` (noise[t] produced h_track[t]). Step t = 1..T
    uses u_t = (1 - g) noise[idx + t] + g z_t, z_t ~ N(0, noise_std^2) (the same z for every g), so
    g = 0 retraces h_track[idx : idx + T + 1] exactly (the reference is off by one here).
    Returns numpy: ``trajectories`` (G, n_traj, T + 1, H) (t = 0 is the start), ``nominal`` (T + 1, H),
    ``trace`` (G, T + 1) = trace of the covariance across trajectories (ddof = 1), ``mean_dist`` (G, T + 1)
    = mean Euclidean distance to the mean trajectory, ``gammas`` (G,).
    """
    W_ih, W_hh, _ = check_weights(weights)
    gen = make_generator(generator, device=W_hh.device)
    h_track = as_tensor(h_track, W_hh)
    noise = as_tensor(noise, W_ih)
    if not 0 <= idx or idx + T >= min(h_track.shape[0], noise.shape[0]):
        raise ValueError(f"idx={idx} with T={T} needs idx + T < {min(h_track.shape[0], noise.shape[0])}")
    if n_traj < 2:
        raise ValueError("n_traj must be >= 2 for a covariance")
    g = as_tensor(list(gammas), W_ih)[:, None, None, None]
    nominal_in = noise[idx + 1: idx + T + 1]  # (T, D)
    fresh = randn_on((n_traj, T, W_ih.shape[1]), gen, W_ih) * noise_std
    inp = (1 - g) * nominal_in + g * fresh  # (G, n_traj, T, D)
    G = g.shape[0]
    start = h_track[idx].expand(G, n_traj, -1).contiguous()
    traj = torch.cat([start[:, :, None], run_rnn(W_ih, W_hh, inp, start)], dim=2)  # (G, n, T+1, H)
    mean = traj.mean(1, keepdim=True)
    trace = traj.var(dim=1, correction=1).sum(-1)
    mean_dist = (traj - mean).norm(dim=-1).mean(1)
    return {"trajectories": to_numpy(traj), "nominal": to_numpy(h_track[idx: idx + T + 1]), "trace": to_numpy(trace),
            "mean_dist": to_numpy(mean_dist), "gammas": np.asarray(list(gammas), dtype=float)}


def run(weights: Weights, settings: dict, seed: int, model: str = "", log=print) -> tuple[dict, dict]:
    """The noise-sensitivity analysis of one model (settings: config ``dynamics.noise``): (arrays, meta)
    for :func:`rnnhmm.io.save_analysis`. Without a cluster / transition pair within the bounded search
    (or when the model diverges) the result is ``{"found": False}`` with ``meta["error"]``."""
    p, w = settings, weights
    gen = torch.Generator().manual_seed(seed)
    meta = {"model": model, "analysis": "noise"}
    areas, err = None, probe_divergence(w, p["steps"] + 20, derive_seed(seed, "probe"))
    if not err:
        try:
            areas = locate_areas(w, generator=gen, T=p["steps"], thr=p["threshold"], tf=p["tf"],
                                    n_trials=p["trials"], max_attempts=p["max_attempts"])
        except RuntimeError as exc:
            err = str(exc)
        else:
            err = divergence_message(areas.hidden.norm(dim=-1).numpy(), "locate_areas run")
    if err:
        log(err)
        meta["error"] = err
        arrays = {"found": False}
    else:
        log(f"cluster t={areas.cluster_idx}, transition t={areas.transition_idx}, change t={areas.change_idx} "
            f"(attempt {areas.attempts})")
        pca = fit_pca(areas.hidden, 2)
        arrays = dict(found=True, hidden_coords=pca_project(pca, areas.hidden).astype(np.float32),
                      outputs=areas.outputs.numpy().astype(np.int8), explained_percent=explained_variance_percent(pca),
                      cluster_idx=areas.cluster_idx, transition_idx=areas.transition_idx, change_idx=areas.change_idx,
                      prev_change_idx=areas.prev_change_idx, attempts=areas.attempts, scan_idx=areas.scan_idx,
                      firing_t=areas.firing_t, firing_rate=areas.firing_rate, gammas=np.asarray(p["gammas"], float))
        for name, idx in (("cluster", areas.cluster_idx), ("transition", areas.transition_idx)):
            ns = noise_sensitivity(w, areas.hidden, areas.noise, idx, gammas=p["gammas"], n_traj=p["trajectories"],
                                      T=p["horizon"], generator=gen)
            arrays[f"{name}_trace"] = ns["trace"]
            # bootstrap over trajectories of the last-step trace (the claim's sampling spread)
            last = np.asarray(ns["trajectories"])[:, :, -1]                  # (G, n_traj, H)
            brng = np.random.default_rng(derive_seed(seed, "bootstrap", name))
            idx = brng.integers(0, last.shape[1], size=(200, last.shape[1]))
            boots = np.stack([last[:, i].var(axis=1, ddof=1).sum(-1) for i in idx])  # (200, G)
            arrays[f"{name}_trace_boot_sd"] = boots.std(axis=0, ddof=1)
            arrays[f"{name}_mean_dist"] = ns["mean_dist"]
            arrays[f"{name}_traj"] = pca_project(pca, ns["trajectories"]).astype(np.float32)  # all; figure data picks
            log(f"{name}: trace at t={p['horizon']} per gamma {dict(zip(p['gammas'], ns['trace'][:, -1].round(3)))}")
        arrays.update(replicate_pairs(w, p, seed, areas, log))
    return arrays, meta


def replicate_pairs(weights: Weights, p: dict, seed: int, first: Areas, log=print) -> dict:
    """The claim's statistic over independent start pairs (one pair is an anecdote): ``p['pairs']``
    cluster / transition pairs (default 20; the figure's pair ``first`` is pair 0, each further one
    from its own seeded search on a fresh run), each with the last-step trace of
    ``p['trajectories']`` trajectories per gamma. Returns ``pair_cluster_trace``,
    ``pair_transition_trace`` (P, G), ``n_pairs`` and ``pair_failures`` (searches that found no
    pair or diverged: counted, never replaced)."""
    n = int(p.get("pairs", 20))
    traces = {"cluster": [], "transition": []}
    failures = 0
    for k in range(n):
        if k == 0:
            areas = first
        else:
            g = torch.Generator().manual_seed(derive_seed(seed, "pair", k))
            try:
                areas = locate_areas(weights, generator=g, T=p["steps"], thr=p["threshold"], tf=p["tf"],
                                     n_trials=p["trials"], max_attempts=p["max_attempts"])
            except RuntimeError:
                failures += 1
                continue
            if divergence_message(areas.hidden.norm(dim=-1).numpy(), "locate_areas run"):
                failures += 1
                continue
        g = torch.Generator().manual_seed(derive_seed(seed, "pair-noise", k))
        for name, idx in (("cluster", areas.cluster_idx), ("transition", areas.transition_idx)):
            ns = noise_sensitivity(weights, areas.hidden, areas.noise, idx, gammas=p["gammas"],
                                   n_traj=p["trajectories"], T=p["horizon"], generator=g)
            traces[name].append(ns["trace"][:, -1])
    G = len(p["gammas"])
    out = {f"pair_{name}_trace": np.asarray(v, float).reshape(-1, G) for name, v in traces.items()}
    out.update(n_pairs=len(traces["cluster"]), pair_failures=failures)
    d = out["pair_cluster_trace"] - out["pair_transition_trace"]
    if len(d) >= 2:
        log(f"{len(d)} start pairs ({failures} searches failed): cluster - transition per gamma "
            + ", ".join(f"{gm:g}: {m:+.3g} ± {se:.2g}" for gm, m, se in
                        zip(p["gammas"], d.mean(0), d.std(0, ddof=1) / np.sqrt(len(d)))))
    return out
