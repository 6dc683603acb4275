"""Check the paper's dynamics claims on every analysed model (rows for results/claims.csv)."""
from rnnhmm.claims import dynamics
from rnnhmm.claims.core import write_rows
from rnnhmm.io import job

sm = snakemake  # noqa: F821
with job(sm) as log:
    P = sm.params
    rows = dynamics.from_files(dict(zip(P.state_space_models, sm.input.state_space)),
                               dict(zip(P.models, sm.input.local)), dict(zip(P.models, sm.input.noise)),
                               dict(zip(P.fig8_models, sm.input.subspaces)),
                               P.hmm_specs, P.switch_steps, P.tolerances, log)
    write_rows(rows, sm.output[0], log)
