"""KL rate of one model from its HMM in nats per step (docs/likelihood.md): adapter over
rnnhmm.evaluation.evaluate.model_likelihood."""
from rnnhmm.evaluation.evaluate import model_likelihood
from rnnhmm.io import job, write_json

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    w, lc = sm.wildcards, dict(sm.params.likelihood)
    out, seed = model_likelihood(sm.input.model, w.hmm, dict(sm.params.spec), lc, sm.params.uniform_first,
                                 w.hidden, w.input, w.seed, log)
    out["provenance"] = log.provenance(lc, seed)
    write_json(out, sm.output[0])
