"""Dynamics analyses: which models they use, their result files, and the paper's claims about them.

Kept free of torch (Snakemake imports it while parsing the workflow).

* ``check_config`` / ``dynamics_models``: the models of config.dynamics, checked to be trained models.
* ``save_analysis`` / ``load_analysis``: one analysis of one model is an ``.npz`` of arrays plus a JSON
  ``meta`` record (model id, settings, provenance, and for a failed step its message).
* ``*_claims``: rows for results/claims/dynamics.csv (``rnnhmm.claims.claim``), computed from those
  arrays. A claim that cannot be evaluated (e.g. no cluster states) is a failing row saying why.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from rnnhmm.config import ConfigError, ModelSpec, expand_models

__all__ = ["GROUP_NAMES", "check_config", "dynamics_models", "save_analysis", "load_analysis",
           "DIVERGE_NORM", "divergence_message", "probe_divergence", "pca_project", "switch_rate", "radius_fit", "group_means", "state_space_claims", "local_claims",
           "noise_claims", "dynamics_claims"]

# group codes of rnnhmm.dynamics (GROUP_TRANSITION, GROUP_KICK, GROUP_CLUSTER); OTHER = -1
GROUP_NAMES = {0: "transition", 1: "kick", 2: "cluster"}



def claim(*args, **kwargs) -> dict:
    """rnnhmm.claims.claim, imported on first use (it pulls in pandas; Snakemake imports this module)."""
    from rnnhmm.claims import claim as _claim

    return _claim(*args, **kwargs)


# ----------------------------------------------------------------------------- config

def _grid_models(cfg: dict, trained: list[ModelSpec]) -> list[str]:
    g = cfg["dynamics"]["grid"]
    return [m.id for m in trained if m.hmm in g["hmms"] and m.seed == g["seed"]]


def check_config(cfg: dict) -> None:
    """Every model of config.dynamics is a trained model; figure S2's HMMs exist and have models at
    its seed. Raises ConfigError with one line."""
    dyn = cfg["dynamics"]
    trained = expand_models(cfg)
    ids = {m.id for m in trained}
    for key in ("models", "fig8_models"):
        for mid in dyn[key]:
            ModelSpec.parse(mid)
            if mid not in ids:
                raise ConfigError(f"invalid config at config.dynamics.{key}: '{mid}' is not a trained model "
                                  f"(not in the product of any group of config.models)")
    for h in dyn["grid"]["hmms"]:
        if h not in cfg["hmms"]:
            raise ConfigError(f"invalid config at config.dynamics.grid.hmms: unknown HMM '{h}'; defined: "
                              f"{', '.join(cfg['hmms'])}")
        if not any(m.hmm == h and m.seed == dyn["grid"]["seed"] for m in trained):
            raise ConfigError(f"invalid config at config.dynamics.grid: no trained model of HMM '{h}' "
                              f"with seed {dyn['grid']['seed']}")
    for key in ("pairs", "residency_pairs"):
        for p in dyn["subspaces"][key]:
            if p[0] == p[1]:
                raise ConfigError(f"invalid config at config.dynamics.subspaces.{key}: pair {p} repeats an output")


def dynamics_models(cfg: dict) -> dict[str, list[str]]:
    """Model ids per use: 'models' (fig2-4), 'fig8_models', 'grid' (figS2) and 'state_space' (union)."""
    dyn = cfg["dynamics"]
    grid = _grid_models(cfg, expand_models(cfg))
    return {"models": list(dyn["models"]), "fig8_models": list(dyn["fig8_models"]), "grid": grid,
            "state_space": sorted(set(dyn["models"]) | set(dyn["fig8_models"]) | set(grid))}


# ----------------------------------------------------------------------------- result files

def save_analysis(path, arrays: dict, meta: dict) -> None:
    """Write arrays (numpy-convertible) and a JSON ``meta`` record to ``path`` (.npz), atomically."""
    from rnnhmm.io import _default

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    data = {k: np.asarray(v) for k, v in arrays.items()}
    data["meta"] = np.asarray(json.dumps(meta, default=_default))
    buf = io.BytesIO()
    np.savez_compressed(buf, **data)
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def load_analysis(path) -> dict:
    """The arrays of an analysis file, plus ``meta`` (dict). 0-d arrays become Python scalars."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}
    out["meta"] = json.loads(out.get("meta", "{}"))
    return out


