rule hmm_floor:
    """HMM-vs-HMM matched distance (the noise floor of the metric), repeated on fresh samples."""
    output:
        paths.floor_file(),
    log:
        paths.log_file("metrics", "floor", "{hmm}"),
    conda:
        ENV
    params:
        spec=hmm_spec,
        metrics=config["metrics"],
    script:
        "../scripts/hmm_floor.py"


rule model_metrics:
    """Emission statistics and matched distance of one trained model against its HMM."""
    input:
        model=paths.model_file("model.pt"),
    output:
        paths.metrics_file(),
    log:
        paths.log_file("metrics", "models", paths.MODEL),
    conda:
        ENV
    params:
        spec=hmm_spec,
        metrics=config["metrics"],
    script:
        "../scripts/model_metrics.py"


rule model_likelihood:
    """KL rate of one model from its HMM in nats per step, by a particle filter (docs/likelihood.md)."""
    input:
        model=paths.model_file("model.pt"),
    output:
        paths.likelihood_file(),
    log:
        paths.log_file("metrics", "likelihood", paths.MODEL),
    conda:
        ENV
    params:
        spec=hmm_spec,
        likelihood={
            "weights": config["metrics"]["weights"],
            **config["likelihood"],
        },
        uniform_first=config["metrics"]["uniform_first_symbol"],
    script:
        "../scripts/model_likelihood.py"


rule metrics_table:
    """One tidy table over every model of the config (one row per model)."""
    input:
        models=[paths.metrics_file(m) for m in MODEL_IDS],
        floors=[paths.floor_file(h) for h in HMM_NAMES],
        likelihood=LIKELIHOOD_FILES,
    output:
        report(
            paths.SUMMARY_TABLE,
            caption="../report/summary.rst",
            category="1 Performance",
            labels={"table": "metrics of every model"},
        ),
    log:
        paths.log_file("metrics", "summary"),
    localrule: True
    conda:
        ENV_PLOTS
    script:
        "../scripts/metrics_table.py"


rule model_diagnostics:
    """Per-model diagnostic pages (loss curves, HMM-vs-RNN statistics), all in one cheap job."""
    input:
        losses=[paths.model_file("losses.tsv", m) for m in MODEL_IDS],
        metrics=[paths.metrics_file(m) for m in MODEL_IDS],
        floors=[paths.floor_file(h) for h in HMM_NAMES],
    output:
        [
            report(
                paths.diagnostics_file(m),
                caption="../report/diagnostics.rst",
                category="9 Per-model diagnostics",
                labels={"model": m},
            )
            for m in MODEL_IDS
        ],
    log:
        paths.log_file("diagnostics"),
    localrule: True
    conda:
        ENV_PLOTS
    script:
        "../scripts/diagnostics.py"


rule performance_claims:
    """Paper claims about performance (docs/claims.md), checked on every model of the config."""
    input:
        table=paths.SUMMARY_TABLE,
        models=[paths.metrics_file(m) for m in MODEL_IDS],
    output:
        paths.claims_file("performance"),
    log:
        paths.log_file("claims", "performance"),
    localrule: True
    conda:
        ENV_PLOTS
    script:
        "../scripts/performance_claims.py"
