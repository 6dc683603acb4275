"""Render one figure from its figure-data file (restyling reruns only this)."""
import time

from rnnhmm.io import job_log, provenance, read_json
from rnnhmm.plotting import get_plotter, save_figure

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    t0 = time.perf_counter()
    data = read_json(sm.input[0])
    fig = get_plotter(sm.params.figure)(data)
    prov = provenance({"figure": sm.params.figure, "figure_data": str(sm.input[0])}, None, t0)
    if isinstance(data, dict) and "provenance" in data:
        prov["inputs"] = data["provenance"]
    save_figure(fig, sm.output.pdf, sm.output.png, provenance=prov)
    log(f"wrote {sm.output.pdf} and {sm.output.png}")
