"""Collect per-model metrics into one tidy table (results/metrics/summary.tsv)."""
from rnnhmm.evaluation.table import metrics_table
from rnnhmm.io import job, read_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    floors = {f["hmm"]: f for f in map(read_json, sm.input.floors)}
    kl = [read_json(p) for p in getattr(sm.input, "likelihood", [])]
    table = metrics_table([read_json(p) for p in sm.input.models], floors, kl)
    table.to_csv(sm.output[0], sep="\t", index=False, float_format="%.6g")
    log(f"{len(table)} models")
    log("\n" + table.groupby("hmm")[["distance_mean", "floor_mean", "volatility_hmm", "volatility_rnn"]]
        .mean().to_string())
