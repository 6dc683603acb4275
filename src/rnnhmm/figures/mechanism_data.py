"""Figures of the mechanism analyses (docs/mechanism.md E.8-E.11, F: figures 5, 6, 7, S3, S4).

Two layers, as for every figure of the pipeline:

* ``<fig>_data(...)``: pure functions from the cached analysis JSON dicts (written by
  ``workflow/scripts/mech_*.py``) to the small figure-data dict stored in
  ``results/figure_data/<fig>.json``: labels are decided here from the data (which kick group
  drives which transition, which population inhibits which group, the mu actually used);
* ``plot_<fig>(data)``: matplotlib only, returns the Figure. Panels whose analysis could not run
  say so in the panel instead of failing.

Conventions: kick groups and populations are numbered from 1 in labels, neuron indices from 0.
Kick group 1 = neurons whose pre-activation rises with d(l2 - l0)/dt, i.e. that drive the
output 0 -> 2 transition; group 2 drives 2 -> 0 (see ``rnnhmm.analyses.kick.select_kick_neurons``).
"""


from __future__ import annotations

import numpy as np

from rnnhmm.io import read_json
from rnnhmm.paper import PAPER_READOUT_PROJECTION

KICK_COLORS = ["tab:orange", "tab:purple"]
POP_COLORS = ["tab:brown", "tab:cyan"]
MU_COLORS = {"inhibition": "darkblue", "nominal": "grey", "excitation": "darkred"}
CONDITION_TITLES = {"kick": "kick condition\n(recurrent input into the kick group x mu)",
                    "noise_projection": "noise-projection condition\n(noise into its presynaptic neurons x mu)",
                    "control": "control condition\n(noise into non-presynaptic neurons x mu)"}
KICK_DRIVES = ["drives 0→2", "drives 2→0"]


# ---------------------------------------------------------------------------------------------
# figure data


def change_segments(outputs) -> list[list[int]]:
    """[start, end) segments of constant output in a label sequence (for the background shading)."""
    o = np.asarray(outputs)
    if o.size == 0:
        return []
    cuts = np.flatnonzero(o[1:] != o[:-1]) + 1
    bounds = [0, *cuts.tolist(), int(o.size)]
    return [[bounds[i], bounds[i + 1]] for i in range(len(bounds) - 1)]


def _sign_word(x: float) -> str:
    return "excites" if x > 0 else "inhibits"


def population_label(j: int, to_kick) -> str:
    """'Population j (inhibits kick 1, excites kick 2)' from its mean weights onto the kick groups."""
    if to_kick is None:
        return f"Population {j}"
    return f"Population {j} ({_sign_word(to_kick[0])} kick 1, {_sign_word(to_kick[1])} kick 2)"


def _kick_labels(kick: dict) -> list[str]:
    labels = []
    for i, (g, st) in enumerate(zip(kick["groups"], kick["group_status"])):
        extra = "" if st == "selected" else (", fallback: top-ranked, none passed" if st == "fallback" else ", empty")
        labels.append(f"Kick group {i + 1} ({KICK_DRIVES[i]}{extra}): {g}")
    return labels


def fig5_data(kick: dict) -> dict:
    """Figure 5 (single model): pre-activation maps, sorted weight blocks, mean activities."""
    pm = kick["preact_map"]
    pre = np.asarray(pm["pre"], dtype=float)
    vmax = float(np.max(np.abs(pre))) if pre.size else 1.0
    ma = kick["mean_activity"]
    pops = kick.get("population_to_kick")
    return {
        "model": kick["model"], "groups": kick["groups"], "group_status": kick["group_status"],
        "n_selected": kick["n_selected"], "error": kick.get("error"), "region_counts": kick.get("region_counts"),
        "kick_labels": _kick_labels(kick),
        "pop_labels": [population_label(j + 1, pops[j] if pops else None) for j in range(2)],
        "populations": kick["populations"],
        "preact": {"coords": pm["coords"], "explained_variance": pm["explained_variance"], "neurons": pm["neurons"],
                   "neuron_group": pm["neuron_group"], "pre": pm["pre"], "vmax": vmax},
        "blocks": kick.get("blocks"),
        "mean_activity": {k: ma[k] for k in ("kick1", "kick2", "pop1", "pop2")},
        "segments": change_segments(ma["outputs"]),
        "segment_outputs": [int(ma["outputs"][s]) for s, _ in change_segments(ma["outputs"])],
    }


