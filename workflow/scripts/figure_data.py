"""Assemble one figure's data file from cached results (rnnhmm.figures.performance)."""
from rnnhmm.claims.learned import figure_flags
from rnnhmm.figures import performance
from rnnhmm.io import job, write_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    name = sm.params.figure
    data = performance.build(name, sm.input, sm.params)
    data.update(figure_flags(sm.input.flag_metrics, sm.input.flag_floors))  # not learned / not faithful
    data["provenance"] = log.provenance({"figure": name, "config": dict(sm.config)})
    write_json(data, sm.output[0])
    log(f"wrote {sm.output[0]}")
