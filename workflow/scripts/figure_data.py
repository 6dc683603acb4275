"""Assemble one figure's data file from cached results (rnnhmm.figures.performance)."""
from rnnhmm.claims.performance import not_converged
from rnnhmm.figures import performance
from rnnhmm.io import job, write_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    name = sm.params.figure
    data = performance.build(name, sm.input, sm.params)
    data["not_converged"] = not_converged(sm.input.conv_metrics, sm.input.conv_floors)
    data["provenance"] = log.provenance({"figure": name, "config": dict(sm.config)})
    write_json(data, sm.output[0])
    log(f"wrote {sm.output[0]}")
