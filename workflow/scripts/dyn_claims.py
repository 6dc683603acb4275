"""Check the paper's dynamics claims on every analysed model (rows for results/claims.csv)."""
import pandas as pd

from rnnhmm.claims import COLUMNS
from rnnhmm.config import derive_seed
from rnnhmm.dynamics_claims import dynamics_claims, load_analysis, switch_reference
from rnnhmm.hmm import build_hmm
from rnnhmm.io import job_log

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    P = sm.params

    def by_model(models, paths):
        return {m: load_analysis(p) for m, p in zip(models, paths)}

    # the HMM's output change rate over runs as long as the RNN's (orbit_switch_rate), with its spread
    refs = {h: switch_reference(build_hmm(h, spec), P.switch_steps, seed=derive_seed("switch-reference", h))
            for h, spec in P.hmm_specs.items()}
    for h, r in refs.items():
        log(f"{h}: change rate over {r['steps']} steps {r['mean']:.4f} ± {r['sd']:.4f} (SD of {r['repeats']} HMM runs)")
    rows = dynamics_claims(by_model(P.state_space_models, sm.input.state_space), by_model(P.models, sm.input.local),
                           by_model(P.models, sm.input.noise), by_model(P.fig8_models, sm.input.subspaces),
                           refs, P.tolerances)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(sm.output[0], index=False)
    for r in rows:
        log(f"{r['outcome'].upper()} {r['claim']} [{r['model']}]: expected {r['expected']}; ours {r['ours']}")
    log(f"{len(df)} claims: " + ", ".join(f"{k} {v}" for k, v in df["outcome"].value_counts().items()))
