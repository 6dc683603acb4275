"""Check the paper's mechanism claims (rows for results/claims.csv); see rnnhmm.claims.mechanism."""
from rnnhmm.claims import mechanism
from rnnhmm.claims.core import write_rows
from rnnhmm.io import job

sm = snakemake  # noqa: F821
with job(sm) as log:
    rows = mechanism.from_files(sm.input.kick, sm.input.interventions, sm.input.evolution, sm.input.readout,
                                sm.params.hmm_specs, sm.params.evolution_T, log)
    rows = mechanism.no_history_claims(rows, sm.input.evolution)  # models trained elsewhere: no loss curve -> n/a
    write_rows(rows, sm.output[0], log, reasons=True)
