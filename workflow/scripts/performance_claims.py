"""Check the paper's performance claims on every model (rows for results/claims.csv)."""
import pandas as pd

from rnnhmm.claims import COLUMNS, performance_claims
from rnnhmm.io import job_log, read_json

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    rows = performance_claims(pd.read_csv(sm.input.table, sep="\t"), [read_json(p) for p in sm.input.models])
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(sm.output[0], index=False)
    log(f"{len(df)} claims, {int(df['pass'].sum())} pass")
