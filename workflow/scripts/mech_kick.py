"""Kick neurons, integrating populations, weight blocks, pre-activation maps and mean activities of
every kick model (docs/dynamics.md E.6, E.8): adapter over rnnhmm.analyses.kick."""
import time

from rnnhmm.analyses import kick
from rnnhmm.config import derive_seed
from rnnhmm.io import job, provenance, write_json
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    p = dict(sm.params.kick)
    for model, path, out_path in zip(sm.params.models, sm.input.models, sm.output):
        t0, seed = time.perf_counter(), derive_seed("kick", model, sm.params.seed)
        out = kick.run(load_weights(path, sm.params.weights).double(), p, seed, model, log)
        out["provenance"] = provenance({**p, "weights": sm.params.weights}, seed, t0)
        write_json(out, out_path)
        log(f"wrote {out_path} in {time.perf_counter() - t0:.1f} s")