# ----------------------------------------------------------------------------- divergence guard

# A trained network can be unstable over runs much longer than its training sequences: without
# biases the map is homogeneous, so once an expanding direction is active |h| grows geometrically
# and overflows. Such a model has no orbit to analyse; its analyses record why instead of crashing.
DIVERGE_NORM = 1e6


def divergence_message(norms, what: str = "noise-driven run", limit: float = DIVERGE_NORM) -> str | None:
    """None if the state norms (T,) of a run stay finite and below ``limit``, else a one-line reason."""
    n = np.asarray(norms, dtype=float).ravel()
    bad = np.flatnonzero(~np.isfinite(n) | (n > limit))
    if len(bad) == 0:
        return None
    t = int(bad[0])
    return (f"diverged: in the {what}, |h| exceeds {limit:g} at step {t} of {len(n)} "
            f"(|h| = {n[max(t - 1, 0)]:.3g} one step earlier); the model has no bounded orbit to analyse")


def probe_divergence(weights, n_steps: int, seed: int, noise_std: float = 1.0) -> str | None:
    """Run the model ``n_steps`` from h = 0 with N(0, noise_std^2) inputs and report divergence
    (``divergence_message``); torch is imported here, not at module import."""
    from rnnhmm.dynamics import simulate

    hidden, _ = simulate(weights, int(n_steps), noise_std=noise_std, generator=int(seed))
    return divergence_message(hidden[0].norm(dim=-1).numpy(), f"{n_steps}-step probe run")


# ----------------------------------------------------------------------------- measures

def pca_project(pca, states) -> np.ndarray:
    """Coordinates of states (..., H) (numpy or CPU tensor) on a fitted sklearn PCA, (..., n_components)."""
    X = np.asarray(states, dtype=np.float64)
    if X.size == 0:
        return np.zeros((*X.shape[:-1], pca.n_components_))
    return pca.transform(X.reshape(-1, X.shape[-1])).reshape(*X.shape[:-1], -1)


def switch_rate(outputs) -> float:
    """Fraction of consecutive steps whose output differs, for a 1-D label sequence."""
    o = np.asarray(outputs).ravel()
    return float(np.mean(o[1:] != o[:-1])) if len(o) > 1 else float("nan")


def radius_fit(stds, radius) -> dict:
    """Least-squares line radius = a std + b; R^2; radius/std relative to its median (max deviation)."""
    s, r = np.asarray(stds, float), np.asarray(radius, float)
    a, b = np.polyfit(s, r, 1)
    pred = a * s + b
    ss = float(np.sum((r - r.mean()) ** 2))
    r2 = 1.0 - float(np.sum((r - pred) ** 2)) / ss if ss > 0 else float("nan")
    ratio = r / s
    med = float(np.median(ratio))
    dev = float(np.max(np.abs(ratio / med - 1))) if med > 0 else float("inf")
    return {"slope": float(a), "intercept": float(b), "r2": r2, "ratio_median": med, "ratio_max_dev": dev}


def group_means(groups, values, min_states: int = 1) -> dict:
    """Mean of values per group name (transition, kick, cluster) over groups with >= min_states
    states (others: nan), plus counts."""
    g, v = np.asarray(groups), np.asarray(values, float)
    out = {}
    for code, name in GROUP_NAMES.items():
        sel = g == code
        out[name] = float(v[sel].mean()) if sel.sum() >= min_states else float("nan")
        out[f"n_{name}"] = int(sel.sum())
    return out


def _failure(a: dict) -> str:
    """'not analysed: <divergence>' or 'not found: <first two lines of the error>'."""
    lines = [x.strip() for x in str(a["meta"].get("error", "analysis failed")).splitlines()]
    return ("not analysed: " if lines[0].startswith("diverged") else "not found: ") + " ".join(lines[:2])


