"""Assemble one dynamics figure's data file from the cached analyses (see rnnhmm.plotting_dynamics)."""
import re
import time

import numpy as np

from rnnhmm import plotting_dynamics as pdyn
from rnnhmm.config import ModelSpec
from rnnhmm.dynamics_claims import load_analysis
from rnnhmm.io import job_log, provenance, read_json, write_json

sm = snakemake  # noqa: F821


def display(a: dict) -> dict:
    """Cut an analysis down to what the figure shows (display-only settings, rule params here)."""
    pp = getattr(sm.params, "plot_points", None)
    if pp and "spread_proj" in a:  # evenly spaced points per noise level (KDE contours)
        n = a["spread_proj"].shape[1]
        a["spread_proj"] = a["spread_proj"][:, np.unique(np.linspace(0, n - 1, min(pp, n)).astype(int))]
    pt = getattr(sm.params, "plot_trajectories", None)
    for name in ("cluster", "transition"):
        if pt and f"{name}_traj" in a:
            a[f"{name}_traj"] = a[f"{name}_traj"][:, :pt]
    shown, points = getattr(sm.params, "runs_shown", None), getattr(sm.params, "run_points", None)
    for key in [k for k in a if re.fullmatch(r"p\d+_run\d+_coords", k)] if shown else []:
        i, out = int(key.split("_run")[1].split("_")[0]), key.replace("_coords", "_outputs")
        if i >= shown:
            del a[key], a[out]
        else:
            a[key], a[out] = a[key][:points], a[out][:points]
    return a


with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    name, models = sm.params.figure, list(sm.params.models)
    analyses = {}  # provenance of every analysis file used

    def by_model(paths):
        out = {m: display(load_analysis(p)) for m, p in zip(models, paths)}
        analyses.update({p: a["meta"].get("provenance") for p, a in zip(paths, out.values())})
        return out

    if name == "fig2":
        data = pdyn.fig2_data(by_model(sm.input.state_space), sm.params.change_probability)
    elif name == "figS2":
        data = pdyn.figS2_data(by_model(sm.input.state_space), sm.params.change_probability)
    elif name == "fig3":
        data = pdyn.fig3_data(by_model(sm.input.local))
    elif name == "fig4":
        data = pdyn.fig4_data(by_model(sm.input.noise))
    elif name == "fig8":
        floors = {f["hmm"]: f for f in map(read_json, sm.input.floors)}
        metrics = [read_json(p) for p in sm.input.metrics]
        perf = {}
        for m in models:
            s = ModelSpec.parse(m)
            same = [x for x in metrics if (x["hmm"], x["hidden"], x["input"]) == (s.hmm, s.hidden, s.input)]
            perf[m] = pdyn.performance_entry(s.hmm, same, floors[s.hmm])
        data = pdyn.fig8_data(by_model(sm.input.state_space), by_model(sm.input.subspaces), perf)
    else:
        raise ValueError(f"no figure-data recipe for {name}")
    data["provenance"] = provenance({"figure": name, "models": models, "config": dict(sm.config),
                                     "analyses": analyses}, None, t0)
    write_json(data, sm.output[0])
    log(f"wrote {sm.output[0]} ({len(models)} models)")
