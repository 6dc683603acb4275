# Collects the claim rows of every analysis (performance_claims in metrics.smk, dynamics_claims,
# mechanism_claims) into results/claims.csv and summarises them per (claim, HMM family) over models
# and seeds (docs/claims.md).


rule claims:
    """One row per paper claim and model (outcome pass / fail / n/a, and on how many of the model's
    null networks the claim passes too), k of n models passing per (claim, HMM family), and the
    null networks' own rows."""
    input:
        "results/claims/performance.csv",
        "results/claims/dynamics.csv",
        "results/claims/mechanism.csv",
    output:
        claims=report(
            "results/claims.csv",
            caption="../report/claims.rst",
            category="0 Claims",
            labels={"table": "claims"},
        ),
        summary=report(
            "results/claims_summary.csv",
            caption="../report/claims_summary.rst",
            category="0 Claims",
            labels={"table": "claims summary (k of n per HMM family)"},
        ),
        nulls="results/claims_null.csv",
    log:
        "logs/claims/all.log",
    localrule: True
    conda:
        ENV_PLOTS
    script:
        "../scripts/collect_claims.py"
