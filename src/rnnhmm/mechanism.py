"""Single-neuron mechanism, causal interventions, emergence in training and readout alignment
(spec §E.8-E.11).

All functions are pure: weights and arrays in, tensors / dicts out. Every random draw goes through
an explicit ``torch.Generator`` (or a seed that builds one). Conventions (spec §B.1, §E):

* one step ``h_t = ReLU(W_hh h_{t-1} + W_ih x_t)``; ``hidden[t]`` is h_{t+1} when the trajectory
  starts from ``h0`` (the layout of :func:`rnnhmm.model.run_rnn`);
* "pre-activation" of step t is ``W_hh h_{t-1} + W_ih x_t`` (the argument of the ReLU), in the
  same units as the hidden state;
* "output" is the deterministic label ``argmax(W_out h_t)``;
* the Jacobian of step t is ``J_t = d h_t / d h_{t-1}``;
* Moebius transform ``w = (lambda - 1) / (lambda + 1)`` maps the unit circle onto the imaginary
  axis: ``Re w > 0  <=>  |lambda| > 1``; a complex pair near the unit circle has ``|Re w|`` small
  and is counted once, by its member with ``Im w > 0``;
* local-dynamics regions use the integer codes of ``rnnhmm.dynamics`` (re-declared here so this
  module does not import it): GROUP_TRANSITION=0, GROUP_KICK=1, GROUP_CLUSTER=2, GROUP_OTHER=-1.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .onsets import persistent_onset, plateau_exit  # noqa: F401 (re-exported)

from .model import Weights, run_rnn

__all__ = [
    "GROUP_TRANSITION", "GROUP_KICK", "GROUP_CLUSTER", "GROUP_OTHER",
    "preactivations", "logit_difference", "select_kick_neurons",
    "integrating_populations", "sorted_weight_blocks",
    "simulate_intervention", "intervention_jacobians", "presynaptic_union", "Condition",
    "kick_condition", "noise_projection_condition", "control_condition",
    "output_change_times", "moebius", "critical_eigen_counts", "critical_pairs", "intervention_sweep",
    "evolution_metrics", "bifurcation_epoch", "second_loss_drop",
    "readout_alignment", "select_kick_neurons_directional", "mean_block_weight", "weight_contrast",
    "intervention_effects", "persistent_onset", "plateau_exit",
]

GROUP_TRANSITION = 0
GROUP_KICK = 1
GROUP_CLUSTER = 2
GROUP_OTHER = -1


# ----------------------------------------------------------------------------------------------
# helpers


def _as_long(idx) -> torch.Tensor:
    return torch.as_tensor(idx, dtype=torch.long).reshape(-1)


def _flat_indices(groups) -> torch.Tensor:
    """A flat LongTensor from an index tensor, a list of ints or a list of index groups."""
    if isinstance(groups, torch.Tensor):
        return groups.reshape(-1).long()
    parts = [_as_long(g) for g in groups] if len(groups) and not isinstance(groups[0], int) else [_as_long(groups)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def _generator(generator: torch.Generator | None, seed: int | None) -> torch.Generator:
    if generator is not None:
        return generator
    return torch.Generator().manual_seed(0 if seed is None else int(seed))


def moebius(eigvals: torch.Tensor) -> torch.Tensor:
    """Moebius transform w = (lambda - 1) / (lambda + 1) (complex, same shape)."""
    return (eigvals - 1) / (eigvals + 1)


def output_change_times(outputs: torch.Tensor) -> torch.Tensor:
    """Times t (1 <= t < T) with outputs[t] != outputs[t-1], for outputs (T,); LongTensor (n,)."""
    return (torch.nonzero(outputs[1:] != outputs[:-1]).reshape(-1) + 1).long()


@contextmanager
def _single_thread():
    """Run torch CPU ops on one thread, restoring the previous setting. Batched ``eigvals`` of
    small matrices gains nothing from threads and slows down 5-25x when cores are shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _eigvals_chunked(mats: torch.Tensor, chunk: int) -> torch.Tensor:
    """Eigenvalues of a stack (N, H, H) computed in chunks of ``chunk`` matrices; (N, H) complex."""
    if not bool(torch.isfinite(mats).all()):
        raise ValueError("non-finite entries in the matrices passed to eigvals")
    with _single_thread():
        out = [torch.linalg.eigvals(mats[i:i + chunk]) for i in range(0, mats.shape[0], chunk)]
    return torch.cat(out, 0) if out else torch.zeros(0, mats.shape[-1], dtype=torch.complex128)


