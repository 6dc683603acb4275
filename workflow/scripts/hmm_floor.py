"""HMM-vs-HMM matched-distance floor (spec D.1), ``floor_repeats`` independent estimates."""
import time

import numpy as np
import torch

from rnnhmm.config import derive_seed
from rnnhmm.hmm import build_hmm, one_hot
from rnnhmm.io import job_log, provenance, write_json
from rnnhmm.metrics import matched_distances

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    name, spec, mc = sm.wildcards.hmm, dict(sm.params.spec), dict(sm.params.metrics)
    hmm = build_hmm(name, spec)
    L = spec.get("eval_seq_len", spec["seq_len"])
    seed = derive_seed("floor", name, mc["seed"])
    rng = np.random.default_rng(seed)
    means, stds = [], []
    for r in range(mc["floor_repeats"]):
        a = torch.from_numpy(one_hot(hmm.sample(mc["n_seq"], L, rng), hmm.n_outputs))
        b = torch.from_numpy(one_hot(hmm.sample(mc["n_seq"], L, rng), hmm.n_outputs))
        d = matched_distances(a, b, eps=mc["sinkhorn_eps"], max_iter=mc["max_iter"]).numpy()
        means.append(float(d.mean()))
        stds.append(float(d.std()))
        log(f"repeat {r}: {d.mean():.4f} +- {d.std():.4f}")
    write_json({
        "hmm": name, "seq_len": L, "n_seq": mc["n_seq"],
        "floor_mean": float(np.mean(means)), "floor_sd_across_repeats": float(np.std(means)),
        "floor_within_sd": float(np.mean(stds)), "repeat_means": means, "repeat_sds": stds,
        "exact": {"frequencies": hmm.output_frequencies(), "transition": hmm.output_transition_matrix(),
                  "change_probability": hmm.change_probability(), "expected_changes": hmm.expected_changes(L)},
        "provenance": provenance(mc, seed, t0),
    }, sm.output[0])
