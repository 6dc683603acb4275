# Included last: collects every analysis's claim rows into results/claims.csv.


rule claims:
    """One row per paper claim and model: claim, model, expected, ours, pass/fail."""
    input:
        CLAIM_FILES,
    output:
        "results/claims.csv",
    log:
        "logs/claims/all.log",
    conda:
        ENV
    script:
        "../scripts/collect_claims.py"
