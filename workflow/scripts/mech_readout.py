"""Readout-axis alignment with the orbit plane for every readout model (docs/mechanism.md E.11):
adapter over rnnhmm.analyses.readout."""
from rnnhmm.analyses import readout
from rnnhmm.io import job, write_json
from rnnhmm.model import load_weights

sm = snakemake  # noqa: F821
with job(sm, torch_threads=True) as log:
    p = dict(sm.params.readout)
    weights = [load_weights(path, sm.params.weights).double() for path in sm.input.models]
    rows = readout.run(sm.params.models, weights, sm.params.states, p, sm.params.seed, log)
    write_json({"models": rows, "readouts": [0, 2],
                "provenance": log.provenance({**p, "weights": sm.params.weights}, sm.params.seed)}, sm.output[0])
    log(f"wrote {sm.output[0]}")
