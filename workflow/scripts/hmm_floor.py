"""HMM-vs-HMM matched-distance floor (docs/claims.md D.1), ``floor_repeats`` independent estimates."""
from rnnhmm.config import derive_seed
from rnnhmm.evaluation.evaluate import exact_statistics, hmm_floor
from rnnhmm.hmm import build_hmm
from rnnhmm.io import job, write_json

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    name, spec, mc = sm.wildcards.hmm, dict(sm.params.spec), dict(sm.params.metrics)
    hmm = build_hmm(name, spec)
    L = spec.get("eval_seq_len", spec["seq_len"])
    seed = derive_seed("floor", name, mc["seed"])
    rec = hmm_floor(hmm, L, mc["n_seq"], mc["floor_repeats"], seed, mc["sinkhorn_eps"], mc["max_iter"], log=log)
    write_json({"hmm": name, **rec, "exact": exact_statistics(hmm, L), "provenance": log.provenance(mc, seed)},
               sm.output[0])
