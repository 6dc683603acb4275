"""Assemble one mechanism figure's data file from cached analyses (see rnnhmm.plotting_mechanism)."""
import time

from rnnhmm import plotting_mechanism as pm
from rnnhmm.io import job_log, provenance, read_json, write_json

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    name = sm.params.figure
    if name == "fig5":
        data = pm.fig5_data(read_json(sm.input.kick))
    elif name == "fig6":
        data = pm.fig6_data(read_json(sm.input.interventions))
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
