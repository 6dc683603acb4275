# Included last: collects every analysis's claim rows into results/claims.csv.


rule claims:
    """One row per paper claim and model: claim, model, expected, ours, pass/fail."""
    input:
        CLAIM_FILES,
    output:
        report(
            "results/claims.csv",
            caption="../report/claims.rst",
            category="0 Claims",
            labels={"table": "claims"},
        ),
    log:
        "logs/claims/all.log",
    conda:
        ENV_PLOTS
    script:
        "../scripts/collect_claims.py"
