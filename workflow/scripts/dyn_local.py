"""Local dynamics of one model (docs/dynamics.md E.6): adapter over rnnhmm.analyses.local."""
from rnnhmm.analyses import local
from rnnhmm.config import derive_seed
from rnnhmm.io import job, save_analysis
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    p, model = dict(sm.params.settings), sm.params.model
    seed = derive_seed("dynamics", "local", model, sm.params.seed)
    w = load_weights(sm.input.model, sm.params.weights)
    arrays, meta = local.run(w, p, seed, sm.params.steps, model, log)
    meta["provenance"] = log.provenance(p, seed)
    save_analysis(sm.output[0], arrays, meta)
    log(f"wrote {sm.output[0]} in {log.elapsed():.1f} s")
