"""Emission statistics and matched distance of one model against fresh HMM samples (docs/claims.md D):
adapter over rnnhmm.evaluation.evaluate.model_metrics."""
from rnnhmm.evaluation.evaluate import model_metrics
from rnnhmm.io import job, write_json

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    w, mc = sm.wildcards, dict(sm.params.metrics)
    out, seed = model_metrics(sm.input.model, w.hmm, dict(sm.params.spec), mc, w.hidden, w.input, w.seed, log)
    out["provenance"] = log.provenance(mc, seed)
    write_json(out, sm.output[0])
