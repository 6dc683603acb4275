"""Per-model diagnostic figures (loss curves + emission statistics), one PNG per model."""
from pathlib import Path

import pandas as pd

from rnnhmm.io import job_log, read_json
from rnnhmm.plotting import plot_diagnostics, save_figure

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    floors = {f["hmm"]: f for f in map(read_json, sm.input.floors)}
    for losses, metrics, out in zip(sm.input.losses, sm.input.metrics, sm.output):
        data = read_json(metrics)
        data["losses"] = pd.read_csv(losses, sep="\t").to_dict(orient="list")
        data["floor_mean"] = floors[data["hmm"]]["floor_mean"]
        data["floor_within_sd"] = floors[data["hmm"]]["floor_within_sd"]
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        save_figure(plot_diagnostics(data), out, dpi=100)
        log(f"wrote {out}")
