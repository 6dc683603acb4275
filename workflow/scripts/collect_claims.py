"""Concatenate every analysis's claim rows into results/claims.csv."""
import pandas as pd

from rnnhmm.claims import collect
from rnnhmm.io import job_log

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    df = collect([pd.read_csv(p) for p in sm.input])
    df.to_csv(sm.output[0], index=False)
    summary = df.groupby("claim")["pass"].agg(["sum", "count"])
    log("claims passing (pass / checked):\n" + summary.to_string())
