"""Sample one HMM's train/validation/test sequences (thin wrapper over rnnhmm.hmm)."""
import json

import numpy as np

from rnnhmm.config import derive_seed
from rnnhmm.hmm import build_hmm
from rnnhmm.io import job

sm = snakemake  # noqa: F821
with job(sm) as log:
    name, seed, spec, n = sm.wildcards.hmm, int(sm.wildcards.seed), dict(sm.params.spec), int(sm.params.num_seq)
    hmm = build_hmm(name, spec)
    rng_seed = derive_seed("data", name, seed)
    obs, third = hmm.sample(n, spec["seq_len"], seed=rng_seed), n // 3
    prov = log.provenance({"hmm": name, "spec": spec, "num_seq": n}, rng_seed)
    np.savez_compressed(sm.output[0], train=obs[:third], val=obs[third:2 * third], test=obs[2 * third:],
                        transition=hmm.transition, emission=hmm.emission, start=hmm.start,
                        provenance=np.array(json.dumps(prov)))
    log(f"{name} seed {seed}: {n} sequences of length {spec['seq_len']} (train {third}, val {third}, "
        f"test {n - 2 * third}); change rate {np.mean(obs[:, 1:] != obs[:, :-1]):.4f} "
        f"vs exact {hmm.change_probability():.4f}")
