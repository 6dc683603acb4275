"""Calibration of the performance claims (docs/claims.md): score independent HMM samples as if they
were a trained RNN (perfect emulators) and count how often each performance claim passes.

Not a Snakemake script; run from the repository root after the small config's floor exists:
    PYTHONPATH=src python workflow/scripts/claims_calibration.py [results/metrics/floor/lin2.json] [trials]
"""
import json
import sys

import torch

from rnnhmm.claims.performance import performance_claims
from rnnhmm.evaluation.metrics import emission_statistics, matched_distances, performance_record
from rnnhmm.hmm import linear_chain, one_hot

torch.set_num_threads(1)
floor_path = sys.argv[1] if len(sys.argv) > 1 else "results/metrics/floor/lin2.json"
trials = int(sys.argv[2]) if len(sys.argv) > 2 else 12
fl = json.load(open(floor_path))
h, n, L = linear_chain(2), fl["n_seq"], fl["seq_len"]
floors = {"lin2": {"floor_mean": fl["floor_mean"], "floor_sd": fl["floor_sd_across_repeats"],
                   "floor_within_sd": fl["floor_within_sd"], "n_seq": n}}
outcomes = {}
for k in range(trials):
    ref, emu = h.sample(n, L, seed=1000 + k), h.sample(n, L, seed=2000 + k)
    a, b = torch.from_numpy(one_hot(ref, 3)), torch.from_numpy(one_hot(emu, 3))
    f, r = matched_distances(a, b).numpy(), matched_distances(b, a).numpy()
    m = {"model": f"lin2/h50_d10/s{k}", "hmm": "lin2", "input": 10, "n_seq": n, "seq_len": L,
         "distance_mean": float(f.mean()), "distance_sd": float(f.std()), "reverse_distance_mean": float(r.mean()),
         "rnn_stats": emission_statistics(emu, 3),
         "performance": performance_record(emu, h, repeats=200, seed=3000 + k)}
    for row in performance_claims([m], floors):
        outcomes.setdefault(row["claim"], []).append(row["outcome"])
    print(k, {c: v[-1] for c, v in outcomes.items()}, flush=True)
print({c: f"{sum(o == 'pass' for o in v)} of {len(v)} pass" for c, v in outcomes.items()})
