"""The paper's claims about the dynamics (docs/dynamics.md E.1-E.7).

``*_claims``: rows for results/claims/dynamics.csv (:func:`rnnhmm.claims.core.claim`), computed from
the analysis files (:func:`rnnhmm.io.load_analysis`). A claim whose analysis ran but found nothing
(no orbit, no cluster states) is a failing
  row saying why; tolerances come from sampling spread (docs/claims.md).
"""

from __future__ import annotations

import numpy as np

from rnnhmm.analyses.measures import GROUP_NAMES, group_means, subspace_residency
from rnnhmm.config import ConfigError, ModelSpec
from rnnhmm.paper import PAPER_PCA_RUN_SPREAD, PAPER_PCA_TOP2

from .core import ONE_SIDED_Z, Z_SPREAD, claim

# the HMM families for which the paper states an output change-rate match (G.4: M = 2, 0.047 vs the
# switch probability 0.05); rnnhmm.claims.mechanism uses it for converged_transition_rate
PAPER_RATE_HMMS = ("lin2",)


def _failure(a: dict) -> str:
    """'not analysed: <divergence>' or 'not found: <first two lines of the error>'."""
    lines = [x.strip() for x in str(a["meta"].get("error", "analysis failed")).splitlines()]
    return ("not analysed: " if lines[0].startswith("diverged") else "not found: ") + " ".join(lines[:2])


def _fmt3(d: dict, fmt: str = ".3g") -> str:
    return " / ".join(format(d[k], fmt) for k in ("transition", "kick", "cluster")) + " (transition / kick / cluster)"


# ----------------------------------------------------------------------------- claims


def switch_reference(hmm, steps: int, repeats: int = 200, seed: int = 0) -> dict:
    """The orbit_switch_rate reference: the output change fraction of ``repeats`` HMM samples of
    ``steps + 1`` symbols (a run of the RNN gives ``steps`` consecutive pairs); mean and SD."""
    o = hmm.sample(repeats, steps + 1, seed=seed)
    r = np.mean(o[:, 1:] != o[:, :-1], axis=1)
    return {"mean": float(r.mean()), "sd": float(r.std(ddof=1)), "steps": int(steps), "repeats": int(repeats)}


def rotation_consistency(xy_runs, centre, block: int = 10, n_null: int = 2000, seed: int = 0,
                         quantile: float = 0.99) -> dict:
    """Does the trajectory turn one way around ``centre`` (docs/dynamics.md E.3: a closed orbit traversed in one
    direction)? Statistic R = |sum of angle increments| / sum of |angle increments| over the runs
    (xy_runs: list of (T, 2) arrays in the orbit plane); 1 for rotation in one direction, ~0 for a
    back-and-forth motion. Null: the same increments with a random sign per block of ``block`` steps
    (no preferred direction beyond a block); pass when R exceeds its ``quantile``.
    Returns R, null_q, revolutions (net turns, signed), n_steps."""
    rng = np.random.default_rng(seed)
    d, blocks = [], []
    for xy in xy_runs:
        c = np.asarray(xy, float)[:, :2] - np.asarray(centre, float)[:2]
        th = np.arctan2(c[:, 1], c[:, 0])
        dd = np.angle(np.exp(1j * np.diff(th)))
        d.append(dd)
        nb = len(dd) // block
        if nb:
            blocks.append(dd[: nb * block].reshape(nb, block).sum(1))
    d = np.concatenate(d) if d else np.zeros(0)
    total = float(np.abs(d).sum())
    if total == 0 or not blocks:
        return {"R": 0.0, "null_q": 1.0, "revolutions": 0.0, "n_steps": int(d.size)}
    b = np.concatenate(blocks)
    btot = float(np.abs(b).sum()) or 1.0
    R = float(abs(d.sum()) / total)
    signs = rng.choice([-1.0, 1.0], size=(n_null, b.size))
    null = np.abs(signs @ b) / total
    return {"R": R, "null_q": float(np.quantile(null, quantile)), "revolutions": float(d.sum() / (2 * np.pi)),
            "n_steps": int(d.size), "block_R": float(abs(b.sum()) / btot)}


