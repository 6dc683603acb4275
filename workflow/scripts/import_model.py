"""Import one model trained elsewhere into the pipeline's model files: adapter over
rnnhmm.training.external."""
from rnnhmm.io import job
from rnnhmm.paths import wildcards_id
from rnnhmm.training.external import import_model

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    w = sm.wildcards
    import_model(dict(sm.params.entry), wildcards_id(w), sm.input.data,
                 dict(sm.params.training), sm.params.every, sm.output[0], log.provenance, log)
    log(f"done in {log.elapsed():.1f} s")
