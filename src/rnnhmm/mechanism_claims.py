"""Paper claims about the mechanism (spec E.8-E.11, G.4), plus the small pure helpers that the
mechanism workflow scripts share with them (kick-group completion, epoch choices, mu grid).

Inputs are the analysis JSON dicts written by ``workflow/scripts/mech_*.py``:

* kick (``results/analysis/kick/{model}.json``): ``model``, ``groups`` [[...], [...]],
  ``group_status`` ['selected' | 'fallback' | 'empty'] x 2, ``n_selected`` [n1, n2], ``error``;
* interventions: ``model``, ``mus`` (M,), ``groups``: per kick group ``{group, neurons, status,
  conditions: {kick | noise_projection | control: {pairs_mean (M,), pairs_std (M,), n_targets}}}``
  (``skipped`` instead of ``conditions`` when the group is empty);
* evolution: ``model``, ``epochs``, ``transition_rate``, ``complex_fraction``,
  ``unstable_fraction`` (E,), ``bifurcation_epoch``, ``second_loss_drop``, ``converged_rate``;
* readout: ``models``: [{model, hmm, states, mean_projection}].

Every claim yields a row even when its analysis could not run (``pass`` False, ``ours`` says why):
a failing claim is reported, never dropped. Tolerances are module constants, stated in each row's
``expected`` text.
"""

from __future__ import annotations

import math

import numpy as np

from .claims import claim

__all__ = [
    "complete_kick_groups", "evaluated_epoch_indices", "display_epochs", "mu_grid", "mu_index",
    "kick_claims", "intervention_claims", "evolution_claims", "readout_claims", "mechanism_claims",
    "PAPER_READOUT_PROJECTION", "RATE_REL_TOL", "CONTROL_REL_TOL", "FRACTION_TOL",
]

# spec G.4: readout projection onto the PC1-PC2 plane, mean over 3 models per number of states
PAPER_READOUT_PROJECTION = {2: 0.506, 3: 0.318, 4: 0.265, 5: 0.268}
# converged transition rate within this relative distance of the HMM's change probability
# (spec G.4: single stochastic runs, expect +-20-50%)
RATE_REL_TOL = 0.5
# control condition "flat": critical pairs at every mu within this fraction of the mu = 1 value
# (spec G.4: control 6.8-9.4 around 8, i.e. about +-20%)
CONTROL_REL_TOL = 0.3
# complex / unstable fractions count as "about zero" below this (the bifurcation threshold)
FRACTION_TOL = 0.02


# ---------------------------------------------------------------------------------------------
# helpers shared with the workflow scripts


def complete_kick_groups(indices, ranked, fallback_top: int):
    """Kick groups for the downstream analyses, with a status per group.

    indices: the two lists of neurons that passed the criterion; ranked: the two candidate lists
    ordered by decreasing score (``select_kick_neurons``'s ``ranked``). A non-empty group is kept
    ('selected'); an empty one takes the first ``fallback_top`` ranked neurons ('fallback'),
    or stays empty ('empty') when fallback_top is 0 or there are no candidates.
    Returns (groups [list, list], status [str, str]).
    """
    groups, status = [], []
    for sel, rk in zip(indices, ranked):
        sel = [int(i) for i in sel]
        if sel:
            groups.append(sel)
            status.append("selected")
        elif fallback_top > 0 and len(rk):
            groups.append([int(i) for i in list(rk)[:fallback_top]])
            status.append("fallback")
        else:
            groups.append([])
            status.append("empty")
    return groups, status


def evaluated_epoch_indices(epochs, stride: int) -> list[int]:
    """Indices into ``epochs`` (snapshot epochs, ascending) of epochs 1, 1 + stride, ... (those
    present) plus the last snapshot: the reference's ep_rate subsampling."""
    ep = [int(e) for e in epochs]
    if not ep:
        return []
    idx = [i for i, e in enumerate(ep) if (e - ep[0]) % stride == 0]
    if idx[-1] != len(ep) - 1:
        idx.append(len(ep) - 1)
    return idx


def display_epochs(epochs, n: int, bifurcation=None) -> list[int]:
    """``n`` evaluated epochs spread evenly from the first to the last (by position), plus the
    bifurcation epoch if given; ascending, unique."""
    ep = [int(e) for e in epochs]
    if not ep:
        return []
    pos = np.unique(np.round(np.linspace(0, len(ep) - 1, min(n, len(ep)))).astype(int))
    out = {ep[i] for i in pos}
    if bifurcation is not None and int(bifurcation) in ep:
        out.add(int(bifurcation))
    return sorted(out)


