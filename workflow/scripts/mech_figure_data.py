"""Assemble one mechanism figure's data file from cached analyses (rnnhmm.figures.mechanism_data)."""
from rnnhmm.claims.learned import figure_flags
from rnnhmm.figures import mechanism_data
from rnnhmm.io import job, write_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    name = sm.params.figure
    data, inputs = mechanism_data.build(name, sm.input, sm.params)
    data.update(figure_flags(sm.input.flag_metrics, sm.input.flag_floors))  # not learned / not faithful
    data["provenance"] = log.provenance({"figure": name, "config": dict(sm.config), "analyses": inputs})
    write_json(data, sm.output[0])
    log(f"wrote {sm.output[0]}")
