"""Assemble one figure's data file from cached results (see rnnhmm.figdata)."""
import time

import pandas as pd

from rnnhmm import figdata
from rnnhmm.io import job_log, provenance, read_json, write_json

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    name = sm.params.figure
    floors = {f["hmm"]: f for f in map(read_json, sm.input.floors)}
    if name == "fig1":
        data = figdata.fig1_data([read_json(p) for p in sm.input.models], floors, sm.params.label)
    elif name == "figS1":
        table = pd.read_csv(sm.input.table, sep="\t")
        sq = {m["model"]: m["transition_sq_diff"] for m in map(read_json, sm.input.models)}
        data = figdata.figS1_data(table, floors, sm.params.hmms, sq)
    else:
        raise ValueError(f"no figure-data recipe for {name}")
    data["provenance"] = provenance({"figure": name, "config": dict(sm.config)}, None, t0)
    write_json(data, sm.output[0])
    log(f"wrote {sm.output[0]}")
