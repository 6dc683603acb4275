"""Render one figure from its figure-data file (restyling reruns only this)."""
from rnnhmm.figures.common import get_plotter, note_learned, save_figure
from rnnhmm.io import job, read_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    data = read_json(sm.input[0])
    fig = get_plotter(sm.params.figure)(data)
    if isinstance(data, dict):  # red: not learned; grey: learned but not faithful (rnnhmm.claims.learned)
        note_learned(fig, data.get("not_learned"), data.get("not_faithful"))
    prov = log.provenance({"figure": sm.params.figure, "figure_data": str(sm.input[0])})
    if isinstance(data, dict) and "provenance" in data:
        prov["inputs"] = data["provenance"]
    save_figure(fig, sm.output.pdf, sm.output.png, provenance=prov)
    log(f"wrote {sm.output.pdf} and {sm.output.png}")
