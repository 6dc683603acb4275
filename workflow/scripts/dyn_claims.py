"""Check the paper's dynamics claims on every analysed model (rows for results/claims.csv)."""
import pandas as pd

from rnnhmm.claims import COLUMNS
from rnnhmm.dynamics_claims import dynamics_claims, load_analysis
from rnnhmm.io import job_log

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    P = sm.params

    def by_model(models, paths):
        return {m: load_analysis(p) for m, p in zip(models, paths)}

    rows = dynamics_claims(by_model(P.state_space_models, sm.input.state_space), by_model(P.models, sm.input.local),
                           by_model(P.models, sm.input.noise), by_model(P.fig8_models, sm.input.subspaces),
                           P.change_probability, P.tolerances)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(sm.output[0], index=False)
    log(f"{len(df)} claims, {int(df['pass'].sum())} pass")
    log("\n" + df.groupby("claim")["pass"].agg(["sum", "count"]).to_string())
