"""Check the paper's mechanism claims (rows for results/claims.csv); see rnnhmm.mechanism_claims."""
import pandas as pd

from rnnhmm.claims import COLUMNS
from rnnhmm.io import job_log, read_json
from rnnhmm.mechanism_claims import mechanism_claims

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    rows = mechanism_claims([read_json(p) for p in sm.input.kick], read_json(sm.input.interventions),
                            [read_json(p) for p in sm.input.evolution], read_json(sm.input.readout),
                            dict(sm.params.change_probability))
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(sm.output[0], index=False)
    for r in rows:
        log(f"{'PASS' if r['pass'] else 'FAIL'} {r['claim']} [{r['model']}]: expected {r['expected']}; ours {r['ours']}")
    log(f"{len(df)} claims, {int(df['pass'].sum())} pass")
