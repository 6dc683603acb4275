"""Check the paper's performance claims on every model (rows for results/claims.csv), each row
carrying its model's ``learned`` flag from results/metrics/summary.tsv (rnnhmm.claims.learned)."""
import pandas as pd

from rnnhmm.claims.core import write_rows
from rnnhmm.claims.performance import kl_claim, performance_claims
from rnnhmm.claims.summary import read_flag
from rnnhmm.io import job, read_json

sm = snakemake  # noqa: F821
with job(sm) as log:
    table = pd.read_csv(sm.input.table, sep="\t")
    floors = {r["hmm"]: {"floor_mean": r["floor_mean"], "floor_sd": r["floor_sd"],
                         "floor_within_sd": r["floor_within_sd"], "n_seq": r["n_seq"]}
              for _, r in table.drop_duplicates("hmm").iterrows()}
    learned = {r["model"]: read_flag(r["learned"]) for _, r in table.iterrows()}
    rows = performance_claims([read_json(p) for p in sm.input.models], floors)
    # the KL claim from the table's kl_* columns (n/a where the config computes no KL rate)
    rows += [kl_claim(r) for r in table.to_dict("records")]
    for r in rows:
        r["learned"] = learned.get(r["model"])
    write_rows(rows, sm.output[0], log)
    for mid, v in sorted(learned.items()):
        why = table.loc[table["model"] == mid, "learned_why"].fillna("").iloc[0]
        log(f"{mid}: learned {v}" + (f" ({why})" if why else ""))
