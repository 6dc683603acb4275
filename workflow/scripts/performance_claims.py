"""Check the paper's performance claims on every model (rows for results/claims.csv)."""
import pandas as pd

from rnnhmm.claims import COLUMNS, performance_claims
from rnnhmm.io import job_log, read_json

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    table = pd.read_csv(sm.input.table, sep="\t")
    floors = {r["hmm"]: {"floor_mean": r["floor_mean"], "floor_sd": r["floor_sd"],
                         "floor_within_sd": r["floor_within_sd"], "n_seq": r["n_seq"]}
              for _, r in table.drop_duplicates("hmm").iterrows()}
    rows = performance_claims([read_json(p) for p in sm.input.models], floors)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(sm.output[0], index=False)
    for r in rows:
        log(f"{r['outcome'].upper()} {r['claim']} [{r['model']}]: expected {r['expected']}; ours {r['ours']}")
    log(f"{len(df)} claims: " + ", ".join(f"{k} {v}" for k, v in df["outcome"].value_counts().items()))
