"""Readout-axis alignment with the orbit plane for every readout model (spec E.11); thin wrapper
over rnnhmm.mechanism.readout_alignment."""
import time

import torch

from rnnhmm import mechanism as mech
from rnnhmm.config import ModelSpec, derive_seed
from rnnhmm.io import job_log, provenance, write_json
from rnnhmm.model import Weights, load_weights

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, sm.threads))
    p = dict(sm.params.readout)
    rows = []
    for mid, path in zip(sm.params.models, sm.input.models):
        spec = ModelSpec.parse(mid)
        weights = Weights(*(t.double() for t in load_weights(path, sm.params.weights)))
        row = {"model": mid, "hmm": spec.hmm, "states": sm.params.states[spec.hmm], "seed": spec.seed}
        try:
            r = mech.readout_alignment(weights, n_steps=p["n_steps"], seed=derive_seed("readout", mid, sm.params.seed))
            row.update(projection=r["projection"].tolist(), angle_deg=r["angle_deg"].tolist(),
                       mean_projection=r["mean_projection"],
                       explained_variance=(100 * r["explained_variance_ratio"]).tolist(), error=None)
        except ValueError as err:  # a diverging trajectory: recorded, not fatal
            row.update(projection=None, angle_deg=None, mean_projection=None, explained_variance=None, error=str(err))
        rows.append(row)
        log(f"{mid}: mean projection {row['mean_projection']}" + (f" ({row['error']})" if row["error"] else ""))
    write_json({"models": rows, "readouts": [0, 2],
                "provenance": provenance({**p, "weights": sm.params.weights}, sm.params.seed, t0)}, sm.output[0])
    log(f"wrote {sm.output[0]}")
