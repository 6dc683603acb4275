"""Check the paper's performance claims on every model (rows for results/claims.csv)."""
import pandas as pd

from rnnhmm.claims.core import write_rows
from rnnhmm.claims.performance import performance_claims
from rnnhmm.io import job, read_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    table = pd.read_csv(sm.input.table, sep="\t")
    floors = {r["hmm"]: {"floor_mean": r["floor_mean"], "floor_sd": r["floor_sd"],
                         "floor_within_sd": r["floor_within_sd"], "n_seq": r["n_seq"]}
              for _, r in table.drop_duplicates("hmm").iterrows()}
    write_rows(performance_claims([read_json(p) for p in sm.input.models], floors), sm.output[0], log)
