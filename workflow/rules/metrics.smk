rule hmm_floor:
    """HMM-vs-HMM matched distance (the noise floor of the metric), repeated on fresh samples."""
    output:
        "results/metrics/floor/{hmm}.json",
    log:
        "logs/metrics/floor/{hmm}.log",
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
        model="results/models/{hmm}/h{hidden}_d{input}/s{seed}/model.pt",
    output:
        "results/metrics/models/{hmm}/h{hidden}_d{input}/s{seed}.json",
    log:
        "logs/metrics/models/{hmm}/h{hidden}_d{input}/s{seed}.log",
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
        model="results/models/{hmm}/h{hidden}_d{input}/s{seed}/model.pt",
    output:
        "results/metrics/likelihood/{hmm}/h{hidden}_d{input}/s{seed}.json",
    log:
        "logs/metrics/likelihood/{hmm}/h{hidden}_d{input}/s{seed}.log",
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
        models=expand("results/metrics/models/{model}.json", model=MODEL_IDS),
        floors=expand("results/metrics/floor/{hmm}.json", hmm=HMM_NAMES),
        likelihood=LIKELIHOOD_FILES,
    output:
        report(
            "results/metrics/summary.tsv",
            caption="../report/summary.rst",
            category="1 Performance",
            labels={"table": "metrics of every model"},
        ),
    log:
        "logs/metrics/summary.log",
    localrule: True
    conda:
        ENV_PLOTS
    script:
        "../scripts/metrics_table.py"


rule model_diagnostics:
    """Per-model diagnostic pages (loss curves, HMM-vs-RNN statistics), all in one cheap job."""
    input:
        losses=expand("results/models/{model}/losses.tsv", model=MODEL_IDS),
        metrics=expand("results/metrics/models/{model}.json", model=MODEL_IDS),
        floors=expand("results/metrics/floor/{hmm}.json", hmm=HMM_NAMES),
    output:
        [
            report(
                f"results/diagnostics/{m}.png",
                caption="../report/diagnostics.rst",
                category="9 Per-model diagnostics",
                labels={"model": m},
            )
            for m in MODEL_IDS
        ],
    log:
        "logs/diagnostics.log",
    localrule: True
    conda:
        ENV_PLOTS
    script:
        "../scripts/diagnostics.py"


rule performance_claims:
    """Paper claims about performance (docs/claims.md), checked on every model of the config."""
    input:
        table="results/metrics/summary.tsv",
        models=expand("results/metrics/models/{model}.json", model=MODEL_IDS),
    output:
        "results/claims/performance.csv",
    log:
        "logs/claims/performance.log",
    localrule: True
    conda:
        ENV_PLOTS
    script:
        "../scripts/performance_claims.py"
