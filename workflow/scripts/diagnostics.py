"""Per-model diagnostic figures (loss curves + emission statistics), one PNG per model."""
from rnnhmm.figures.performance import diagnostics
from rnnhmm.io import job

sm = snakemake  # noqa: F821
with job(sm) as log:
    diagnostics(sm.input.losses, sm.input.metrics, sm.input.floors, sm.output, log)
