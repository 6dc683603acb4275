"""Check the paper's mechanism claims (rows for results/claims.csv); see rnnhmm.mechanism_claims."""
import pandas as pd

from rnnhmm.claims import COLUMNS
from rnnhmm.config import derive_seed
from rnnhmm.dynamics_claims import switch_reference
from rnnhmm.hmm import build_hmm
from rnnhmm.io import job_log, read_json
from rnnhmm.mechanism_claims import mechanism_claims

sm = snakemake  # noqa: F821
with job_log(sm.log[0]) as log:
    evolution = [read_json(p) for p in sm.input.evolution]
    # the HMM's sampled output change rate over runs as long as the evolution runs (same statistic)
    refs = {}
    for ev in evolution:
        h = ev["hmm"]
        refs[h] = switch_reference(build_hmm(h, sm.params.hmm_specs[h]), int(ev.get("T", sm.params.evolution_T)),
                                   seed=derive_seed("change-reference", h))
        log(f"{h}: change rate over {refs[h]['steps']} steps {refs[h]['mean']:.4f} ± {refs[h]['sd']:.4f}")
    rows = mechanism_claims([read_json(p) for p in sm.input.kick], read_json(sm.input.interventions),
                            evolution, read_json(sm.input.readout), refs)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.to_csv(sm.output[0], index=False)
    for r in rows:
        log(f"{r['outcome'].upper()} {r['claim']} [{r['model']}]: expected {r['expected']}; ours {r['ours']}"
            + (f"; n/a: {r['reason']}" if r["reason"] else ""))
    log(f"{len(df)} claims: " + ", ".join(f"{k} {v}" for k, v in df["outcome"].value_counts().items()))
