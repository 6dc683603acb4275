"""Kick neurons, noise-integrating populations and the weight structure between them (docs/pipeline.md,
docs/dynamics.md E.6, E.8). :func:`run` is the whole analysis of one model (``workflow/scripts/mech_kick.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnhmm.config import derive_seed
from rnnhmm.model import Weights

from .circuit import as_long, flat_indices, make_generator, preactivations
from .local import local_dynamics
from .measures import (
    DIVERGE_NORM,
    GROUP_CLUSTER,
    GROUP_KICK,
    GROUP_OTHER,
    GROUP_TRANSITION,
    complete_kick_groups,
    divergence_message,
    first_diverged_step,
)
from .numerics import fit_pca, simulate


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
    """Kick neurons by the criterion of docs/mechanism.md E.8, split into the two transitions they drive.

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
# 2. noise-integrating populations (docs/mechanism.md E.8)


def integrating_populations(W_hh: torch.Tensor, kick_groups: Sequence, topk: int = 70,
                            exclude_kick: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two noise-integrating populations gating the kick groups.

    g1[j], g2[j] = mean weight from neuron j onto kick group 1 / 2 (mean of the W_hh rows of the
    group). Neurons are sorted by g1*g2 ascending (opposite-sign projections first), the first
    ``topk`` are re-ordered by g1 ascending and split in halves: pop1 (first topk//2: inhibit kick
    group 1, excite group 2) and pop2 (the rest). ``exclude_kick`` drops the kick neurons from the
    candidates (the reference keeps them). Returns (pop1, pop2, order) LongTensors; order = pop1++pop2.
    """
    k1, k2 = as_long(kick_groups[0]), as_long(kick_groups[1])
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
    k = flat_indices(kick)
    p = flat_indices(pops)
    return W_hh[k][:, k], W_hh[k][:, p], W_hh[p][:, p]


# ----------------------------------------------------------------------------------------------
# 3. interventions (docs/mechanism.md E.9)



def select_kick_neurons_directional(pre: torch.Tensor, groups: torch.Tensor, outputs: torch.Tensor,
                                    classes: Sequence[int] | None = None, theta: float = 1.0,
                                    eps: float = 0.5, max_per_group: int | None = 3,
                                    min_steps: int = 5) -> dict:
    """Kick neurons per transition direction, in per-neuron standardised units (docs/mechanism.md E.8).

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
        raise ValueError(f"shapes: pre {tuple(pre.shape)}, groups {tuple(groups.shape)}, "
                         f"outputs {tuple(outputs.shape)}")
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
    return {"classes": classes, "indices": pick_kick_neurons(scores, len(classes), max_per_group),
            "scores": scores, "n_steps": n_steps}


def pick_kick_neurons(scores: torch.Tensor, n_directions: int, max_per_group: int | None = 3) -> list[list[int]]:
    """The kick groups from scores (2, H) (nan: not scored): per direction the neurons with a
    positive score (one passing both goes where it scores higher), by decreasing score, cut to
    ``max_per_group``; two lists (empty where none passes)."""
    passing = torch.nan_to_num(scores, nan=-torch.inf) > 0
    both = passing[0] & passing[1]
    if n_directions > 1:
        passing[0] &= ~both | (scores[0] >= scores[1])
        passing[1] &= ~both | (scores[1] > scores[0])
    indices = []
    for d in range(n_directions):
        cand = torch.nonzero(passing[d]).reshape(-1)
        cand = cand[torch.argsort(scores[d, cand], descending=True, stable=True)]
        indices.append((cand[:max_per_group] if max_per_group else cand).tolist())
    while len(indices) < 2:
        indices.append([])
    return indices


def mean_block_weight(W: torch.Tensor, post, pre, exclude_diagonal: bool = True) -> float:
    """Mean of W[post, pre] (rows post-synaptic), without self-connections when post and pre overlap."""
    a, b = as_long(post), as_long(pre)
    blk = W[a][:, b].double()
    if exclude_diagonal:
        keep = a[:, None] != b[None, :]
        return float(blk[keep].mean()) if bool(keep.any()) else float("nan")
    return float(blk.mean())


def _block_means(W: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, same: bool) -> torch.Tensor:
    """Per row r of the index batches X (R, k) and Y (R, m): mean of W[X[r], Y[r]], without the
    diagonal when ``same`` (X is Y); nan where nothing is left."""
    blk = W[X[:, :, None], Y[:, None, :]]                          # (R, k, m)
    tot = blk.sum((1, 2))
    if same:
        k = X.shape[1]
        n = k * (k - 1)
        return (tot - blk.diagonal(dim1=1, dim2=2).sum(1)) / n if n else torch.full_like(tot, float("nan"))
    return tot / (X.shape[1] * Y.shape[1])


def weight_contrast(W: torch.Tensor, set_a, set_b, n_random: int = 10000, candidates=None,
                    generator: torch.Generator | None = None, seed: int | None = 0) -> dict:
    """Within-set and between-set mean weights of two neuron sets, against random sets of the same
    sizes drawn from ``candidates`` (default all neurons).

    within = mean over the sets of two or more neurons of mean W[a, a] (no self-connections; a
    one-neuron set has no within-set weight, and with two one-neuron sets ``within`` and
    ``within_rank`` are None: the claim is then n/a); between = mean of W[a, b] and W[b, a].
    Returns within, between, and their percentile ranks among ``n_random`` random pairs of
    disjoint sets of the same sizes (``within_rank``: fraction of random pairs with a within-value
    >= ours, small when ours is unusually excitatory; ``between_rank``: fraction with a
    between-value <= ours, small when ours is unusually inhibitory), and ``sizes``. The random
    pairs are drawn in batches (10^4 by default, so that a rank near the claims' alpha is decided:
    its Monte Carlo SE there is sqrt(alpha (1 - alpha) / n_random))."""
    gen = make_generator(generator, seed)
    a, b = as_long(set_a), as_long(set_b)
    cand = torch.arange(W.shape[0]) if candidates is None else as_long(candidates)
    Wd = W.double()
    na, nb = a.numel(), b.numel()

    def stats(X, Y):
        blocks = [_block_means(Wd, Z, Z, True) for Z in (X, Y) if Z.shape[1] >= 2]
        within = sum(blocks) / len(blocks) if blocks else torch.full((X.shape[0],), float("nan"), dtype=Wd.dtype)
        between = 0.5 * (_block_means(Wd, X, Y, False) + _block_means(Wd, Y, X, False))
        return within, between

    w0, b0 = (float(v[0]) for v in stats(a[None], b[None]))
    rw, rb = [], []
    chunk = max(1, min(n_random, 2_000_000 // max(1, (na + nb) ** 2)))
    for start in range(0, n_random, chunk):
        r = min(chunk, n_random - start)
        perm = torch.rand(r, cand.numel(), generator=gen).argsort(dim=1)
        w, bt = stats(cand[perm[:, :na]], cand[perm[:, na:na + nb]])
        rw.append(w)
        rb.append(bt)
    rw, rb = torch.cat(rw), torch.cat(rb)
    defined = w0 == w0                                   # not nan: some set has >= 2 neurons
    return {"within": w0 if defined else None, "between": b0,
            "within_rank": float((rw >= w0).double().mean()) if defined else None,
            "between_rank": float((rb <= b0).double().mean()),
            "random_within_mean": float(rw.mean()) if defined else None,
            "random_between_mean": float(rb.mean()), "n_random": int(n_random), "sizes": [int(na), int(nb)]}



def _finite_steps(hid: torch.Tensor) -> int:
    """Leading steps of a run (T, H) before its first state past the divergence bound (or non-finite)."""
    t = first_diverged_step(hid.norm(dim=-1).numpy())
    return int(hid.shape[0]) if t is None else t


_EMPTY_PREACT = {"coords": [], "explained_variance": [0.0, 0.0], "neurons": [], "neuron_group": [], "pre": [],
                 "outputs": []}
_EMPTY_ACTIVITY = {"kick1": None, "kick2": None, "pop1": None, "pop2": None, "outputs": []}


def _diverged_record(out: dict, msg: str) -> dict:
    """The record of a model whose every noisy run diverges: no kick neurons, no populations, the
    divergence as its error (the claims fail it and say why; it is counted, never scored)."""
    out.update(error=msg, scores=[], direction_classes=[], direction_steps=[], n_passing=0, run_scores=[],
               top_score=[None, None], selected_pass_runs=[[], []], selected=[[], []], n_selected=[0, 0],
               groups=[[], []], group_status=["empty", "empty"], populations=[[], []], population_to_kick=None,
               blocks=None, preact_map=_EMPTY_PREACT, mean_activity=dict(_EMPTY_ACTIVITY))
    return out


def populations_and_contrast(W_hh: torch.Tensor, kick: Sequence, population_size: int, contrast_seed: int,
                             n_random: int = 10000) -> tuple:
    """The integrating populations of two kick groups (:func:`integrating_populations`, at most
    ``population_size`` neurons, never more than the non-kick ones) and their weight contrast against
    random pairs of non-kick sets (:func:`weight_contrast`): (pop1, pop2, order, contrast)."""
    H = W_hh.shape[0]
    pop1, pop2, order = integrating_populations(W_hh, kick, topk=min(population_size, H - len(kick[0]) - len(kick[1])))
    non_kick = [i for i in range(H) if i not in set(kick[0]) | set(kick[1])]
    return pop1, pop2, order, weight_contrast(W_hh, pop1, pop2, candidates=non_kick, n_random=n_random,
                                              seed=contrast_seed)


def run_contrasts(W_hh: torch.Tensor, run_scores: torch.Tensor, n_directions: int, p: dict, seed: int,
                  n_random: int = 2000) -> list[dict]:
    """Per noise run r: the kick groups picked from that run's scores alone (``run_scores[r]``,
    the criterion and cut of :func:`pick_kick_neurons`), their weight contrast and that of their
    integrating populations (:func:`weight_contrast`, ``n_random`` random pairs each); a run whose
    selection leaves a group empty gets ``groups`` and no contrasts."""
    out = []
    for r in range(run_scores.shape[0]):
        g = pick_kick_neurons(run_scores[r], n_directions, p["max_per_group"])
        rec = {"groups": [list(map(int, x)) for x in g]}
        if len(g) >= 2 and g[0] and g[1]:
            rec["kick_contrast"] = weight_contrast(W_hh, g[0], g[1], n_random=n_random,
                                                   seed=derive_seed(seed, "kick-contrast", r))
            rec["population_contrast"] = populations_and_contrast(
                W_hh, g, p["population_size"], derive_seed(seed, "population-contrast", r), n_random)[3]
        out.append(rec)
    return out


def run(weights: Weights, settings: dict, seed: int, model: str, log=print) -> dict:
    """The kick analysis of one model (settings: config ``mechanism.kick``; float64 ``weights``):
    regions of a noisy run, kick neurons per transition direction, integrating populations, sorted
    weight blocks, pre-activation maps and mean activities (the JSON record of
    ``results/analysis/kick/{model}.json``, without provenance)."""
    p = settings
    gen = torch.Generator().manual_seed(seed)
    W_hh = weights.W_hh
    H = W_hh.shape[0]
    out = {"model": model, "hmm": model.split("/")[0], "hidden": H, "error": None, "T": p["T"]}

    # 1. regions of noisy trajectories (docs/dynamics.md E.6) and the kick criterion (docs/mechanism.md E.8),
    # on ``noise_seeds`` independent runs: the selection uses the mean score over runs, and each
    # selected neuron's score carries its run-to-run SE (the claim's reproducibility condition)
    n_runs = int(p.get("noise_seeds", 1))
    run_scores, classes, counts, steps, diverged = [], None, None, None, []
    for r in range(n_runs):
        rgen = gen if r == 0 else torch.Generator().manual_seed(derive_seed(seed, "kick-run", r))
        hidden, noise = simulate(weights, p["T"], warmup=p["warmup"], generator=rgen)
        hidden, noise = hidden[0], noise[0]
        msg = divergence_message(hidden.norm(dim=-1).numpy(), f"kick run {r} ({p['T']} steps)")
        if msg:  # divergence is a result: the run is excluded and counted, never scored
            diverged.append(msg)
            log(msg)
            continue
        ld = local_dynamics(weights, hidden, n_rollouts=p["n_rollouts"], max_steps=p["max_steps"], generator=rgen)
        groups = torch.as_tensor(ld["groups"][1:])
        pre = preactivations(weights, hidden[1:], noise[1:], h0=hidden[0])
        outputs = (hidden[1:] @ weights.W_out.T).argmax(-1)
        # per transition direction ("leaving class c"), in per-neuron standardised units; the
        # directions of the first run are kept for the others
        sel = select_kick_neurons_directional(pre, groups, outputs, classes=classes, theta=p["theta"], eps=p["eps"],
                                              max_per_group=p["max_per_group"])
        if counts is None:  # the first run that did not diverge
            classes, steps = sel["classes"], sel["n_steps"]
            counts = {name: int((groups == code).sum()) for name, code in
                      (("transition", GROUP_TRANSITION), ("kick", GROUP_KICK),
                       ("cluster", GROUP_CLUSTER), ("other", GROUP_OTHER))}
        run_scores.append(sel["scores"])
    out["region_counts"] = counts
    out["diverged_runs"] = len(diverged)
    if not run_scores:
        return _diverged_record(out, f"{diverged[0]}; {len(diverged)} of {n_runs} runs diverge")
    log(f"{model}: regions {counts} (first non-diverged of {n_runs} runs of {p['T']} steps; "
        f"{len(diverged)} diverged)")
    rs = torch.stack(run_scores)                                          # (runs, 2, H)
    valid = ~torch.isnan(rs)
    # a neuron scored in only some runs keeps the mean over those; nan where no run scores it
    mean_scores = torch.where(valid.any(0), torch.nan_to_num(rs).sum(0) / valid.sum(0).clamp_min(1),
                              torch.full_like(rs[0], float("nan")))
    n_ok = valid.sum(0)
    dev = torch.where(valid, rs - mean_scores, torch.zeros_like(rs))
    score_se = torch.where(n_ok >= 2, (dev.pow(2).sum(0) / (n_ok - 1).clamp_min(1)).sqrt() / n_ok.sqrt(),
                           torch.full_like(mean_scores, float("nan")))
    # a direction where no neuron passes gets an empty group (no stand-in neurons: issue 10)
    indices = pick_kick_neurons(mean_scores, len(classes), p["max_per_group"])
    # each group's best neuron: [mean score, its SE over runs (None with one run)], or None if empty
    top = [[float(mean_scores[d, g[0]]), float(score_se[d, g[0]]) if n_runs >= 2 else None] if g else None
           for d, g in enumerate(indices)]
    pass_runs = [[int((rs[:, d, i] > 0).sum()) for i in g] for d, g in enumerate(indices)]
    sel = {"scores": mean_scores, "classes": classes, "n_steps": steps}
    out.update(scores=torch.nan_to_num(sel["scores"], nan=-1e9).tolist(), direction_classes=sel["classes"],
               direction_steps=sel["n_steps"], n_passing=int((torch.nan_to_num(sel["scores"], nan=-1.0) > 0).sum()),
               noise_seeds=n_runs, run_scores=torch.nan_to_num(rs, nan=-1e9).tolist(),
               top_score=top, selected_pass_runs=pass_runs)
    if len(sel["classes"]) < 2:
        out["error"] = f"fewer than two output classes on the orbit: {sel['classes']}"
    kick, status = complete_kick_groups(indices, [[], []], 0)
    out.update(selected=[list(map(int, g)) for g in indices], n_selected=[len(g) for g in indices],
               groups=kick, group_status=status, criterion={k: p[k] for k in ("theta", "eps", "max_per_group")},
               criterion_units="per-neuron SD of the pre-activation (threshold at 0)")
    log(f"kick groups {kick} ({status}) for directions leaving classes {sel['classes']}; "
        f"{out['n_passing']} (neuron, direction) pairs pass")
    if out["error"]:
        log(out["error"])
    if kick[0] and kick[1]:
        out["kick_contrast"] = weight_contrast(W_hh, kick[0], kick[1], seed=derive_seed(seed, "kick-contrast"))
        log(f"kick weights: {out['kick_contrast']}")

    # 2. integrating populations and sorted weight blocks
    if kick[0] and kick[1]:
        pop1, pop2, order, out["population_contrast"] = populations_and_contrast(
            W_hh, kick, p["population_size"], derive_seed(seed, "population-contrast"))
        g = [W_hh[torch.as_tensor(k)].mean(0) for k in kick]  # weights from each neuron onto kick group 1 / 2
        out["populations"] = [pop1.tolist(), pop2.tolist()]
        out["population_to_kick"] = [[float(g[j][pop].mean()) for j in range(2)] for pop in (pop1, pop2)]
        kk, kp, pp = sorted_weight_blocks(W_hh, kick, (pop1, pop2))
        out["blocks"] = {"kick_kick": kk.tolist(), "kick_pop": kp.tolist(), "pop_pop": pp.tolist()}
        log(f"population weights: {out['population_contrast']}")
    else:
        out["populations"], out["population_to_kick"], out["blocks"] = [[], []], None, None
        log("a kick group is empty: no populations or weight blocks")

    # 2b. the same selection and contrasts on each noise run alone: does the weight structure hold
    # for the groups each independent run picks (the analysis seed must not decide the verdict)?
    out["run_contrasts"] = run_contrasts(W_hh, rs, len(classes), p, seed) if n_runs >= 2 else []

    # 3. pre-activation maps along the orbit: one run from h0 ~ N(0, I), PCA(2)
    flat = [i for g in kick for i in g]
    h0 = torch.randn(H, generator=gen, dtype=W_hh.dtype)
    hid, nz = simulate(weights, p["activity_steps"], h0=h0, generator=gen)
    n_ok = _finite_steps(hid[0])
    hid, nz = hid[0, :n_ok], nz[0, :n_ok]
    out["activity_diverged_at"] = None if n_ok == p["activity_steps"] else n_ok
    if n_ok < 3:
        out["preact_map"] = _EMPTY_PREACT
        out["mean_activity"] = dict(_EMPTY_ACTIVITY)
        out["error"] = out["error"] or f"diverged: the activity run exceeds |h| > {DIVERGE_NORM:g} at step {n_ok}"
        return out
    pca = fit_pca(hid, 2)
    pre_map = preactivations(weights, hid, nz, h0=h0)
    out["preact_map"] = {
        "coords": pca.transform(hid.numpy()).tolist(),
        "explained_variance": (100 * pca.explained_variance_ratio_).tolist(),
        "neurons": flat,
        "neuron_group": [gi + 1 for gi, g in enumerate(kick) for _ in g],
        "pre": pre_map[:, flat].T.tolist() if flat else [],
        "outputs": (hid @ weights.W_out.T).argmax(-1).tolist(),
    }

    # 4. mean activities of the kick groups and populations, from a small random h0
    h0 = 0.1 * torch.randn(H, generator=gen, dtype=W_hh.dtype)
    hid, _ = simulate(weights, p["mean_activity_steps"], h0=h0, generator=gen)
    hid = hid[0, :_finite_steps(hid[0])]  # every step up to any divergence: the figure shows the first few
    act = {}
    for name, idx in (("kick1", kick[0]), ("kick2", kick[1]),
                      ("pop1", out["populations"][0]), ("pop2", out["populations"][1])):
        act[name] = hid[:, idx].mean(1).tolist() if len(idx) else None
    act["outputs"] = (hid @ weights.W_out.T).argmax(-1).tolist()
    out["mean_activity"] = act
    return out