def mu_grid(mu_max: float, step: float) -> list[float]:
    """0, step, 2 step, ... up to mu_max (inclusive, rounded to 10 decimals)."""
    n = int(math.floor(mu_max / step + 1e-9))
    return [round(i * step, 10) for i in range(n + 1)]


def mu_index(mus, value: float, tol: float = 1e-6) -> int:
    """Position of ``value`` in the sweep ``mus``; ValueError if it is not on the grid."""
    arr = np.asarray(mus, dtype=float)
    hits = np.flatnonzero(np.abs(arr - value) < tol)
    if hits.size == 0:
        raise ValueError(f"mu = {value} is not on the sweep grid {list(arr)}")
    return int(hits[0])


# ---------------------------------------------------------------------------------------------
# claims


def kick_claims(kick_results: list[dict]) -> list[dict]:
    """E.8: two kick groups (paper: triplets) found by the criterion, per analysed model."""
    rows = []
    for k in kick_results:
        n = k.get("n_selected", [0, 0])
        status = k.get("group_status", ["empty", "empty"])
        ours = f"{n[0]} + {n[1]} neurons pass ({status[0]} / {status[1]})"
        if k.get("error"):
            ours += f"; {k['error']}"
        rows.append(claim("two_kick_groups", "two non-empty groups of kick neurons pass the criterion of spec E.8",
                          k["model"], "2 groups, ~3 neurons each", ours, n[0] > 0 and n[1] > 0, "E.8"))
    return rows


def _pairs(cond: dict, mus, mu: float) -> float:
    return float(cond["pairs_mean"][mu_index(mus, mu)])


def intervention_claims(iv: dict) -> list[dict]:
    """E.9 / G.4: mu = 0 reduces the critical complex pairs in the kick and noise-projection
    conditions (vs mu = 1); the control condition is flat across mu. One row per kick group."""
    rows = []
    model, mus = iv["model"], iv["mus"]
    for g in iv["groups"]:
        label = f"{model} (kick group {g['group']}{', fallback neurons' if g.get('status') == 'fallback' else ''})"
        conds = g.get("conditions")
        if not conds:
            why = g.get("skipped", "not run")
            for cid in ("kick_mu0_reduces_pairs", "noise_mu0_reduces_pairs", "control_flat"):
                rows.append(claim(cid, "intervention not run", label, "-", f"not run: {why}", False, "E.9, G.4"))
            continue
        for cid, name, desc, exp in (
            ("kick_mu0_reduces_pairs", "kick", "silencing the recurrent input into the kick neurons (mu=0) "
             "reduces the critical complex pairs vs mu=1", "pairs(mu=0) < pairs(mu=1) (paper 2.8-5.1 vs ~8)"),
            ("noise_mu0_reduces_pairs", "noise_projection", "cutting the noise into the kick neurons' presynaptic "
             "populations (mu=0) reduces the critical complex pairs", "pairs(mu=0) < pairs(mu=1) (paper 2.0-3.2 vs ~8)"),
        ):
            c = conds[name]
            p0, p1 = _pairs(c, mus, 0.0), _pairs(c, mus, 1.0)
            rows.append(claim(cid, desc, label, exp, f"{p0:.3g} vs {p1:.3g}", p0 < p1, "E.9, G.4"))
        c = conds["control"]
        p1 = _pairs(c, mus, 1.0)
        vals = np.asarray(c["pairs_mean"], dtype=float)
        dev = float(np.max(np.abs(vals - p1)) / p1) if p1 > 0 else math.inf
        ok = p1 > 0 and dev <= CONTROL_REL_TOL
        rows.append(claim("control_flat", "control condition (noise into non-presynaptic neurons): critical pairs "
                          "flat across mu", label, f"max |pairs(mu) - pairs(1)| <= {CONTROL_REL_TOL:.0%} of pairs(1)",
                          f"pairs(1) = {p1:.3g}, max deviation {dev:.0%}" if p1 > 0 else "pairs(1) = 0",
                          ok, "E.9, G.4"))
    return rows