def _fmt3(d: dict, fmt: str = ".3g") -> str:
    return " / ".join(format(d[k], fmt) for k in ("transition", "kick", "cluster")) + " (transition / kick / cluster)"


# ----------------------------------------------------------------------------- claims

def state_space_claims(model: str, a: dict, change_probability: float, tol: dict) -> list[dict]:
    """Spec G.1 / E.2-E.4 on one state-space analysis ``a`` (see workflow/scripts/dyn_state_space.py)."""
    if a.get("failed"):
        return [claim(c, d, model, e, _failure(a), False, src) for c, d, e, src in _STATE_SPACE_CLAIMS]
    rows = []
    n_stable = int(np.sum(a["fp_stable"]))
    n_fp = len(a["fp_stable"])
    spread = float(a["noin_final_spread"])
    conv = float(a["noin_converged_frac"])
    origin = bool(a["fp_is_origin"][np.argmax(a["fp_stable"])]) if n_stable else False
    ok = n_stable == 1 and conv == 1.0
    rows.append(claim(
        "single_stable_fixed_point", "without input every trajectory collapses to one stable fixed point",
        model, "1 stable fixed point; all input-free trajectories converge to it",
        f"{n_stable} stable of {n_fp} found ({'origin' if origin else 'not the origin' if n_stable else 'none'}); "
        f"{conv:.0%} converged; final spread {spread:.2g}", ok, "E.2, G.1"))
    sampled, argmax = float(a["switch_rate_sampled"]), float(a["switch_rate_argmax"])
    n_cls = int(a["classes_visited"])
    rtol = tol["switch_rate_rtol"]
    ok = n_cls >= 2 and abs(sampled - change_probability) <= rtol * change_probability
    rows.append(claim(
        "orbit_switch_rate", "with input: a closed orbit through >= 2 output regions whose (sampled) output "
        "switching rate matches the HMM's change probability",
        model, f">= 2 argmax classes; sampled rate {change_probability:.3g} ± {rtol:.0%}",
        f"sampled {sampled:.3g}; argmax {argmax:.3g}; {n_cls} argmax classes", ok, "E.3, G.4"))
    fit = radius_fit(a["spread_stds"], a["spread_radius"])
    ok = fit["slope"] > 0 and fit["r2"] >= tol["radius_r2_min"] and fit["ratio_max_dev"] <= tol["radius_ratio_rtol"]
    rows.append(claim(
        "orbit_radius_linear", "orbit radius (PC1-PC2) grows linearly with the input noise std σ",
        model, f"R² >= {tol['radius_r2_min']}; radius/σ within ±{tol['radius_ratio_rtol']:.0%} of its median",
        f"slope {fit['slope']:.3g}, intercept {fit['intercept']:.2g}, R² {fit['r2']:.4f}, "
        f"max dev {fit['ratio_max_dev']:.1%}", ok, "E.4, G.1"))
    return rows


_STATE_SPACE_CLAIMS = [
    ("single_stable_fixed_point", "without input every trajectory collapses to one stable fixed point",
     "1 stable fixed point; all input-free trajectories converge to it", "E.2, G.1"),
    ("orbit_switch_rate", "with input: a closed orbit through >= 2 output regions whose (sampled) output "
     "switching rate matches the HMM's change probability", "bounded orbit", "E.3, G.4"),
    ("orbit_radius_linear", "orbit radius (PC1-PC2) grows linearly with the input noise std σ",
     "bounded orbit", "E.4, G.1"),
]


