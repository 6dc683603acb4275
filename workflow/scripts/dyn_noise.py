"""Noise sensitivity of one model (docs/dynamics.md E.7): adapter over rnnhmm.analyses.noise."""
from rnnhmm.analyses import noise
from rnnhmm.config import derive_seed
from rnnhmm.io import job, save_analysis
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    p, model = dict(sm.params.settings), sm.params.model
    seed = derive_seed("dynamics", "noise", model, sm.params.seed)
    arrays, meta = noise.run(load_weights(sm.input.model, sm.params.weights), p, seed, model, log)
    meta["provenance"] = log.provenance(p, seed)
    save_analysis(sm.output[0], arrays, meta)
    log(f"wrote {sm.output[0]} in {log.elapsed():.1f} s")
