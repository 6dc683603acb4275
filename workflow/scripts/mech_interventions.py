"""Causal interventions on the single model (docs/mechanism.md E.9): adapter over rnnhmm.analyses.interventions."""
from rnnhmm.analyses import interventions
from rnnhmm.config import derive_seed
from rnnhmm.io import job, read_json, write_json
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    p, model = dict(sm.params.interventions), sm.params.model
    weights = load_weights(sm.input.model, sm.params.weights).double()
    seed = derive_seed("interventions", model, sm.params.seed)
    out = interventions.run(weights, read_json(sm.input.kick), p, seed, model, log)
    out["provenance"] = log.provenance({**p, "weights": sm.params.weights}, seed)
    write_json(out, sm.output[0])
    log(f"wrote {sm.output[0]} in {log.elapsed():.1f} s")
