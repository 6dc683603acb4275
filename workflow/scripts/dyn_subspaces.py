"""Output-pair subspaces of one model (docs/dynamics.md E.5-E.6): adapter over rnnhmm.analyses.subspaces."""
from rnnhmm.analyses import subspaces
from rnnhmm.config import derive_seed
from rnnhmm.io import job, save_analysis
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    p, stds, loc = dict(sm.params.settings), list(sm.params.noise_stds), dict(sm.params.local)
    seed = derive_seed("dynamics", "subspaces", sm.params.model, sm.params.seed)
    w = load_weights(sm.input.model, sm.params.weights)
    arrays, meta = subspaces.run(w, p, stds, loc, seed, sm.params.model, log)
    meta["provenance"] = log.provenance({**p, "noise_stds": stds, "local": loc}, seed)
    save_analysis(sm.output[0], arrays, meta)
    log(f"wrote {sm.output[0]} in {log.elapsed():.1f} s")
