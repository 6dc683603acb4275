"""Assemble one mechanism figure's data file from cached analyses (rnnhmm.figures.mechanism_data)."""
from rnnhmm.claims.performance import not_converged
from rnnhmm.figures import mechanism_data
from rnnhmm.io import job, write_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    name = sm.params.figure
    data, inputs = mechanism_data.build(name, sm.input, sm.params)
    data["not_converged"] = not_converged(sm.input.conv_metrics, sm.input.conv_floors)
    data["provenance"] = log.provenance({"figure": name, "config": dict(sm.config), "analyses": inputs})
    write_json(data, sm.output[0])
    log(f"wrote {sm.output[0]}")
