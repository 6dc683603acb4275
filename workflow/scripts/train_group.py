"""Train one group of models (rnnhmm.training.grouping) with the batched engine: adapter over rnnhmm.training.group."""
from rnnhmm.io import job
from rnnhmm.training import group

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    group.run(sm.config, sm.wildcards.group, sm.params.training, sm.params.seeds, sm.input.data,
              sm.params.checkpoint, sm.output[0], log.provenance, log)
