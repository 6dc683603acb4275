# Each paper figure: a "<fig>_data" rule that gathers cached results into one small file, and a
# target rule "<fig>" that only plots it (restyling never reruns an analysis).

CONFIG_LABEL = Path(workflow.configfiles[0]).stem if workflow.configfiles else "config"
FIG1_MODELS = config["figures"]["fig1"]["example_models"]
FIGS1_HMMS = config["figures"]["figS1"]["hmms"]
FIGURE_NAMES += ["fig1", "figS1"]
CLAIM_FILES += ["results/claims/performance.csv"]


rule performance_claims:
    """Paper claims about performance (spec G.2), checked on every model of the config."""
    input:
        table="results/metrics/summary.tsv",
        models=expand("results/metrics/models/{model}.json", model=MODEL_IDS),
    output:
        "results/claims/performance.csv",
    log:
        "logs/claims/performance.log",
    conda:
        ENV_PLOTS
    script:
        "../scripts/performance_claims.py"


rule fig1_data:
    input:
        models=expand("results/metrics/models/{model}.json", model=FIG1_MODELS),
        floors=expand(
            "results/metrics/floor/{hmm}.json",
            hmm=sorted({ModelSpec.parse(m).hmm for m in FIG1_MODELS}),
        ),
    output:
        "results/figure_data/fig1.json",
    log:
        "logs/figure_data/fig1.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig1",
        label=CONFIG_LABEL,
    script:
        "../scripts/figure_data.py"


rule figS1_data:
    input:
        table="results/metrics/summary.tsv",
        models=[
            f"results/metrics/models/{m.id}.json"
            for m in MODELS
            if m.hmm in FIGS1_HMMS
        ],
        floors=expand("results/metrics/floor/{hmm}.json", hmm=FIGS1_HMMS),
    output:
        "results/figure_data/figS1.json",
    log:
        "logs/figure_data/figS1.log",
    conda:
        ENV_PLOTS
    params:
        figure="figS1",
        hmms=FIGS1_HMMS,
    script:
        "../scripts/figure_data.py"


rule fig1:
    """Figure 1: pipeline and emission statistics of HMM vs RNN for the example models."""
    input:
        "results/figure_data/fig1.json",
    output:
        pdf="results/figures/fig1.pdf",
        png=report(
            "results/figures/fig1.png",
            caption="../report/fig1.rst",
            category="1 Performance",
            labels={"figure": "fig1"},
        ),
    log:
        "logs/figures/fig1.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig1",
    script:
        "../scripts/plot_figure.py"


rule figS1:
    """Figure S1: performance over the model grid (distances and transition-matrix errors)."""
    input:
        "results/figure_data/figS1.json",
    output:
        pdf="results/figures/figS1.pdf",
        png=report(
            "results/figures/figS1.png",
            caption="../report/figS1.rst",
            category="1 Performance",
            labels={"figure": "figS1"},
        ),
    log:
        "logs/figures/figS1.log",
    conda:
        ENV_PLOTS
    params:
        figure="figS1",
    script:
        "../scripts/plot_figure.py"