def bootstrap_mean_sd(values, n_boot: int = 500, seed: int = 0) -> float:
    v = np.asarray(values, float)
    if v.size < 2:
        return float("inf")
    rng = np.random.default_rng(seed)
    return float(v[rng.integers(0, v.size, size=(n_boot, v.size))].mean(1).std(ddof=1))


def state_space_claims(model: str, a: dict, reference: dict, tol: dict) -> list[dict]:
    """Paper G.1 / E.2-E.4 / G.3 on one state-space analysis ``a`` (workflow/scripts/dyn_state_space.py).
    ``reference``: the HMM's switch-rate spread (``switch_reference``)."""
    if a.get("failed"):
        rows = [claim(c, d, model, e, _failure(a), False, src) for c, d, e, src in STATE_SPACE_CLAIMS[:-1]]
        pca = pca_claims(model, {"explained_percent": [np.nan, np.nan]})[0]
        if pca["outcome"] != "n/a":   # on the paper's architecture a diverged model fails it
            pca = claim(*STATE_SPACE_CLAIMS[-1][:2], model, STATE_SPACE_CLAIMS[-1][2], _failure(a), False,
                        STATE_SPACE_CLAIMS[-1][3])
        return rows + [pca]
    rows = []
    n_stable = int(np.sum(a["fp_stable"]))
    n_fp = len(a["fp_stable"])
    spread = float(a["noin_final_spread"])
    conv = float(a["noin_converged_frac"])
    origin = bool(a["fp_is_origin"][np.argmax(a["fp_stable"])]) if n_stable else False
    ok = n_stable == 1 and conv == 1.0
    rows.append(claim(
        "single_stable_fixed_point", "without input every trajectory collapses to one stable fixed point",
        model, "1 stable fixed point; all input-free trajectories converge to it (exact count, no sampling)",
        f"{n_stable} stable of {n_fp} found ({'origin' if origin else 'not the origin' if n_stable else 'none'}); "
        f"{conv:.0%} converged; final spread {spread:.2g}", ok, "E.2, G.1",
        statistic="number of stable fixed points", value=n_stable))
    sampled, argmax = float(a["switch_rate_sampled"]), float(a["switch_rate_argmax"])
    n_cls = int(a["classes_visited"])
    tol_r = Z_SPREAD * reference["sd"]
    z = (sampled - reference["mean"]) / reference["sd"] if reference["sd"] > 0 else float("nan")
    rate_txt = f"sampled {sampled:.3g} (HMM {reference['mean']:.3g}, {z:+.1f} SD); argmax {argmax:.3g}"
    rows.append(claim(
        "orbit_output_regions", "with input: the orbit runs through >= 2 output regions (slow regions are output "
        "classes)", model, ">= 2 argmax output classes visited by the input-driven run",
        f"{n_cls} argmax classes; {rate_txt}", n_cls >= 2, "E.3", statistic="argmax classes visited", value=n_cls))
    desc = "with input: the orbit's sampled output change rate matches the HMM's (paper G.4, M = 2)"
    if model_id(model).split("/")[0] in PAPER_RATE_HMMS:
        rows.append(claim(
            "orbit_switch_rate", desc, model, f"{reference['mean']:.3g} ± {tol_r:.2g} ({Z_SPREAD:g} SD of HMM runs of "
            f"{reference['steps']} steps)", rate_txt, abs(sampled - reference["mean"]) <= tol_r, "G.4",
            statistic="sampled output change rate", value=sampled))
    else:
        rows.append(claim(
            "orbit_switch_rate", desc, model, "-", rate_txt, None, "G.4", statistic="sampled output change rate",
            value=sampled, reason="the paper states a rate match only for M = 2 (G.4); the rate is reported in 'ours'"))
    rows += rotation_claims(model, a)
    rows += pca_claims(model, a)
    return rows


