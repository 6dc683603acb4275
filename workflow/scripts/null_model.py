"""A null network of one model (rnnhmm.analyses.nulls): adapter writing its model.pt and evolution.pt."""
import torch

from rnnhmm.analyses import nulls
from rnnhmm.analyses.evolution import warmup_epochs
from rnnhmm.io import atomic_save, job

sm = snakemake  # noqa: F821
with job(sm) as log:
    blob = torch.load(sm.input.model, map_location="cpu", weights_only=False)
    evo = torch.load(sm.input.evolution, map_location="cpu", weights_only=False)
    out, evo_out = nulls.make_null(blob, evo, sm.wildcards.kind, sm.params.seed, warmup_epochs(blob))
    atomic_save(out, sm.output.model)
    atomic_save(evo_out, sm.output.evolution)
    log(f"{sm.params.model}: {out['null']['why']}; wrote {sm.output.model}")