# ----------------------------------------------------------------------------------------------
# 1. kick neurons (spec §E.8)


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


def _pearson(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Correlation of each column of x (T, H) with y (T,); 0 where either is constant."""
    xc = x - x.mean(0)
    yc = y - y.mean()
    num = (xc * yc[:, None]).sum(0)
    den = xc.norm(dim=0) * yc.norm()
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(num))


def select_kick_neurons(pre: torch.Tensor, groups: torch.Tensor, logit_diff: torch.Tensor,
                        theta: float = 1.0, eps: float = 0.5, max_per_group: int | None = None,
                        split: str = "change") -> dict:
    """Kick neurons by the criterion of spec §E.8, split into the two transitions they drive.

    pre (T, H) pre-activations; groups (T,) region codes (GROUP_*); logit_diff (T,) = l_2 - l_0.

    Rule. With m_c, m_k, m_t the neuron's mean pre-activation over cluster, kick-zone and
    transition steps, a neuron is a kick neuron iff
        m_c < -theta  (strongly negative in clusters),  |m_k| < eps  (at threshold in kick-zones),
        m_t > 0       (active in transitions).
    ``score = min(-m_c - theta, eps - |m_k|, m_t)`` (pre-activation units) is positive exactly for
    selected neurons and ranks all neurons when none pass. Group 0 / 1 = neurons whose
    pre-activation correlates positively / negatively with the drive signal: the rate of change
    of l_2 - l_0 (central differences, ``split='change'``, default) or l_2 - l_0 itself
    (``split='level'``). Group 0 drives the 0 -> 2 transition, group 1 the 2 -> 0 one.
    Within a group neurons are sorted by decreasing score and cut to ``max_per_group``.

    Returns dict: ``indices`` [list0, list1]; ``scores`` (H,); ``selected`` (H,) bool;
    ``correlation`` (H,); ``ranked`` [LongTensor, LongTensor] every neuron of that correlation
    sign by decreasing score; ``mean_pre`` {'cluster','kick','transition'} -> (H,).
    """
    if pre.ndim != 2 or groups.shape != pre.shape[:1] or logit_diff.shape != pre.shape[:1]:
        raise ValueError(f"shapes: pre {tuple(pre.shape)}, groups {tuple(groups.shape)}, "
                         f"logit_diff {tuple(logit_diff.shape)}")
    pre = pre.double()
    means = {}
    for name, code in (("cluster", GROUP_CLUSTER), ("kick", GROUP_KICK), ("transition", GROUP_TRANSITION)):
        mask = groups == code
        if not bool(mask.any()):
            raise ValueError(f"no '{name}' steps (code {code}) in groups")
        means[name] = pre[mask].mean(0)
    margins = torch.stack([-means["cluster"] - theta, eps - means["kick"].abs(), means["transition"]])
    scores = margins.min(0).values
    selected = scores > 0

    ld = logit_diff.double()
    if split == "change":
        signal = torch.gradient(ld)[0] if ld.numel() > 1 else torch.zeros_like(ld)
    elif split == "level":
        signal = ld
    else:
        raise ValueError(f"split must be 'change' or 'level', got {split!r}")
    corr = _pearson(pre, signal)

    ranked, indices = [], []
    for side in (corr >= 0, corr < 0):
        cand = torch.nonzero(side).reshape(-1)
        cand = cand[torch.argsort(scores[cand], descending=True, stable=True)]
        ranked.append(cand)
        chosen = cand[selected[cand]]
        if max_per_group is not None:
            chosen = chosen[:max_per_group]
        indices.append(chosen.tolist())
    return {"indices": indices, "scores": scores, "selected": selected, "correlation": corr,
            "ranked": ranked, "mean_pre": means}


# ----------------------------------------------------------------------------------------------
# 2. noise-integrating populations (spec §E.8)


def integrating_populations(W_hh: torch.Tensor, kick_groups: Sequence, topk: int = 70,
                            exclude_kick: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two noise-integrating populations gating the kick groups.

    g1[j], g2[j] = mean weight from neuron j onto kick group 1 / 2 (mean of the W_hh rows of the
    group). Neurons are sorted by g1*g2 ascending (opposite-sign projections first), the first
    ``topk`` are re-ordered by g1 ascending and split in halves: pop1 (first topk//2: inhibit kick
    group 1, excite group 2) and pop2 (the rest). ``exclude_kick`` drops the kick neurons from the
    candidates (the reference keeps them). Returns (pop1, pop2, order) LongTensors; order = pop1++pop2.
    """
    k1, k2 = _as_long(kick_groups[0]), _as_long(kick_groups[1])
    g1 = W_hh[k1].mean(0)
    g2 = W_hh[k2].mean(0)
    cand = torch.arange(W_hh.shape[0])
    if exclude_kick:
        keep = torch.ones_like(cand, dtype=torch.bool)
        keep[torch.cat([k1, k2])] = False
        cand = cand[keep]
    cand = cand[torch.argsort((g1 * g2)[cand], stable=True)][:topk]
    order = cand[torch.argsort(g1[cand], stable=True)]
    half = order.numel() // 2
    return order[:half], order[half:], order


def sorted_weight_blocks(W_hh: torch.Tensor, kick, pops) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blocks of W_hh (rows = post-synaptic) for the weight-matrix figure.

    kick: kick indices (flat or [group1, group2]); pops: population order (flat or (pop1, pop2)).
    Returns (W[kick, kick] (k,k), W[kick, pops] (k,p), W[pops, pops] (p,p)).
    """
    k = _flat_indices(kick)
    p = _flat_indices(pops)
    return W_hh[k][:, k], W_hh[k][:, p], W_hh[p][:, p]


# ----------------------------------------------------------------------------------------------
# 3. interventions (spec §E.9)


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
    idx = _as_long(neurons)
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
        scaled[:, _as_long(self.targets)] = mus[:, None]
        return (scaled, base) if self.pathway == "recurrent" else (base, scaled)


def kick_condition(hidden_size: int, kick_group) -> Condition:
    """Kick condition: gain mu on the recurrent input into the kick neurons of one group."""
    return Condition(torch.unique(_as_long(kick_group)), "recurrent", hidden_size)


def noise_projection_condition(W_hh: torch.Tensor, kick_group, kick_all, topk: int = 60) -> Condition:
    """Noise-projection condition: gain mu on the noise input into the union of the ``topk``
    presynaptic neurons of ``kick_group``, all kick neurons (``kick_all``) excluded."""
    targets = presynaptic_union(W_hh, kick_group, topk)
    targets = targets[~torch.isin(targets, _flat_indices(kick_all))]
    return Condition(targets, "input", W_hh.shape[0])


def control_condition(W_hh: torch.Tensor, kick_all, topk: int = 35) -> Condition:
    """Control condition: gain mu on the noise input into every neuron outside the union of the
    ``topk`` presynaptic sets of all kick neurons, kick neurons excluded."""
    kick = _flat_indices(kick_all)
    inside = torch.zeros(W_hh.shape[0], dtype=torch.bool)
    inside[presynaptic_union(W_hh, kick, topk)] = True
    inside[kick] = True
    return Condition(torch.nonzero(~inside).reshape(-1), "input", W_hh.shape[0])


def critical_eigen_counts(jacobians: torch.Tensor, re_tol: float = 0.1, im_min: float = 0.06,
                          chunk: int = 256) -> torch.Tensor:
    """Number of eigenvalues per matrix with |Re w| < re_tol and Im w > im_min (w = Moebius of
    lambda), i.e. complex pairs near the unit circle, each pair counted once. (..., H, H) -> (...)."""
    shape = jacobians.shape[:-2]
    w = moebius(_eigvals_chunked(jacobians.reshape(-1, *jacobians.shape[-2:]), chunk))
    return ((w.real.abs() < re_tol) & (w.imag > im_min)).sum(-1).reshape(shape)


def _window_stats(step_counts: torch.Tensor, change_times: torch.Tensor, window: int) -> dict:
    T = step_counts.shape[0]
    per = []
    for a in _as_long(change_times).tolist():
        lo, hi = max(0, a - window), min(T, a + window)
        per.append(float(step_counts[lo:hi].sum()))
    per_t = torch.tensor(per, dtype=torch.float64)
    if per_t.numel() == 0:
        return {"mean": 0.0, "std": 0.0, "counts": per_t}
    return {"mean": float(per_t.mean()), "std": float(per_t.std(unbiased=False)), "counts": per_t}


def _window_steps(T: int, change_times: torch.Tensor, window: int) -> torch.Tensor:
    steps = [torch.arange(max(0, a - window), min(T, a + window)) for a in _as_long(change_times).tolist()]
    return torch.unique(torch.cat(steps)) if steps else torch.zeros(0, dtype=torch.long)


def critical_pairs(jacobians: torch.Tensor, change_times, window: int = 15, re_tol: float = 0.1,
                   im_min: float = 0.06, chunk: int = 256) -> dict:
    """Critical complex pairs around output transitions (spec §E.9, ``compute_CE``).

    jacobians (T, H, H) with J_t = d h_t / d h_{t-1}; change_times: times a_k of output changes
    (see :func:`output_change_times`). For each a_k the count is the number of eigenvalues of all
    J_t, t in [a_k - window, a_k + window) clipped to [0, T), with |Re w| < re_tol and
    Im w > im_min. Returns dict ``mean``, ``std`` (population std, floats; 0 with no transitions)
    and ``counts`` (n_transitions,) float64.
    """
    T = jacobians.shape[0]
    ct = _as_long(change_times)
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
# 4. emergence during training (spec §E.10)


def _dwell_stats(outputs: torch.Tensor) -> tuple[float, float]:
    """(transition rate = mean of 1/dwell, mean dwell) of outputs (T,); (0, T) with < 2 changes."""
    ct = output_change_times(outputs)
    dwell = torch.diff(ct).double()
    if dwell.numel() == 0:
        return 0.0, float(outputs.shape[0])
    return float((1.0 / dwell).mean()), float(dwell.mean())


def _run_models(W_ih: torch.Tensor, W_hh: torch.Tensor, noise: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """E models driven by one shared noise: W_ih (E, H, D), W_hh (E, H, H), noise (T, D),
    h0 (E, H) -> states h_1..h_T (E, T, H)."""
    drive = torch.einsum("td,ehd->eth", noise, W_ih)
    W_hh_T = W_hh.transpose(-1, -2)
    h = h0.unsqueeze(1)                                                    # (E, 1, H)
    states = []
    for t in range(noise.shape[0]):
        h = torch.relu(drive[:, t:t + 1] + h @ W_hh_T)
        states.append(h)
    return torch.cat(states, 1) if states else drive


def evolution_metrics(weights_list: Sequence[Weights], T: int = 5000, warmup: int = 10,
                      generator: torch.Generator | None = None, seed: int | None = 0,
                      h0: torch.Tensor | None = None, sigma: float = 1.0, h0_scale: float = 0.1,
                      h_eps: float = 0.05, trials: int = 20, tdh2: int = 10, re_tol: float = 0.1,
                      im_min: float = 0.05, chunk: int = 512, return_states: bool = False) -> dict:
    """Per-checkpoint dynamics metrics along training (spec §E.10, ``second_order``).

    All checkpoints (same H, D, K) see the SAME h0, warm-up noise (warmup, D), main noise (T, D),
    perturbations and perturbation noises, drawn once from ``generator`` (or ``seed``); each
    epoch's warm-up starts afresh from h0 (no state is carried between epochs). Epochs run as
    one batch. h0 defaults to (2 randn - 1) * h0_scale; noise has std ``sigma``.

    Per epoch (all over the T main steps after warm-up; outputs argmax(W_out h)):
    * ``sampled_change_rate`` fraction of steps whose Gumbel-sampled output (as the model emits
      it) changes: comparable with the same statistic on HMM samples (docs/claims.md);
    * ``transition_rate`` mean of 1/dwell over the dwell times between output changes
      (0 with fewer than 2 changes), ``mean_dwell`` (T with fewer than 2 changes), in steps;
    * with J_t = diag(1[h_t > 0]) W_hh (the exact step Jacobian): ``unstable_fraction`` fraction of
      steps with any |lambda| > 1, ``complex_fraction`` fraction with an eigenvalue with
      |Re w| < re_tol and Im w > im_min, and the mean counts ``unstable_count``, ``complex_count``;
    * ``dh2`` (E, H) expected second-order perturbation, mean over ``trials``: from the warmed
      state plus (2 randn - 1) * h_eps and tdh2 - 1 noisy steps, the noise-free path
      h_{k+1} = ReLU(W_hh h_k) with D_k = 1[h_k > 0] over tdh2 steps, d1_0 = W_ih w_0,
      d1_k = W_hh D_{k-1} d1_{k-1} + W_ih w_k, d2 <- W_hh D_u d2 + 1/2 W_hh (d1_u^2 * D_u), u < tdh2.
    Returns a dict of float64 tensors (E,) (``dh2`` (E, H)), plus ``outputs`` (E, T) int64,
    ``finite`` (E,) bool (False where the trajectory diverged) and ``states`` (E, T, H) if requested.
    """
    if len(weights_list) == 0:
        raise ValueError("weights_list is empty")
    W_ih = torch.stack([w.W_ih for w in weights_list])
    W_hh = torch.stack([w.W_hh for w in weights_list])
    W_out = torch.stack([w.W_out for w in weights_list])
    E, H, D = W_ih.shape
    dtype = W_hh.dtype
    gen = _generator(generator, seed)
    kw = dict(generator=gen, dtype=dtype)
    h_start = (2 * torch.randn(H, **kw) - 1) * h0_scale
    if h0 is not None:
        h_start = h0.to(dtype)
    warm_noise = torch.randn(warmup, D, **kw) * sigma
    noise = torch.randn(T, D, **kw) * sigma
    pert = (2 * torch.randn(trials, H, **kw) - 1) * h_eps
    pert_noise = torch.randn(trials, max(tdh2 - 1, 0), D, **kw) * sigma
    omega = torch.randn(trials, tdh2, D, **kw) * sigma

    h_warm = h_start.expand(E, H)
    if warmup > 0:
        h_warm = _run_models(W_ih, W_hh, warm_noise, h_warm)[:, -1]       # (E, H)
    states = _run_models(W_ih, W_hh, noise, h_warm)                       # (E, T, H)
    outputs = (states @ W_out.transpose(-1, -2)).argmax(-1)              # (E, T)

    rate = torch.zeros(E, dtype=torch.float64)
    dwell = torch.zeros(E, dtype=torch.float64)
    unst_frac, cplx_frac = torch.zeros_like(rate), torch.zeros_like(rate)
    unst_cnt, cplx_cnt = torch.zeros_like(rate), torch.zeros_like(rate)
    for e in range(E):
        rate[e], dwell[e] = _dwell_stats(outputs[e])
        masks, inverse = torch.unique(states[e] > 0, dim=0, return_inverse=True)
        J = masks.to(dtype).unsqueeze(-1) * W_hh[e]                        # (U, H, H)
        lam = _eigvals_chunked(J, chunk)
        w = moebius(lam)
        n_unst = (lam.abs() > 1).sum(-1)[inverse].double()
        n_cplx = ((w.real.abs() < re_tol) & (w.imag > im_min)).sum(-1)[inverse].double()
        unst_frac[e], cplx_frac[e] = (n_unst > 0).double().mean(), (n_cplx > 0).double().mean()
        unst_cnt[e], cplx_cnt[e] = n_unst.mean(), n_cplx.mean()

    # expected second-order perturbation, batched over (E, trials)
    W_hh_T, W_ih_T = W_hh.transpose(-1, -2), W_ih.transpose(-1, -2)    # (E, H, H), (E, D, H)
    hp = h_warm[:, None, :] + pert[None]                                 # (E, trials, H)
    for j in range(pert_noise.shape[1]):
        hp = torch.relu(hp @ W_hh_T + pert_noise[:, j] @ W_ih_T)
    d1 = d2 = None
    for k in range(tdh2):
        Dk = (hp > 0).to(dtype)
        inp = omega[:, k] @ W_ih_T
        d1 = inp if d1 is None else (Dk_prev * d1) @ W_hh_T + inp
        d2 = torch.zeros_like(hp) if d2 is None else d2
        d2 = (Dk * d2) @ W_hh_T + 0.5 * ((d1 * d1 * Dk) @ W_hh_T)
        Dk_prev = Dk
        hp = torch.relu(hp @ W_hh_T)
    dh2 = d2.mean(1).double() if d2 is not None else torch.zeros(E, H, dtype=torch.float64)

    # outputs sampled as the model emits them (Gumbel-max, noise shared by every epoch; drawn last
    # so the other draws are unchanged): their change rate is the statistic the HMM is compared on
    gumbel = -torch.log(-torch.log(torch.rand(T, W_out.shape[1], **kw).clamp(1e-12, 1 - 1e-12)))
    sampled = (states @ W_out.transpose(-1, -2) + gumbel).argmax(-1)
    sampled_rate = (sampled[:, 1:] != sampled[:, :-1]).double().mean(1)
    out = {"transition_rate": rate, "mean_dwell": dwell, "sampled_change_rate": sampled_rate, "unstable_fraction": unst_frac,
           "complex_fraction": cplx_frac, "unstable_count": unst_cnt, "complex_count": cplx_cnt,
           "dh2": dh2, "outputs": outputs, "finite": torch.isfinite(states).flatten(1).all(1)}
    if return_states:
        out["states"] = states
    return out


def bifurcation_epoch(epochs, complex_fraction, threshold: float = 0.02):
    """First epoch whose complex-eigenvalue fraction jumps by more than ``threshold`` in absolute
    value from the previous evaluated epoch; returns ``epochs[i + 1]`` for the first such jump i
    (the first epoch in the new regime; the reference reports ep_rate * i), or None."""
    cf = torch.as_tensor(complex_fraction, dtype=torch.float64).reshape(-1)
    ep = list(epochs)
    if len(ep) != cf.numel():
        raise ValueError(f"{len(ep)} epochs but {cf.numel()} fractions")
    jumps = torch.nonzero(torch.diff(cf).abs() > threshold).reshape(-1)
    return None if jumps.numel() == 0 else ep[int(jumps[0]) + 1]


def second_loss_drop(loss_per_epoch, epochs=None, smooth: int = 5, rel_threshold: float = 0.1,
                     min_gap: int | None = None):
    """Epoch of the second drop of a training-loss curve (double descent), or None.

    Rule: smooth the loss with a centred moving average of ``smooth`` epochs (edge-replicated),
    take the drop rate r_i = s_i - s_{i+1}; a *drop* is a maximal run of epochs with
    r_i > rel_threshold * max(r); runs closer than ``min_gap`` epochs (default ``smooth``) are
    merged. With at least two drops (i.e. separated by a plateau), returns ``epochs[i]`` for the
    steepest step i of the second drop; otherwise None (e.g. a monotone exponential decay has a
    single drop). ``epochs`` defaults to 0..n-1.
    """
    loss = torch.as_tensor(loss_per_epoch, dtype=torch.float64).reshape(-1)
    n = loss.numel()
    ep = list(range(n)) if epochs is None else list(epochs)
    if len(ep) != n:
        raise ValueError(f"{len(ep)} epochs but {n} losses")
    if n < 3:
        return None
    w = max(1, int(smooth))
    if w > 1:
        left, right = (w - 1) // 2, w // 2
        padded = torch.cat([loss[:1].expand(left), loss, loss[-1:].expand(right)])
        s = padded.unfold(0, w, 1).mean(-1)
    else:
        s = loss
    r = s[:-1] - s[1:]
    rmax = float(r.max())
    if not rmax > 0:
        return None
    above = (r > rel_threshold * rmax).tolist()
    runs = []
    for i, a in enumerate(above):
        if a and (i == 0 or not above[i - 1]):
            runs.append([i, i])
        elif a:
            runs[-1][1] = i
    gap = w if min_gap is None else int(min_gap)
    merged = []
    for run in runs:
        if merged and run[0] - merged[-1][1] - 1 < gap:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    if len(merged) < 2:
        return None
    lo, hi = merged[1]
    i = lo + int(torch.argmax(r[lo:hi + 1]))
    return ep[i]


# ----------------------------------------------------------------------------------------------
# 5. readout alignment (spec §E.11)


def readout_alignment(weights: Weights, n_steps: int = 5000, generator: torch.Generator | None = None,
                      seed: int | None = 0, sigma: float = 1.0, readouts: Sequence[int] = (0, 2)) -> dict:
    """Alignment of the readout rows with the PC1-PC2 plane of a noise-driven trajectory.

    Runs n_steps from h_0 ~ N(0, I) with noise std ``sigma`` (draws from ``generator`` or
    ``seed``), fits PCA(2) on h_1..h_n. For each normalised readout row a_c:
    ``projection`` (K,) = sqrt((a_c.PC1)^2 + (a_c.PC2)^2) in [0, 1]; ``angle`` (K,) = arccos of it
    in radians (``angle_deg`` in degrees); ``mean_projection`` = mean projection over ``readouts``
    (default 0 and 2, skipping the rare symbol 1); ``pcs`` (2, H); ``explained_variance_ratio`` (2,).
    """
    W_ih, W_hh, W_out = weights
    H, D = W_hh.shape[0], W_ih.shape[1]
    gen = _generator(generator, seed)
    h0 = torch.randn(1, H, generator=gen, dtype=W_hh.dtype)
    noise = torch.randn(1, n_steps, D, generator=gen, dtype=W_hh.dtype) * sigma
    X = run_rnn(W_ih, W_hh, noise, h0)[0].double()
    if not bool(torch.isfinite(X).all()):
        raise ValueError("readout_alignment: the noise-driven trajectory diverged (non-finite states)")
    X = X - X.mean(0)
    _, S, Vh = torch.linalg.svd(X, full_matrices=False)
    pcs = Vh[:2]
    var = S ** 2
    evr = var[:2] / var.sum().clamp_min(torch.finfo(var.dtype).tiny)
    a = W_out.double()
    a = a / a.norm(dim=1, keepdim=True)
    proj = (a @ pcs.T).norm(dim=1).clamp(0.0, 1.0)
    angle = torch.arccos(proj)
    return {"projection": proj, "angle": angle, "angle_deg": torch.rad2deg(angle),
            "mean_projection": float(proj[list(readouts)].mean()), "pcs": pcs,
            "explained_variance_ratio": evr}


# ----------------------------------------------------------------------------------------------
# 6. claim statistics (docs/claims.md): kick neurons per transition direction, weight contrasts
#    against random neuron sets, intervention effects against random target sets, onsets that
#    persist, the exit from the i.i.d. loss plateau


def select_kick_neurons_directional(pre: torch.Tensor, groups: torch.Tensor, outputs: torch.Tensor,
                                    classes: Sequence[int] | None = None, theta: float = 1.0,
                                    eps: float = 0.5, max_per_group: int | None = 3,
                                    min_steps: int = 5) -> dict:
    """Kick neurons per transition direction, in per-neuron standardised units (paper E.8).

    pre (T, H) pre-activations; groups (T,) region codes; outputs (T,) argmax outputs. Each
    neuron's pre-activation is divided by its SD over the run (the ReLU threshold stays at 0, so
    "near the threshold" keeps its meaning while neurons of different gain become comparable).
    Direction d = "leaving class c" for the two most frequent output classes (or ``classes``):
    its cluster, kick-zone and transition steps are those of each region while the output is c.
    A neuron is a kick neuron of direction d iff, over those steps, its mean standardised
    pre-activation is < -theta in clusters, within ±eps in kick-zones and > 0 in transitions;
    score = min(-m_c - theta, eps - |m_k|, m_t) > 0. A neuron passing for both directions goes to
    the one where it scores higher. Each group: passing neurons by decreasing score, cut to
    ``max_per_group``; empty when none pass (no stand-ins).

    Returns dict: ``classes`` [c0, c1]; ``indices`` [list, list]; ``scores`` (2, H) (nan where a
    direction has fewer than ``min_steps`` steps in a region); ``n_steps`` {direction: {region: n}}.
    """
    if pre.ndim != 2 or groups.shape != pre.shape[:1] or outputs.shape != pre.shape[:1]:
        raise ValueError(f"shapes: pre {tuple(pre.shape)}, groups {tuple(groups.shape)}, outputs {tuple(outputs.shape)}")
    pre = pre.double()
    sd = pre.std(0).clamp_min(1e-12)
    z = pre / sd
    if classes is None:
        vals, counts = torch.unique(outputs, return_counts=True)
        classes = vals[torch.argsort(counts, descending=True)][:2].tolist()
    classes = [int(c) for c in classes]
    H = pre.shape[1]
    scores = torch.full((2, H), float("nan"), dtype=torch.float64)
    n_steps = {}
    for d, c in enumerate(classes):
        m, n_steps[str(c)] = {}, {}
        for name, code in (("cluster", GROUP_CLUSTER), ("kick", GROUP_KICK), ("transition", GROUP_TRANSITION)):
            mask = (groups == code) & (outputs == c)
            n_steps[str(c)][name] = int(mask.sum())
            m[name] = z[mask].mean(0) if int(mask.sum()) >= min_steps else None
        if all(v is not None for v in m.values()):
            scores[d] = torch.stack([-m["cluster"] - theta, eps - m["kick"].abs(), m["transition"]]).min(0).values
    passing = torch.nan_to_num(scores, nan=-torch.inf) > 0
    both = passing[0] & passing[1]
    if len(classes) > 1:
        passing[0] &= ~both | (scores[0] >= scores[1])
        passing[1] &= ~both | (scores[1] > scores[0])
    indices = []
    for d in range(len(classes)):
        cand = torch.nonzero(passing[d]).reshape(-1)
        cand = cand[torch.argsort(scores[d, cand], descending=True, stable=True)]
        indices.append((cand[:max_per_group] if max_per_group else cand).tolist())
    while len(indices) < 2:
        indices.append([])
    return {"classes": classes, "indices": indices, "scores": scores, "n_steps": n_steps}


def mean_block_weight(W: torch.Tensor, post, pre, exclude_diagonal: bool = True) -> float:
    """Mean of W[post, pre] (rows post-synaptic), without self-connections when post and pre overlap."""
    a, b = _as_long(post), _as_long(pre)
    blk = W[a][:, b].double()
    if exclude_diagonal:
        keep = a[:, None] != b[None, :]
        return float(blk[keep].mean()) if bool(keep.any()) else float("nan")
    return float(blk.mean())


def weight_contrast(W: torch.Tensor, set_a, set_b, n_random: int = 1000, candidates=None,
                    generator: torch.Generator | None = None, seed: int | None = 0) -> dict:
    """Within-set and between-set mean weights of two neuron sets, against random sets of the same
    sizes drawn from ``candidates`` (default all neurons).

    within = mean over the two sets of mean W[a, a] (no self-connections); between = mean of
    W[a, b] and W[b, a]. Returns within, between, and their percentile ranks among ``n_random``
    random pairs of disjoint sets (``within_rank``: fraction of random pairs with a within-value
    >= ours, small when ours is unusually excitatory; ``between_rank``: fraction with a
    between-value <= ours, small when ours is unusually inhibitory)."""
    gen = _generator(generator, seed)
    a, b = _as_long(set_a), _as_long(set_b)
    cand = torch.arange(W.shape[0]) if candidates is None else _as_long(candidates)

    def stats(x, y):
        within = 0.5 * (mean_block_weight(W, x, x) + mean_block_weight(W, y, y))
        between = 0.5 * (mean_block_weight(W, x, y, False) + mean_block_weight(W, y, x, False))
        return within, between

    w0, b0 = stats(a, b)
    rw, rb = [], []
    na, nb = a.numel(), b.numel()
    for _ in range(n_random):
        perm = cand[torch.randperm(cand.numel(), generator=gen)]
        w, bt = stats(perm[:na], perm[na:na + nb])
        rw.append(w)
        rb.append(bt)
    rw, rb = torch.tensor(rw), torch.tensor(rb)
    return {"within": w0, "between": b0, "within_rank": float((rw >= w0).double().mean()),
            "between_rank": float((rb <= b0).double().mean()), "random_within_mean": float(rw.mean()),
            "random_between_mean": float(rb.mean()), "n_random": int(n_random)}


def intervention_effects(weights: Weights, target_sets: Sequence, pathway: str, mus: Sequence[float],
                         noises: torch.Tensor, h0s: torch.Tensor, window: int = 15, re_tol: float = 0.1,
                         im_min: float = 0.06, pairs: bool = True, chunk: int = 256) -> dict:
    """Statistics of intervened runs for many target sets and noise seeds (paper E.9).

    target_sets: list of N index sets; pathway 'recurrent' or 'input'; mus: gains (1 = no
    intervention is added as the reference); noises (S, T, D), h0s (S, H): one noise sequence and
    start per seed, shared by every set and mu. For every (set, seed, mu): ``changes`` output
    changes over the run; ``pairs`` critical complex pairs per transition window (the reference
    run's change times when fewer than 2 changes, as in the paper); ``spread`` mean distance of the
    states from the reference run's mean state (overshoot shows as a larger spread).
    Returns arrays (N, S, len(mus)) plus ``ref_changes``, ``ref_pairs``, ``ref_spread`` (S,).
    """
    W_hh, W_out = weights.W_hh, weights.W_out
    H = W_hh.shape[0]
    mus_t = torch.as_tensor(list(mus), dtype=torch.float64)
    N, S, M = len(target_sets), noises.shape[0], mus_t.numel()
    gains = torch.ones(N * M + 1, H, dtype=W_hh.dtype)       # row 0: the reference (no intervention)
    for i, tg in enumerate(target_sets):
        idx = _as_long(tg)
        for j in range(M):
            gains[1 + i * M + j, idx] = float(mus_t[j])
    ones = torch.ones_like(gains)
    g_rec, g_in = (gains, ones) if pathway == "recurrent" else (ones, gains)
    out = {k: torch.zeros(N, S, M, dtype=torch.float64) for k in ("changes", "pairs", "spread")}
    ref = {k: torch.zeros(S, dtype=torch.float64) for k in ("changes", "pairs", "spread")}
    for s in range(S):
        sim = simulate_intervention(weights, noises[s], h0s[s], g_rec, g_in, return_jacobians=False)
        states, pre = sim["states"], sim["pre"]                          # (R, T, H)
        outs = (states @ W_out.transpose(-1, -2)).argmax(-1)
        T = states.shape[1]
        ref_ct = output_change_times(outs[0])
        centre = states[0].mean(0)
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
            sp = float((states[r] - centre).norm(dim=-1).mean())
            if r == 0:
                ref["changes"][s], ref["pairs"][s], ref["spread"][s] = n_ch, pr, sp
            else:
                i, j = divmod(r - 1, M)
                out["changes"][i, s, j], out["pairs"][i, s, j], out["spread"][i, s, j] = n_ch, pr, sp
    return {**out, "ref_changes": ref["changes"], "ref_pairs": ref["pairs"], "ref_spread": ref["spread"],
            "mus": mus_t}