def rotation_claims(model: str, a: dict) -> list[dict]:
    """Paper E.3: noise-driven trajectories rotate in one direction along a closed orbit."""
    desc = "noise-driven trajectories turn one way around the orbit (closed orbit, one direction of rotation)"
    stds = np.asarray(a["spread_stds"], float)
    centre = np.asarray(a["spread_centroid"])[int(np.argmin(np.abs(stds - 1.0)))]
    r = rotation_consistency(list(np.asarray(a["in_coords"])), centre)
    return [claim("orbit_single_rotation", desc, model,
                  f"R = |Σ Δθ| / Σ |Δθ| > {r['null_q']:.3g} (99% of random block-sign null)",
                  f"R {r['R']:.3g}; {r['revolutions']:+.1f} net revolutions in {r['n_steps']} steps",
                  r["R"] > r["null_q"], "E.3", statistic="rotation consistency R", value=r["R"])]


def pca_claims(model: str, a: dict) -> list[dict]:
    """Paper G.3: PC1 + PC2 explained variance of the sigma = 1 run; the paper's numbers are for
    |h| = 150, d = 100 models only (n/a otherwise)."""
    desc = "PC1 + PC2 explained variance of the noise-driven run matches the paper's figure labels"
    ev = np.asarray(a["explained_percent"], float)
    top2 = float(ev[:2].sum())
    hmm = model.split("/")[0]
    try:
        spec = ModelSpec.parse(model_id(model))
        size = (spec.hidden, spec.input)
    except (ConfigError, ValueError):
        size = None
    paper = PAPER_PCA_TOP2.get(hmm)
    if paper is None or size != (150, 100):
        why = (f"the paper reports PCA variance for |h|=150, d=100 models only (this is {model_id(model)})"
               if paper is not None else f"no paper value for HMM '{hmm}'")
        return [claim("pca_explained_variance", desc, model, "-", f"PC1+PC2 {top2:.1f}%", None, "G.3",
                      statistic="PC1+PC2 explained variance (%)", value=top2, reason=why)]
    sd = float(a.get("explained_top2_boot_sd", 0.0) or 0.0)
    tol_p = max(Z_SPREAD * sd, PAPER_PCA_RUN_SPREAD)
    return [claim("pca_explained_variance", desc, model, f"{paper:.1f}% ± {tol_p:.2g} (max of {Z_SPREAD:g} "
                  f"bootstrap SD and the paper's run-to-run spread {PAPER_PCA_RUN_SPREAD})", f"{top2:.1f}%",
                  abs(top2 - paper) <= tol_p, "G.3", statistic="PC1+PC2 explained variance (%)", value=top2)]


def model_id(label: str) -> str:
    return str(label).split(" ")[0]


STATE_SPACE_CLAIMS = [
    ("single_stable_fixed_point", "without input every trajectory collapses to one stable fixed point",
     "1 stable fixed point; all input-free trajectories converge to it", "E.2, G.1"),
    ("orbit_output_regions", "with input: the orbit runs through >= 2 output regions", "bounded orbit", "E.3"),
    ("orbit_switch_rate", "with input: the orbit's sampled output change rate matches the HMM's", "bounded orbit",
     "G.4"),
    ("orbit_single_rotation", "noise-driven trajectories turn one way around the orbit", "bounded orbit", "E.3"),
    ("pca_explained_variance", "PC1 + PC2 explained variance matches the paper's", "bounded orbit", "G.3"),
]


