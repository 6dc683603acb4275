# Collects the claim rows of every analysis (performance_claims in metrics.smk, dynamics_claims,
# mechanism_claims) into results/claims.csv and summarises them per (claim, HMM family) over models
# and seeds (docs/claims.md).


rule claims:
    """One row per paper claim and model (outcome pass / fail / n/a, and on how many of the model's
    null networks the claim passes too), k of n models passing per (claim, HMM family), and the
    null networks' own rows."""
    input:
        paths.claims_file("performance"),
        paths.claims_file("dynamics"),
        paths.claims_file("mechanism"),
    output:
        claims=report(
            paths.CLAIMS,
            caption="../report/claims.rst",
            category="0 Claims",
            labels={"table": "claims"},
        ),
        summary=report(
            paths.CLAIMS_SUMMARY,
            caption="../report/claims_summary.rst",
            category="0 Claims",
            labels={"table": "claims summary (k of n per HMM family)"},
        ),
        nulls=paths.CLAIMS_NULL,
    log:
        paths.log_file("claims", "all"),
    localrule: True
    conda:
        ENV_PLOTS
    script:
        "../scripts/collect_claims.py"
