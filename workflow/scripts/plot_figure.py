"""Render one figure from its figure-data file (restyling reruns only this)."""
from rnnhmm.io import job_log, read_json
from rnnhmm.plotting import get_plotter, save_figure

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    fig = get_plotter(sm.params.figure)(read_json(sm.input[0]))
    save_figure(fig, sm.output.pdf, sm.output.png)
    log(f"wrote {sm.output.pdf} and {sm.output.png}")
