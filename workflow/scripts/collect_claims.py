"""Concatenate every analysis's claim rows into results/claims.csv (with each row's model
``learned`` and ``faithful`` flags, rnnhmm.claims.learned) and summarise them per (claim, HMM family)
into results/claims_summary.csv (dynamics and mechanism claims over learned models only); the same
claims on the models' null networks go to results/claims_null.csv and into each row's null_pass."""
import pandas as pd

from rnnhmm.claims.core import model_of
from rnnhmm.claims.summary import collect_with_nulls, summarise
from rnnhmm.io import job

sm = snakemake  # noqa: F821
with job(sm) as log:
    df, nulls = collect_with_nulls([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in sm.input])
    df.to_csv(sm.output.claims, index=False)
    nulls.to_csv(sm.output.nulls, index=False)
    summary = summarise(df)
    summary.to_csv(sm.output.summary, index=False, float_format="%.4g")
    tally = df["outcome"].value_counts()
    log(f"{len(df)} claim rows: " + ", ".join(f"{k} {tally.get(k, 0)}" for k in ("pass", "fail", "n/a")))
    per_model = df.assign(mid=df["model"].map(model_of)).drop_duplicates("mid")
    per_model = per_model[per_model["learned"].ne("") | per_model["faithful"].ne("")]
    log(f"learned {int((per_model['learned'] == 'true').sum())} of {len(per_model)} models, faithful "
        f"{int((per_model['faithful'] == 'true').sum())}; dynamics / mechanism claims counted over learned models only")
    log(f"{len(nulls)} rows on null networks: " + ", ".join(f"{k} {(nulls['outcome'] == k).sum()}" for k in
                                                           ("pass", "fail", "n/a")))
    log("\n" + summary[["claim", "hmm", "counted", "pass_rate", "null_pass_rate", "n_not_learned", "n_na",
                        "value_mean", "value_sd"]].to_string(index=False))
