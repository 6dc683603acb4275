"""Causal interventions on single neurons (docs/mechanism.md E.9): kick, noise-projection and control
conditions, the gain mu swept from 0, critical eigenvalue pairs around output changes, and random
target sets as baselines. :func:`run` is the whole analysis of one model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from rnnhmm.model import Weights

from .circuit import as_long, eigvals_chunked, flat_indices, output_change_times, spectrum_counts
from .measures import DIVERGE_NORM, mu_grid, mu_index
from .numerics import fit_pca


def simulate_intervention(weights: Weights, noise: torch.Tensor, h0: torch.Tensor | None = None,
                          gain_rec: torch.Tensor | None = None, gain_in: torch.Tensor | None = None,
                          return_jacobians: bool = True) -> dict:
    """Intervened dynamics ``h_t = ReLU((W_hh h_{t-1}) * gain_rec + (W_ih x_t) * gain_in)``.

    The gains multiply rows, i.e. scale the recurrent / noise input *into* each neuron.
    noise (..., T, D); h0 (..., H) or None (zeros); gain_rec, gain_in (..., H) or None (ones); the
    leading axes broadcast (e.g. gains (M, H) with one shared noise (T, D) runs M conditions).
    Returns dict: ``states`` (..., T, H) = h_1..h_T, ``pre`` (..., T, H) pre-activations, and
    with ``return_jacobians`` ``jacobians`` (..., T, H, H): J_t = diag(1[pre_t > 0]) diag(gain_rec) W_hh,
    the exact derivative of h_t with respect to h_{t-1}.
    """
    W_ih, W_hh, _ = weights
    H = W_hh.shape[-1]
    ones = W_hh.new_ones(H)
    g_rec = ones if gain_rec is None else gain_rec.to(W_hh.dtype)
    g_in = ones if gain_in is None else gain_in.to(W_hh.dtype)
    h_init = W_hh.new_zeros(H) if h0 is None else h0.to(W_hh.dtype)
    batch = torch.broadcast_shapes(noise.shape[:-2], h_init.shape[:-1], g_rec.shape[:-1], g_in.shape[:-1])
    drive = (noise.to(W_hh.dtype) @ W_ih.transpose(-1, -2)) * g_in.unsqueeze(-2)  # (..., T, H)
    drive = drive.expand(*batch, *drive.shape[-2:])
    h = h_init.expand(*batch, H)
    W_hh_T = W_hh.transpose(-1, -2)
    pres, states = [], []
    for t in range(drive.shape[-2]):
        pre = (h @ W_hh_T) * g_rec + drive[..., t, :]
        h = torch.relu(pre)
        pres.append(pre)
        states.append(h)
    out = {"states": torch.stack(states, -2), "pre": torch.stack(pres, -2)}
    if return_jacobians:
        out["jacobians"] = intervention_jacobians(W_hh, out["pre"], g_rec)
    return out


def intervention_jacobians(W_hh: torch.Tensor, pre: torch.Tensor, gain_rec: torch.Tensor | None = None) -> torch.Tensor:
    """J = diag(1[pre > 0]) diag(gain_rec) W_hh for pre (..., H) -> (..., H, H).

    ``gain_rec`` (H,) or broadcastable to pre's leading axes with an H axis (e.g. (M, 1, H) for
    pre (M, T, H)).
    """
    row = (pre > 0).to(W_hh.dtype)
    if gain_rec is not None:
        row = row * gain_rec
    return row.unsqueeze(-1) * W_hh


def presynaptic_union(W_hh: torch.Tensor, neurons, topk: int) -> torch.Tensor:
    """Union over k in ``neurons`` of the ``topk`` largest entries of W_hh[k, :] (strongest
    excitatory inputs onto k); sorted LongTensor."""
    idx = as_long(neurons)
    if idx.numel() == 0 or topk <= 0:
        return torch.zeros(0, dtype=torch.long)
    top = torch.topk(W_hh[idx], k=min(topk, W_hh.shape[1]), dim=1).indices
    return torch.unique(top.reshape(-1))


@dataclass(frozen=True)
class Condition:
    """An intervention condition: gains mu on ``targets`` in one pathway, 1 elsewhere.

    pathway 'recurrent' scales W_hh h into the targets (gain_rec), 'input' scales W_ih x (gain_in).
    Calling it with mus (M,) returns (gain_rec (M, H), gain_in (M, H)).
    """

    targets: torch.Tensor
    pathway: str
    hidden_size: int

    def __post_init__(self):
        if self.pathway not in ("recurrent", "input"):
            raise ValueError(f"pathway must be 'recurrent' or 'input', got {self.pathway!r}")

    def __call__(self, mus) -> tuple[torch.Tensor, torch.Tensor]:
        mus = torch.as_tensor(mus, dtype=torch.float64).reshape(-1)
        base = torch.ones(mus.numel(), self.hidden_size, dtype=torch.float64)
        scaled = base.clone()
        scaled[:, as_long(self.targets)] = mus[:, None]
        return (scaled, base) if self.pathway == "recurrent" else (base, scaled)


def kick_condition(hidden_size: int, kick_group) -> Condition:
    """Kick condition: gain mu on the recurrent input into the kick neurons of one group."""
    return Condition(torch.unique(as_long(kick_group)), "recurrent", hidden_size)


def topk_of(value, hidden: int) -> int:
    """A presynaptic top-k size for a network of ``hidden`` neurons: an integer as it is (at most
    ``hidden``), a fraction in (0, 1) of ``hidden`` (the paper's 60 and 35 of 150 neurons are 0.4 and
    0.2333: the default for configs that do not set them, so the sets scale with the network)."""
    if isinstance(value, bool) or value < 0:
        raise ValueError(f"top-k must be an integer >= 0 or a fraction in (0, 1), got {value!r}")
    if isinstance(value, float) and 0 < value < 1:
        return max(1, round(value * hidden))
    return min(int(value), hidden)


def noise_projection_condition(W_hh: torch.Tensor, kick_group, kick_all, topk: int = 60) -> Condition:
    """Noise-projection condition: gain mu on the noise input into the union of the ``topk``
    presynaptic neurons of ``kick_group``, all kick neurons (``kick_all``) excluded."""
    targets = presynaptic_union(W_hh, kick_group, topk)
    targets = targets[~torch.isin(targets, flat_indices(kick_all))]
    return Condition(targets, "input", W_hh.shape[0])


def control_condition(W_hh: torch.Tensor, kick_all, topk: int = 35) -> Condition:
    """Control condition: gain mu on the noise input into every neuron outside the union of the
    ``topk`` presynaptic sets of all kick neurons, kick neurons excluded."""
    kick = flat_indices(kick_all)
    inside = torch.zeros(W_hh.shape[0], dtype=torch.bool)
    inside[presynaptic_union(W_hh, kick, topk)] = True
    inside[kick] = True
    return Condition(torch.nonzero(~inside).reshape(-1), "input", W_hh.shape[0])


def critical_eigen_counts(jacobians: torch.Tensor, re_tol: float = 0.1, im_min: float = 0.06,
                          chunk: int = 256) -> torch.Tensor:
    """Number of eigenvalues per matrix with |Re w| < re_tol and Im w > im_min (w = Moebius of
    lambda), i.e. complex pairs near the unit circle, each pair counted once. (..., H, H) -> (...)."""
    shape = jacobians.shape[:-2]
    lam = eigvals_chunked(jacobians.reshape(-1, *jacobians.shape[-2:]), chunk)
    return spectrum_counts(lam, re_tol, im_min)[1].reshape(shape)


def _window_stats(step_counts: torch.Tensor, change_times: torch.Tensor, window: int) -> dict:
    T = step_counts.shape[0]
    per = []
    for a in as_long(change_times).tolist():
        lo, hi = max(0, a - window), min(T, a + window)
        per.append(float(step_counts[lo:hi].sum()))
    per_t = torch.tensor(per, dtype=torch.float64)
    if per_t.numel() == 0:
        return {"mean": 0.0, "std": 0.0, "counts": per_t}
    return {"mean": float(per_t.mean()), "std": float(per_t.std(unbiased=False)), "counts": per_t}


def _window_steps(T: int, change_times: torch.Tensor, window: int) -> torch.Tensor:
    steps = [torch.arange(max(0, a - window), min(T, a + window)) for a in as_long(change_times).tolist()]
    return torch.unique(torch.cat(steps)) if steps else torch.zeros(0, dtype=torch.long)


def critical_pairs(jacobians: torch.Tensor, change_times, window: int = 15, re_tol: float = 0.1,
                   im_min: float = 0.06, chunk: int = 256) -> dict:
    """Critical complex pairs around output transitions (docs/mechanism.md E.9, ``compute_CE``).

    jacobians (T, H, H) with J_t = d h_t / d h_{t-1}; change_times: times a_k of output changes
    (see :func:`output_change_times`). For each a_k the count is the number of eigenvalues of all
    J_t, t in [a_k - window, a_k + window) clipped to [0, T), with |Re w| < re_tol and
    Im w > im_min. Returns dict ``mean``, ``std`` (population std, floats; 0 with no transitions)
    and ``counts`` (n_transitions,) float64.
    """
    T = jacobians.shape[0]
    ct = as_long(change_times)
    steps = _window_steps(T, ct, window)
    step_counts = torch.zeros(T, dtype=torch.float64)
    if steps.numel():
        step_counts[steps] = critical_eigen_counts(jacobians[steps], re_tol, im_min, chunk).double()
    return _window_stats(step_counts, ct, window)


def intervention_sweep(weights: Weights, condition: Callable, mus, noise: torch.Tensor,
                       h0: torch.Tensor | None = None, window: int = 15, re_tol: float = 0.1,
                       im_min: float = 0.06, chunk: int = 256) -> dict:
    """Run one intervention condition for all ``mus`` as one batch and count critical pairs.

    condition(mus) -> (gain_rec (M, H), gain_in (M, H)) (e.g. a :class:`Condition`); noise (T, D)
    and h0 (H,) are shared by all mu. Output = argmax(W_out h). Transitions with fewer than 2
    output changes fall back to the change times of the unintervened run (the mu = 1 row, or a
    separate run if 1 is not among mus), as in the reference. Jacobians are formed only at the
    steps inside the windows.
    Returns dict: ``mus`` (M,), ``states`` (M, T, H), ``outputs`` (M, T), ``change_times`` list of
    M LongTensors (those used), ``pairs_mean`` (M,), ``pairs_std`` (M,), ``pairs_counts`` list,
    ``gain_rec``, ``gain_in`` (M, H).
    """
    W_hh, W_out = weights.W_hh, weights.W_out
    mus_t = torch.as_tensor(mus, dtype=torch.float64).reshape(-1)
    g_rec, g_in = condition(mus_t)
    g_rec, g_in = g_rec.to(W_hh.dtype), g_in.to(W_hh.dtype)
    sim = simulate_intervention(weights, noise, h0, g_rec, g_in, return_jacobians=False)
    states, pre = sim["states"], sim["pre"]
    outputs = (states @ W_out.transpose(-1, -2)).argmax(-1)
    unit = torch.nonzero(torch.isclose(mus_t, torch.tensor(1.0, dtype=torch.float64))).reshape(-1)
    if unit.numel():
        ref_out = outputs[int(unit[0])]
    else:
        ref = simulate_intervention(weights, noise, h0, return_jacobians=False)["states"]
        ref_out = (ref @ W_out.transpose(-1, -2)).argmax(-1)
    ref_ct = output_change_times(ref_out)
    T = states.shape[-2]
    means, stds, counts, used = [], [], [], []
    for m in range(mus_t.numel()):
        ct = output_change_times(outputs[m])
        if ct.numel() < 2:
            ct = ref_ct
        steps = _window_steps(T, ct, window)
        step_counts = torch.zeros(T, dtype=torch.float64)
        if steps.numel():
            J = intervention_jacobians(W_hh, pre[m, steps], g_rec[m])
            step_counts[steps] = critical_eigen_counts(J, re_tol, im_min, chunk).double()
        st = _window_stats(step_counts, ct, window)
        means.append(st["mean"])
        stds.append(st["std"])
        counts.append(st["counts"])
        used.append(ct)
    return {"mus": mus_t, "states": states, "outputs": outputs, "change_times": used,
            "pairs_mean": torch.tensor(means, dtype=torch.float64),
            "pairs_std": torch.tensor(stds, dtype=torch.float64), "pairs_counts": counts,
            "gain_rec": g_rec, "gain_in": g_in}


# ----------------------------------------------------------------------------------------------
# 4. emergence during training (docs/mechanism.md E.10)



def intervention_effects(weights: Weights, target_sets: Sequence, pathway: str, mus: Sequence[float],
                         noises: torch.Tensor, h0s: torch.Tensor, window: int = 15, re_tol: float = 0.1,
                         im_min: float = 0.06, pairs: bool = True, chunk: int = 256) -> dict:
    """Statistics of intervened runs for many target sets and noise seeds (docs/mechanism.md E.9).

    target_sets: list of N index sets; pathway 'recurrent' or 'input'; mus: gains (1 = no
    intervention is added as the reference); noises (S, T, D), h0s (S, H): one noise sequence and
    start per seed, shared by every set and mu. For every (set, seed, mu): ``changes`` output
    changes over the run; ``pairs`` critical complex pairs per transition window (the reference
    run's change times when fewer than 2 changes, as in the paper); ``spread`` mean distance of the
    states from the reference run's mean state (overshoot shows as a larger spread); ``diverged``
    whether some |h| of the run exceeds DIVERGE_NORM (or is non-finite): such a run's spread is
    set to DIVERGE_NORM (the statistic stays bounded) and it is counted by the claims.
    Returns arrays (N, S, len(mus)) plus ``ref_changes``, ``ref_pairs``, ``ref_spread``,
    ``ref_diverged`` (S,).
    """
    W_hh, W_out = weights.W_hh, weights.W_out
    H = W_hh.shape[0]
    mus_t = torch.as_tensor(list(mus), dtype=torch.float64)
    N, S, M = len(target_sets), noises.shape[0], mus_t.numel()
    gains = torch.ones(N * M + 1, H, dtype=W_hh.dtype)       # row 0: the reference (no intervention)
    for i, tg in enumerate(target_sets):
        idx = as_long(tg)
        for j in range(M):
            gains[1 + i * M + j, idx] = float(mus_t[j])
    ones = torch.ones_like(gains)
    g_rec, g_in = (gains, ones) if pathway == "recurrent" else (ones, gains)
    out = {k: torch.zeros(N, S, M, dtype=torch.float64) for k in ("changes", "pairs", "spread")}
    ref = {k: torch.zeros(S, dtype=torch.float64) for k in ("changes", "pairs", "spread")}
    out["diverged"] = torch.zeros(N, S, M, dtype=torch.bool)
    ref["diverged"] = torch.zeros(S, dtype=torch.bool)
    for s in range(S):
        sim = simulate_intervention(weights, noises[s], h0s[s], g_rec, g_in, return_jacobians=False)
        states, pre = sim["states"], sim["pre"]                          # (R, T, H)
        outs = (states @ W_out.transpose(-1, -2)).argmax(-1)
        T = states.shape[1]
        ref_ct = output_change_times(outs[0])
        centre = states[0].mean(0)
        norms = states.norm(dim=-1)                                      # (R, T)
        bad = ~torch.isfinite(norms).all(1) | (torch.nan_to_num(norms, nan=float("inf")).amax(1) > DIVERGE_NORM)
        dist = (states - centre).norm(dim=-1).mean(1)                     # (R,)
        dist = torch.where(bad | ~torch.isfinite(dist), torch.full_like(dist, DIVERGE_NORM),
                           dist.clamp(max=DIVERGE_NORM))
        for r in range(states.shape[0]):
            ct = output_change_times(outs[r])
            n_ch = float(ct.numel())
            if ct.numel() < 2:
                ct = ref_ct
            pr = 0.0
            if pairs:
                steps = _window_steps(T, ct, window)
                sc = torch.zeros(T, dtype=torch.float64)
                if steps.numel():
                    J = intervention_jacobians(W_hh, pre[r, steps], g_rec[r])
                    sc[steps] = critical_eigen_counts(J, re_tol, im_min, chunk).double()
                pr = _window_stats(sc, ct, window)["mean"]
            sp = float(dist[r])
            if r == 0:
                ref["changes"][s], ref["pairs"][s], ref["spread"][s] = n_ch, pr, sp
                ref["diverged"][s] = bool(bad[r])
            else:
                i, j = divmod(r - 1, M)
                out["changes"][i, s, j], out["pairs"][i, s, j], out["spread"][i, s, j] = n_ch, pr, sp
                out["diverged"][i, s, j] = bool(bad[r])
    return {**out, "ref_changes": ref["changes"], "ref_pairs": ref["pairs"], "ref_spread": ref["spread"],
            "ref_diverged": ref["diverged"], "mus": mus_t}



def run(weights: Weights, kick: dict, settings: dict, seed: int, model: str, log=print) -> dict:
    """The interventions on one model (settings: config ``mechanism.interventions``; float64
    ``weights``; ``kick``: its kick analysis record): per kick group the kick, noise-projection and
    control conditions swept over mu, and random-set baselines (the JSON record, without provenance)."""
    p = settings
    W_hh = weights.W_hh
    H, D = W_hh.shape[0], weights.W_ih.shape[1]
    mus = mu_grid(p["mu_max"], p["mu_step"])
    if not any(abs(m - 1.0) < 1e-9 for m in mus):
        raise ValueError(f"the mu grid {mus} must contain 1 (the unintervened run)")
    show = [mus[mu_index(mus, m)] for m in p["show_mus"]]
    groups = kick["groups"]
    all_kick = [i for g in groups for i in g]
    out = {"model": model, "hmm": kick["hmm"], "mus": mus, "show_mus": show,
           "kick_status": kick["group_status"], "groups": []}
    non_kick = torch.tensor([i for i in range(H) if i not in set(all_kick)], dtype=torch.long)
    R, S = p["random_sets"], p["noise_seeds"]
    base_mus = [0.0, 2.0]

    def baseline(gi, group, conditions):
        """Each condition's targets and R random non-kick sets of the same size, over S noise seeds
        (shared by all sets): effects at mu = 0 and mu = 2 against the unintervened run."""
        bgen = torch.Generator().manual_seed(seed + 1000 + gi)
        noises = torch.randn(S, p["T"], D, generator=bgen, dtype=W_hh.dtype)
        h0s = torch.randn(S, H, generator=bgen, dtype=W_hh.dtype)
        res = {}
        for name, cond in conditions.items():
            targets, k_full = cond.targets, int(cond.targets.numel())
            pool, limited = non_kick, False
            if name == "noise_projection":
                # random sets disjoint from the targets, so that the comparison has power; when the
                # presynaptic union holds more than half of the non-kick neurons, it is cut to its
                # strongest half (largest weight onto the kick group) to leave a disjoint pool
                half = non_kick.numel() // 2
                if k_full > half:
                    strength = W_hh[torch.as_tensor(group)][:, targets].amax(0)
                    targets = torch.sort(targets[torch.argsort(strength, descending=True)[:half]]).values
                    limited = True
                pool = non_kick[~torch.isin(non_kick, targets)]
            k = int(targets.numel())
            if k == 0 or k > pool.numel():
                res[name] = {"skipped": f"{k} targets; {pool.numel()} non-kick neurons to draw random sets from"}
                continue
            sets = [targets] + [pool[torch.randperm(pool.numel(), generator=bgen)[:k]] for _ in range(R)]
            eff = intervention_effects(weights, sets, cond.pathway, base_mus, noises, h0s, window=p["window"],
                                            re_tol=p["re_tol"], im_min=p["im_min"])
            overlap = float(torch.isin(pool, targets).double().mean()) if pool.numel() else 0.0
            res[name] = {"n_targets": k, "n_targets_condition": k_full, "size_limited": limited,
                         "targets": targets.tolist(), "random_pool": int(pool.numel()),
                         "pool_overlap": overlap, "pathway": cond.pathway, "mus": base_mus, "n_random": R,
                         "n_seeds": S,
                         **{key: eff[key].tolist() for key in ("changes", "pairs", "spread", "diverged",
                                                               "ref_changes", "ref_pairs", "ref_spread",
                                                               "ref_diverged")}}
            log(f"group {gi + 1} {name} baseline: targets pairs(0) {eff['pairs'][0, :, 0].mean():.2f}, random "
                f"{eff['pairs'][1:, :, 0].mean():.2f}, unintervened {eff['ref_pairs'].mean():.2f}; changes(0) "
                f"{eff['changes'][0, :, 0].mean():.1f} vs random {eff['changes'][1:, :, 0].mean():.1f} "
                f"(unintervened {eff['ref_changes'].mean():.1f})")
        return res

    for gi, group in enumerate(groups):
        entry = {"group": gi + 1, "neurons": group, "status": kick["group_status"][gi]}
        if not group:
            entry["skipped"] = "kick group is empty"
            out["groups"].append(entry)
            log(f"group {gi + 1}: empty, skipped")
            continue
        gen = torch.Generator().manual_seed(seed + gi)
        noise = torch.randn(p["T"], D, generator=gen, dtype=W_hh.dtype)
        h0 = torch.randn(H, generator=gen, dtype=W_hh.dtype)
        conditions = {
            "kick": kick_condition(H, group),
            "noise_projection": noise_projection_condition(W_hh, group, all_kick, topk_of(p["noise_topk"], H)),
            "control": control_condition(W_hh, all_kick, topk_of(p["control_topk"], H)),
        }
        pca = None
        entry["conditions"] = {}
        for name, cond in conditions.items():
            res = intervention_sweep(weights, cond, mus, noise, h0, window=p["window"],
                                          re_tol=p["re_tol"], im_min=p["im_min"])
            states = res["states"]
            if pca is None:  # one plane per group: PCA(2) of the unintervened (mu = 1) run
                pca = fit_pca(states[mu_index(mus, 1.0)], 2)
                entry["explained_variance"] = (100 * pca.explained_variance_ratio_).tolist()
            n_changes = [int(output_change_times(o).numel()) for o in res["outputs"]]
            entry["conditions"][name] = {
                "targets": cond.targets.tolist(), "n_targets": int(cond.targets.numel()),
                "pathway": cond.pathway,
                "pairs_mean": res["pairs_mean"].tolist(), "pairs_std": res["pairs_std"].tolist(),
                "n_changes": n_changes,
                "trajectories": {f"{m:g}": pca.transform(states[mu_index(mus, m)].numpy()).tolist()  # all T steps
                                 for m in show},
            }
            log(f"group {gi + 1} {name}: {cond.targets.numel()} targets; pairs at mu=0/1/{mus[-1]:g}: "
                f"{res['pairs_mean'][0]:.2f} / {res['pairs_mean'][mu_index(mus, 1.0)]:.2f} / "
                f"{res['pairs_mean'][-1]:.2f}; output changes at mu=1: {n_changes[mu_index(mus, 1.0)]}")
        entry["baseline"] = baseline(gi, group, conditions)
        out["groups"].append(entry)
    return out
