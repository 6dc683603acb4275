"""Assemble one mechanism figure's data file from cached analyses (see rnnhmm.plotting_mechanism)."""
import time

from rnnhmm import plotting_mechanism as pm
from rnnhmm.io import job_log, provenance, read_json, write_json

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    name = sm.params.figure
    if name == "fig5":
        kick = read_json(sm.input.kick)
        ma = kick["mean_activity"]  # the first mean_activity_show steps (display-only setting)
        kick["mean_activity"] = {k: v if v is None else v[: sm.params.mean_activity_show] for k, v in ma.items()}
        data = pm.fig5_data(kick)
    elif name == "fig6":
        iv = read_json(sm.input.interventions)
        iv["show_steps"] = sm.params.show_steps  # the first show_steps of each trajectory (display only)
        for g in iv["groups"]:
            for c in (g.get("conditions") or {}).values():
                c["trajectories"] = {mu: t[: iv["show_steps"]] for mu, t in c["trajectories"].items()}
        data = pm.fig6_data(iv)
    elif name == "fig7":
        data = pm.fig7_data([read_json(p) for p in sm.input.evolution], dict(sm.params.change_probability))
    elif name == "figS3":
        data = pm.figS3_data(read_json(sm.input.readout))
    elif name == "figS4":
        data = pm.figS4_data([read_json(p) for p in sm.input.kick])
    else:
        raise ValueError(f"no figure-data recipe for {name}")
    inputs = {}
    for path in sm.input:
        blob = read_json(path)
        if isinstance(blob, dict) and "provenance" in blob:
            inputs[str(path)] = blob["provenance"]
    data["provenance"] = provenance({"figure": name, "config": dict(sm.config), "analyses": inputs}, None, t0)
    write_json(data, sm.output[0])
    log(f"wrote {sm.output[0]}")
