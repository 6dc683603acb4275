"""Calibration of the performance claims (docs/claims.md): score independent HMM samples as if they
were a trained RNN (perfect emulators) and count how often each performance claim passes.

Not a Snakemake script; run from the repository root after the small config's floor exists:
    PYTHONPATH=src python workflow/scripts/claims_calibration.py [results/metrics/floor/lin2.json] [trials]
"""
import sys

from rnnhmm.evaluation.evaluate import calibrate_performance_claims
from rnnhmm.io import read_json
from rnnhmm.paths import floor_file
from rnnhmm.threads import set_threads

set_threads(1)
floor_path = sys.argv[1] if len(sys.argv) > 1 else floor_file("lin2")
trials = int(sys.argv[2]) if len(sys.argv) > 2 else 12
outcomes = calibrate_performance_claims(read_json(floor_path), trials, log=lambda m: print(m, flush=True))
print({c: f"{sum(o == 'pass' for o in v)} of {len(v)} pass" for c, v in outcomes.items()})