def evolution_claims(ev: dict, change_probability: float) -> list[dict]:
    """E.10 / G.4: complex and unstable fractions ~0 before the bifurcation and > 0 after it; the
    converged transition rate is near the HMM's output-change probability; the second loss drop
    comes with the bifurcation."""
    model = ev["model"]
    rows = []
    ep = np.asarray(ev["epochs"], dtype=float)
    cf = np.asarray(ev["complex_fraction"], dtype=float)
    uf = np.asarray(ev["unstable_fraction"], dtype=float)
    bif = ev.get("bifurcation_epoch")
    for cid, frac, what in (("complex_fraction_emerges", cf, "complex pairs near the unit circle"),
                            ("unstable_fraction_emerges", uf, "unstable eigenvalues (|lambda| > 1)")):
        desc = f"fraction of steps with {what} ~0 before the bifurcation epoch and > 0 after it"
        exp = f"<= {FRACTION_TOL} before, > 0 after"
        if bif is None:
            rows.append(claim(cid, desc, model, exp, "no bifurcation found (the complex fraction never jumps)",
                              False, "E.10, G.4"))
            continue
        before, after = ep < bif, ep >= bif
        b = float(np.max(frac[before], initial=0.0))
        a = float(np.mean(frac[after])) if after.any() else 0.0
        ok = bool(before.any()) and b <= FRACTION_TOL and a > 0
        rows.append(claim(cid, desc, model, exp, f"bifurcation at epoch {bif}; max before {b:.3g} "
                          f"({int(before.sum())} epochs), mean after {a:.3g}", ok, "E.10, G.4"))
    rate = ev.get("converged_rate")
    exp = f"{change_probability:.4g} +- {RATE_REL_TOL:.0%} (HMM output-change probability)"
    if rate is None or not np.isfinite(rate):
        rows.append(claim("converged_transition_rate", "converged transition rate near the HMM's", model, exp,
                          "not available", False, "E.10, G.4"))
    else:
        ok = abs(rate - change_probability) <= RATE_REL_TOL * change_probability
        rows.append(claim("converged_transition_rate", "converged transition rate (mean of 1/dwell over the last "
                          "evaluated epochs) near the HMM's output-change probability", model, exp, rate, ok, "E.10, G.4"))
    drop = ev.get("second_loss_drop")
    n_ep = int(ep[-1]) if ep.size else 0
    tol = max(1, round(0.2 * n_ep))
    desc = "the second drop of the validation loss coincides with the bifurcation"
    if drop is None or bif is None:
        ours = f"second loss drop {drop}, bifurcation {bif}"
        rows.append(claim("loss_drop_at_bifurcation", desc, model, f"|drop - bifurcation| <= {tol} epochs (20% of training)",
                          ours, False, "E.10"))
    else:
        rows.append(claim("loss_drop_at_bifurcation", desc, model, f"|drop - bifurcation| <= {tol} epochs (20% of training)",
                          f"drop at {drop}, bifurcation at {bif}", abs(drop - bif) <= tol, "E.10"))
    return rows


def readout_claims(readout: dict) -> list[dict]:
    """E.11 / G.4: the readout projection onto the orbit plane decreases from M=2 to M=5."""
    by_m: dict[int, list[float]] = {}
    for r in readout["models"]:
        if r.get("mean_projection") is not None and np.isfinite(r["mean_projection"]):
            by_m.setdefault(int(r["states"]), []).append(float(r["mean_projection"]))
    means = {m: float(np.mean(v)) for m, v in sorted(by_m.items())}
    expected = "decreasing: " + ", ".join(f"M={m} {v}" for m, v in PAPER_READOUT_PROJECTION.items())
    ours = ", ".join(f"M={m} {v:.3f}" for m, v in means.items()) or "no model"
    ms = sorted(means)
    ok = len(ms) >= 2 and means[ms[0]] > means[ms[-1]]
    if len(ms) < 2:
        ours += " (needs at least two numbers of states)"
    return [claim("readout_projection_decreases", "projection of the readout axes onto the PC1-PC2 plane "
                  "decreases with the number of states (smallest M vs largest M)",
                  "/".join(sorted({r["hmm"] for r in readout["models"]})), expected, ours, ok, "E.11, G.4")]


def mechanism_claims(kick: list[dict], interventions: dict, evolution: list[dict], readout: dict,
                     change_probability: dict) -> list[dict]:
    """All mechanism claim rows; change_probability maps HMM name -> output-change probability."""
    rows = kick_claims(kick) + intervention_claims(interventions)
    for ev in evolution:
        rows += evolution_claims(ev, change_probability[ev["hmm"]])
    return rows + readout_claims(readout)