def fig6_data(iv: dict) -> dict:
    """Figure 6: trajectories at the shown mu and critical pairs vs mu, per kick group and condition."""
    mus = [float(m) for m in iv["mus"]]
    show = [float(m) for m in iv["show_mus"]]
    groups = []
    for g in iv["groups"]:
        entry = {"group": g["group"], "neurons": g["neurons"], "status": g["status"],
                 "label": f"Kick group {g['group']} ({KICK_DRIVES[g['group'] - 1]}"
                          f"{', fallback neurons' if g['status'] == 'fallback' else ''}): {g['neurons']}",
                 "skipped": g.get("skipped"), "conditions": {}, "explained_variance": g.get("explained_variance")}
        for name, c in (g.get("conditions") or {}).items():
            entry["conditions"][name] = {
                "n_targets": c["n_targets"], "pairs_mean": c["pairs_mean"], "pairs_std": c["pairs_std"],
                "trajectories": c["trajectories"],
            }
        groups.append(entry)
    return {"model": iv["model"], "mus": mus, "show_mus": show, "show_steps": iv["show_steps"], "groups": groups}


def fig7_data(evolutions: list[dict], change_probability: dict) -> dict:
    """Figure 7: per evolution model, metrics vs epoch, E[dh2] heatmap (neurons sorted by the last
    epoch's value), losses, bifurcation and second loss drop, PCA across selected epochs."""
    models = []
    for ev in evolutions:
        dh2 = np.asarray([[np.nan if v is None else v for v in row] for row in ev["sqrt_abs_dh2"]], dtype=float)
        order = np.argsort(-np.nan_to_num(dh2[-1], nan=-1.0)) if dh2.size else np.arange(0)
        models.append({
            "model": ev["model"], "hmm": ev["hmm"], "epochs": ev["epochs"],
            "transition_rate": ev["transition_rate"], "complex_fraction": ev["complex_fraction"],
            "unstable_fraction": ev["unstable_fraction"], "finite": ev["finite"],
            "dh2": dh2[:, order].tolist() if dh2.size else [],
            "val_loss": ev["val_loss"], "train_loss": ev["train_loss"],
            "bifurcation_epoch": ev["bifurcation_epoch"], "second_loss_drop": ev["second_loss_drop"],
            "converged_rate": ev["converged_rate"], "converged_last": ev["converged_last"],
            "hmm_change_probability": change_probability.get(ev["hmm"]),
            "pca": ev["pca"],
        })
    return {"models": models}


def figS3_data(readout: dict) -> dict:
    """Figure S3: mean +- std (over seeds) of the mean readout projection per number of states."""
    by_m: dict[int, list] = {}
    failed = []
    for r in readout["models"]:
        if r.get("mean_projection") is None:
            failed.append(f"{r['model']}: {r.get('error')}")
            continue
        by_m.setdefault(int(r["states"]), []).append((r["model"], float(r["mean_projection"])))
    states = sorted(by_m)
    return {
        "states": states,
        "mean": [float(np.mean([v for _, v in by_m[m]])) for m in states],
        "std": [float(np.std([v for _, v in by_m[m]])) for m in states],
        "points": {str(m): [v for _, v in by_m[m]] for m in states},
        "models": {str(m): [k for k, _ in by_m[m]] for m in states},
        "paper": {str(m): v for m, v in PAPER_READOUT_PROJECTION.items()},
        "failed": failed,
    }


def figS4_data(kicks: list[dict]) -> dict:
    """Figure S4: sorted weight blocks of other models (kick groups found by the same criterion)."""
    return {"models": [{"model": k["model"], "groups": k["groups"], "group_status": k["group_status"],
                        "n_selected": k["n_selected"], "populations": k["populations"],
                        "blocks": k.get("blocks"), "kick_labels": _kick_labels(k)} for k in kicks]}


# ---------------------------------------------------------------------------------------------
# plotting helpers


def build(name: str, inputs, params) -> tuple[dict, dict]:
    """The data of mechanism figure ``name`` from the analysis files of the figure rule's ``inputs``
    (attributes ``kick``, ``interventions``, ``evolution``, ``readout``) and display settings in its
    ``params``. Returns (data, the provenance of every input file that has one)."""
    if name == "fig5":
        kick = read_json(inputs.kick)
        ma = kick["mean_activity"]  # the first mean_activity_show steps (display-only setting)
        kick["mean_activity"] = {k: v if v is None else v[: params.mean_activity_show] for k, v in ma.items()}
        data = fig5_data(kick)
    elif name == "fig6":
        iv = read_json(inputs.interventions)
        iv["show_steps"] = params.show_steps  # the first show_steps of each trajectory (display only)
        for g in iv["groups"]:
            for c in (g.get("conditions") or {}).values():
                c["trajectories"] = {mu: t[: iv["show_steps"]] for mu, t in c["trajectories"].items()}
        data = fig6_data(iv)
    elif name == "fig7":
        data = fig7_data([read_json(p) for p in inputs.evolution], dict(params.change_probability))
    elif name == "figS3":
        data = figS3_data(read_json(inputs.readout))
    elif name == "figS4":
        data = figS4_data([read_json(p) for p in inputs.kick])
    else:
        raise ValueError(f"no figure-data recipe for {name}")
    used = {}
    for path in inputs:
        blob = read_json(path)
        if isinstance(blob, dict) and "provenance" in blob:
            used[str(path)] = blob["provenance"]
    return data, used
