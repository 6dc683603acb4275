# Null networks (rnnhmm.analyses.nulls, docs/claims.md "Null networks"): for every model of the
# dynamics and mechanism claims, networks without the mechanism that the same analyses and claims
# run on. A null's id is its model's with "-null-<kind>" after the seed (config.nulls.kinds), so
# every per-model analysis rule serves it unchanged; only its model files come from here.


rule null_model:
    """One null network of a trained model: its plateau snapshot, or its recurrent weights shuffled
    within rows (the same shuffle on every evolution snapshot)."""
    input:
        model=paths.model_file("model.pt"),
        evolution=paths.model_file("evolution.pt"),
    output:
        model=paths.model_file("model.pt", paths.NULL_MODEL),
        evolution=paths.model_file("evolution.pt", paths.NULL_MODEL),
    log:
        paths.log_file("nulls", paths.NULL_MODEL),
    wildcard_constraints:
        seed="[0-9]+",
        kind="[a-z]+",
    conda:
        ENV
    params:
        model=lambda w: spec_of(w).id,
        seed=lambda w: derive_seed(
            "null", w.kind, spec_of(w).base.id, config["nulls"]["seed"]
        ),
    script:
        "../scripts/null_model.py"
