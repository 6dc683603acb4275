"""Concatenate every analysis's claim rows into results/claims.csv (with each row's model
``converged`` flag) and summarise them per (claim, HMM family) into results/claims_summary.csv."""
import pandas as pd

from rnnhmm.claims.summary import collect, summarise
from rnnhmm.io import job

sm = snakemake  # noqa: F821
with job(sm) as log:
    df = collect([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in sm.input])
    df.to_csv(sm.output.claims, index=False)
    summary = summarise(df)
    summary.to_csv(sm.output.summary, index=False, float_format="%.4g")
    tally = df["outcome"].value_counts()
    log(f"{len(df)} claim rows: " + ", ".join(f"{k} {tally.get(k, 0)}" for k in ("pass", "fail", "n/a")))
    log("\n" + summary[["claim", "hmm", "pass_rate", "n_na", "value_mean", "value_sd"]].to_string(index=False))
