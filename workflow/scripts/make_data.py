"""Sample one HMM's train/validation/test sequences (thin wrapper over rnnhmm.hmm)."""
import time

import numpy as np

from rnnhmm.config import derive_seed
from rnnhmm.hmm import build_hmm
from rnnhmm.io import job_log, provenance

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    name, seed = sm.wildcards.hmm, int(sm.wildcards.seed)
    spec = dict(sm.params.spec)
    hmm = build_hmm(name, spec)
    n = int(sm.params.num_seq)
    rng_seed = derive_seed("data", name, seed)
    obs = hmm.sample(n, spec["seq_len"], seed=rng_seed)
    third = n // 3
    np.savez_compressed(
        sm.output[0],
        train=obs[:third], val=obs[third:2 * third], test=obs[2 * third:],
        transition=hmm.transition, emission=hmm.emission, start=hmm.start,
        provenance=np.array(__import__("json").dumps(provenance(
            {"hmm": name, "spec": spec, "num_seq": n}, rng_seed, t0))),
    )
    log(f"{name} seed {seed}: {n} sequences of length {spec['seq_len']} "
        f"(train {third}, val {third}, test {n - 2 * third}); "
        f"change rate {np.mean(obs[:, 1:] != obs[:, :-1]):.4f} vs exact {hmm.change_probability():.4f}")