def local_claims(model: str, a: dict, tol: dict, label: str = "") -> list[dict]:
    """Paper E.6 / G.4 on one residency analysis (keys groups, n_unstable, residency).

    ``sign_changes_ordered`` is not a claim: sign flips are counted only before the class change, so
    short-residency states have ~0 flips by construction (a property, tested in tests/)."""
    name = model + (f" [{label}]" if label else "")
    if a.get("failed"):
        return [claim(c, d, name, e, _failure(a), False, src) for c, d, e, src in LOCAL_CLAIMS]
    k = tol["min_group_states"]
    groups = np.asarray(a["groups"])
    counts = {n: int(np.sum(groups == c)) for c, n in GROUP_NAMES.items()}
    unst = group_means(groups, a["n_unstable"], k)
    rows = []
    present = all(counts[n] >= k for n in GROUP_NAMES.values())
    rows.append(claim(*LOCAL_CLAIMS[0][:2], name, f"every group has >= {k} states",
                      _fmt3(counts, "d") + f" of {len(groups)} states", present, LOCAL_CLAIMS[0][3],
                      statistic="states in the smallest group", value=min(counts.values())))
    c = unst["cluster"]
    others = [unst["transition"], unst["kick"]]
    if not (np.isfinite(c) and all(np.isfinite(others))):
        rows.append(claim(*LOCAL_CLAIMS[1][:2], name, LOCAL_CLAIMS[1][2], "mean unstable " + _fmt3(unst) +
                          f" (a group has < {k} states)", False, LOCAL_CLAIMS[1][3],
                          statistic="min(other groups) - cluster, unstable eigenvalues"))
    else:
        vals = np.asarray(a["n_unstable"], float)
        j = int(np.argmin(others))
        other_code = [0, 1][j]
        se = float(np.hypot(bootstrap_mean_sd(vals[groups == 2], seed=1),
                            bootstrap_mean_sd(vals[groups == other_code], seed=2)))
        gap = float(others[j] - c)
        rows.append(claim(*LOCAL_CLAIMS[1][:2], name,
                          f"min(transition, kick) - cluster > {ONE_SIDED_Z} bootstrap SE (paper: cluster 0.12-0.21, "
                          "fewest of the three)", "mean unstable " + _fmt3(unst) + f"; gap {gap:.3g}, SE {se:.2g}",
                          gap > ONE_SIDED_Z * se, LOCAL_CLAIMS[1][3],
                          statistic="min(other groups) - cluster, unstable eigenvalues", value=gap))
    return rows


LOCAL_CLAIMS = [
    ("three_regions", "states split into transitions (RT < 2), kick-zones (2-8) and clusters (RT > 8, p > 0.8)",
     "every group present", "E.6, G.1"),
    ("cluster_fewest_unstable", "clusters have the fewest unstable Jacobian eigenvalues",
     "cluster < kick and cluster < transition (paper: cluster 0.12-0.21)", "E.6, G.4"),
]


NOISE_GAMMAS = (0.5, 1.0)   # the paper's table (M = 2, 3): trace at t = 5 for gamma = 1 and 0.5