def local_claims(model: str, a: dict, tol: dict, label: str = "") -> list[dict]:
    """Spec E.6 / G.4 on one residency analysis (keys groups, n_unstable, sign_changes, residency)."""
    name = model + (f" [{label}]" if label else "")
    if a.get("failed"):
        return [claim(c, d, name, e, _failure(a), False, src) for c, d, e, src in _LOCAL_CLAIMS]
    k = tol["min_group_states"]
    counts = {n: int(np.sum(np.asarray(a["groups"]) == c)) for c, n in GROUP_NAMES.items()}
    unst = group_means(a["groups"], a["n_unstable"], k)
    sc = group_means(a["groups"], a["sign_changes"], k)
    rows = []
    present = all(counts[n] >= k for n in GROUP_NAMES.values())
    rows.append(claim(*_LOCAL_CLAIMS[0][:2], name, _LOCAL_CLAIMS[0][2],
                      _fmt3(counts, "d") + f" of {len(a['groups'])} states", present, _LOCAL_CLAIMS[0][3]))
    c = unst["cluster"]
    others = [unst["transition"], unst["kick"]]
    ok = bool(np.isfinite(c) and all(np.isfinite(others)) and c < min(others))
    rows.append(claim(*_LOCAL_CLAIMS[1][:2], name, _LOCAL_CLAIMS[1][2], "mean unstable " + _fmt3(unst), ok,
                      _LOCAL_CLAIMS[1][3]))
    vals = [sc["transition"], sc["kick"], sc["cluster"]]
    ok = bool(all(np.isfinite(vals)) and vals[0] < vals[1] < vals[2])
    rows.append(claim(*_LOCAL_CLAIMS[2][:2], name, _LOCAL_CLAIMS[2][2], "mean sign changes " + _fmt3(sc), ok,
                      _LOCAL_CLAIMS[2][3]))
    return rows


_LOCAL_CLAIMS = [
    ("three_regions", "states split into transitions (RT < 2), kick-zones (2-8) and clusters (RT > 8, p > 0.8)",
     "every group present", "E.6, G.1"),
    ("cluster_fewest_unstable", "clusters have the fewest unstable Jacobian eigenvalues",
     "cluster < kick and cluster < transition (paper: cluster 0.12-0.21)", "E.6, G.4"),
    ("sign_changes_ordered", "logit-gradient sign reversals: transition < kick-zone < cluster",
     "transition < kick < cluster (paper: < 1, 2-4, 5-20)", "E.6, G.1"),
]


def noise_claims(model: str, a: dict) -> list[dict]:
    """Spec E.7 / G.4: trajectories from the cluster state spread more than from the transition state
    (trace of the covariance at the last step, gamma = 1)."""
    desc = "noise sensitivity: cluster starts spread more than transition starts (trace at t=T, γ=1)"
    if not a.get("found"):
        return [claim("cluster_more_noise_sensitive", desc, model, "cluster > transition", _failure(a), False, "E.7, G.4")]
    gam = np.asarray(a["gammas"], float)
    gi = int(np.argmin(np.abs(gam - 1.0)))
    c, t = float(a["cluster_trace"][gi, -1]), float(a["transition_trace"][gi, -1])
    T = a["cluster_trace"].shape[1] - 1
    return [claim("cluster_more_noise_sensitive", desc, model,
                  "cluster > transition (paper M=2: 45.3 vs 28.5)",
                  f"{c:.3g} vs {t:.3g} (t={T}, γ={gam[gi]:g})", c > t, "E.7, G.4")]


def dynamics_claims(state_space: dict, local: dict, noise: dict, subspaces: dict,
                    change_probability: dict, tol: dict) -> list[dict]:
    """All dynamics claim rows. Each argument maps model id -> loaded analysis; change_probability
    maps HMM name -> its stationary output change probability."""
    rows = []
    for mid, a in state_space.items():
        rows += state_space_claims(mid, a, change_probability[ModelSpec.parse(mid).hmm], tol)
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


def subspace_residency(a: dict, label: str) -> dict:
    """The residency arrays of output pair ``label`` ('01') of a subspaces analysis, without prefix."""
    pre = f"res{label}_"
    out = {k[len(pre):]: v for k, v in a.items() if k.startswith(pre)}
    err = a["meta"].get("residency_errors", {}).get(label)
    out["failed"] = err is not None
    out["meta"] = {"error": err} if err else {}
    return out
