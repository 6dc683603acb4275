"""Assemble one dynamics figure's data file from the cached analyses (rnnhmm.figures.dynamics_data)."""
from rnnhmm.claims.learned import figure_flags
from rnnhmm.figures import dynamics_data
from rnnhmm.io import job, write_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    name, models = sm.params.figure, list(sm.params.models)
    data, analyses = dynamics_data.build(name, models, sm.input, sm.params)
    data.update(figure_flags(sm.input.flag_metrics, sm.input.flag_floors))  # not learned / not faithful
    data["provenance"] = log.provenance({"figure": name, "models": models, "config": dict(sm.config),
                                         "analyses": analyses})
    write_json(data, sm.output[0])
    log(f"wrote {sm.output[0]} ({len(models)} models)")
