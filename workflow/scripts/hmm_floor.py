"""HMM-vs-HMM matched-distance floor (spec D.1), ``floor_repeats`` independent estimates."""
import time

import torch

from rnnhmm.config import derive_seed
from rnnhmm.evaluation import exact_statistics, hmm_floor
from rnnhmm.hmm import build_hmm
from rnnhmm.io import job_log, provenance, write_json

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    name, spec, mc = sm.wildcards.hmm, dict(sm.params.spec), dict(sm.params.metrics)
    hmm = build_hmm(name, spec)
    L = spec.get("eval_seq_len", spec["seq_len"])
    seed = derive_seed("floor", name, mc["seed"])
    rec = hmm_floor(hmm, L, mc["n_seq"], mc["floor_repeats"], seed, mc["sinkhorn_eps"], mc["max_iter"], log=log)
    write_json({"hmm": name, **rec, "exact": exact_statistics(hmm, L), "provenance": provenance(mc, seed, t0)},
               sm.output[0])