def noise_claims(model: str, a: dict) -> list[dict]:
    """Paper E.7 / G.4: trajectories from the cluster state spread more than from the transition state
    (trace of the covariance at the last step). The statistic is the per-pair difference
    cluster - transition over ``n_pairs`` independent start pairs (``pair_*_trace``, P x G); it
    passes when its mean exceeds ONE_SIDED_Z SEs (SD over pairs / sqrt P) at gamma = 0.5 and at
    gamma = 1 (both in the paper's table). Fewer than two pairs cannot give an SE: fail, saying so."""
    desc = "noise sensitivity: cluster starts spread more than transition starts (trace at t=T, γ=0.5 and 1)"
    exp = (f"mean over start pairs of cluster - transition > {ONE_SIDED_Z} SE at γ=0.5 and γ=1 "
           "(paper M=2: 45.3 vs 28.5 at γ=1, 9.7 vs 7.0 at γ=0.5)")
    stat = "cluster - transition trace (γ=1, mean over start pairs)"
    if not a.get("found"):
        return [claim("cluster_more_noise_sensitive", desc, model, exp, _failure(a), False,
                      "E.7, G.4", statistic=stat)]
    gam = np.asarray(a["gammas"], float)
    if "pair_cluster_trace" not in a:
        return [claim("cluster_more_noise_sensitive", desc, model, exp, "not evaluated: one start pair (an "
                      "anecdote); the analysis predates dynamics.noise.pairs", False, "E.7, G.4", statistic=stat)]
    d = np.asarray(a["pair_cluster_trace"], float) - np.asarray(a["pair_transition_trace"], float)   # (P, G)
    P = d.shape[0]
    fails = int(a.get("pair_failures", 0))
    missing = [g for g in NOISE_GAMMAS if not np.any(np.isclose(gam, g))]
    if P < 2 or missing:
        why = (f"{P} start pair(s), the SE needs >= 2" if P < 2
               else f"γ = {missing} not analysed (gammas {gam.tolist()})")
        return [claim("cluster_more_noise_sensitive", desc, model, exp, f"not evaluated: {why}", False, "E.7, G.4",
                      statistic=stat)]
    parts, ok, value = [], True, None
    for g in NOISE_GAMMAS:
        gi = int(np.argmin(np.abs(gam - g)))
        m, se = float(d[:, gi].mean()), float(d[:, gi].std(ddof=1) / np.sqrt(P))
        ok = ok and m > ONE_SIDED_Z * se
        parts.append(f"γ={g:g}: {m:+.3g} ± {se:.2g} (reversed in {int(np.sum(d[:, gi] <= 0))})")
        if g == 1.0:
            value = m
    return [claim("cluster_more_noise_sensitive", desc, model, exp,
                  "; ".join(parts) + f"; {P} start pairs" + (f" ({fails} searches found none)" if fails else ""),
                  ok, "E.7, G.4", statistic=stat, value=value)]


def dynamics_claims(state_space: dict, local: dict, noise: dict, subspaces: dict,
                    references: dict, tol: dict) -> list[dict]:
    """All dynamics claim rows. Each argument maps model id -> loaded analysis; references maps
    HMM name -> its switch-rate reference (``switch_reference``)."""
    rows = []
    for mid, a in state_space.items():
        rows += state_space_claims(mid, a, references[ModelSpec.parse(mid).hmm], tol)
    for mid, a in local.items():
        rows += local_claims(mid, a, tol)
    for mid, a in noise.items():
        rows += noise_claims(mid, a)
    for mid, a in subspaces.items():
        if a.get("failed"):
            rows += local_claims(mid, a, tol, label="subspaces")
            continue
        for lab in a["meta"].get("residency_pairs", []):
            rows += local_claims(mid, subspace_residency(a, lab), tol, label=f"subspace {lab}")
    return rows


def from_files(state_space: dict, local: dict, noise: dict, subspaces: dict, hmm_specs: dict, switch_steps: int,
               tol: dict, log=print) -> list[dict]:
    """The dynamics claim rows from analysis files (each argument: model id -> .npz path), with the
    HMM references built from ``hmm_specs`` (HMM name -> config entry)."""
    from rnnhmm.config import derive_seed
    from rnnhmm.hmm import build_hmm
    from rnnhmm.io import load_analysis

    # the HMM's output change rate over runs as long as the RNN's (orbit_switch_rate), with its spread
    refs = {h: switch_reference(build_hmm(h, spec), switch_steps, seed=derive_seed("switch-reference", h))
            for h, spec in hmm_specs.items()}
    for h, r in refs.items():
        log(f"{h}: change rate over {r['steps']} steps {r['mean']:.4f} ± {r['sd']:.4f} (SD of {r['repeats']} HMM runs)")
    load = lambda d: {m: load_analysis(p) for m, p in d.items()}  # noqa: E731
    return dynamics_claims(load(state_space), load(local), load(noise), load(subspaces), refs, tol)
