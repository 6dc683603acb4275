# Dynamics analyses (issue 3): state space, fixed points, local dynamics, noise sensitivity.
# One cached analysis per model and analysis (results/analysis/<analysis>/{model}.npz), then a
# small figure-data JSON per figure, then the plot. Settings: config.dynamics (schema:
# workflow/schemas/dynamics.section.schema.yaml).
from rnnhmm.plan import check_dynamics_config, dynamics_models  # noqa: E402
from rnnhmm.hmm import build_hmm  # noqa: E402
from rnnhmm.config import analysis_settings  # noqa: E402

try:
    check_dynamics_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

DYN = config["dynamics"]
DYN_SETS = dynamics_models(config)
DYN_MODELS = DYN_SETS["models"]  # figures 2, 3, 4
DYN_FIG8 = DYN_SETS["fig8_models"]  # figure 8
DYN_GRID = DYN_SETS["grid"]  # figure S2
DYN_STATE_SPACE = DYN_SETS["state_space"]
DYN_CHANGE_PROB = {
    h: build_hmm(h, s).change_probability() for h, s in config["hmms"].items()
}
DYN_MODEL_PATH = "{hmm}/h{hidden}_d{input}/s{seed}"
FIGURE_NAMES += ["fig2", "fig3", "fig4", "fig8", "figS2"]
CLAIM_FILES += ["results/claims/dynamics.csv"]


# Analysis files per model list, and the metrics of every seed of the fig8 configurations.
DYN_FILES = {
    (analysis, key): [f"results/analysis/{analysis}/{m}.npz" for m in DYN_SETS[key]]
    for analysis in ("state_space", "local", "noise", "subspaces")
    for key in DYN_SETS
}
DYN_FIG8_CONFS = {(s.hmm, s.hidden, s.input) for s in map(ModelSpec.parse, DYN_FIG8)}
DYN_FIG8_METRICS = [
    f"results/metrics/models/{m.id}.json"
    for m in MODELS
    if (m.hmm, m.hidden, m.input) in DYN_FIG8_CONFS
]


rule dyn_state_space:
    """Global dynamics of one model (spec E.1-E.4): PCA, input-free trajectories, fixed and slow
    points, trajectories with input, orbit spread vs noise std."""
    input:
        model=f"results/models/{DYN_MODEL_PATH}/model.pt",
    output:
        f"results/analysis/state_space/{DYN_MODEL_PATH}.npz",
    log:
        f"logs/analysis/state_space/{DYN_MODEL_PATH}.log",
    conda:
        ENV
    threads: 1
    params:
        model=lambda w: spec_of(w).id,
        settings=analysis_settings(config, "dynamics", "state_space"),
        seed=DYN["seed"],
        weights=config["metrics"]["weights"],
    script:
        "../scripts/dyn_state_space.py"


rule dyn_local:
    """Local dynamics of one model (spec E.6): residency time, sign changes, unstable eigenvalues."""
    input:
        model=f"results/models/{DYN_MODEL_PATH}/model.pt",
    output:
        f"results/analysis/local/{DYN_MODEL_PATH}.npz",
    log:
        f"logs/analysis/local/{DYN_MODEL_PATH}.log",
    conda:
        ENV
    threads: 2
    params:
        model=lambda w: spec_of(w).id,
        settings=DYN["local"],
        steps=lambda w: DYN["local"]["steps_per_hmm"].get(w.hmm, DYN["local"]["steps"]),
        seed=DYN["seed"],
        weights=config["metrics"]["weights"],
    script:
        "../scripts/dyn_local.py"


rule dyn_noise:
    """Noise sensitivity of one model (spec E.7); records 'not found' instead of failing."""
    input:
        model=f"results/models/{DYN_MODEL_PATH}/model.pt",
    output:
        f"results/analysis/noise/{DYN_MODEL_PATH}.npz",
    log:
        f"logs/analysis/noise/{DYN_MODEL_PATH}.log",
    conda:
        ENV
    threads: 1
    params:
        model=lambda w: spec_of(w).id,
        settings=analysis_settings(config, "dynamics", "noise"),
        seed=DYN["seed"],
        weights=config["metrics"]["weights"],
    script:
        "../scripts/dyn_noise.py"


rule dyn_subspaces:
    """Output-pair subspaces, their noise contours and subspace residency (spec E.5, E.6)."""
    input:
        model=f"results/models/{DYN_MODEL_PATH}/model.pt",
    output:
        f"results/analysis/subspaces/{DYN_MODEL_PATH}.npz",
    log:
        f"logs/analysis/subspaces/{DYN_MODEL_PATH}.log",
    conda:
        ENV
    threads: 2
    params:
        model=lambda w: spec_of(w).id,
        settings=analysis_settings(config, "dynamics", "subspaces"),
        noise_stds=DYN["state_space"]["noise_stds"],
        local={k: DYN["local"][k] for k in ("warmup", "rollouts", "max_steps")},
        seed=DYN["seed"],
        weights=config["metrics"]["weights"],
    script:
        "../scripts/dyn_subspaces.py"


rule dynamics_claims:
    """Paper claims about the dynamics (spec G.1, G.4), one row per claim and model."""
    input:
        state_space=DYN_FILES["state_space", "state_space"],
        local=DYN_FILES["local", "models"],
        noise=DYN_FILES["noise", "models"],
        subspaces=DYN_FILES["subspaces", "fig8_models"],
    output:
        "results/claims/dynamics.csv",
    log:
        "logs/claims/dynamics.log",
    conda:
        ENV_PLOTS
    params:
        state_space_models=DYN_STATE_SPACE,
        models=DYN_MODELS,
        fig8_models=DYN_FIG8,
        hmm_specs={
            h: config["hmms"][h]
            for h in sorted({ModelSpec.parse(m).hmm for m in DYN_STATE_SPACE})
        },
        switch_steps=DYN["state_space"]["pca_steps"],
        tolerances=DYN["claims"],
    script:
        "../scripts/dyn_claims.py"


rule fig2_data:
    input:
        state_space=DYN_FILES["state_space", "models"],
    output:
        "results/figure_data/fig2.json",
    log:
        "logs/figure_data/fig2.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig2",
        models=DYN_MODELS,
        change_probability=DYN_CHANGE_PROB,
        plot_points=DYN["state_space"]["plot_points"],
    script:
        "../scripts/dyn_figure_data.py"


rule fig3_data:
    input:
        local=DYN_FILES["local", "models"],
    output:
        "results/figure_data/fig3.json",
    log:
        "logs/figure_data/fig3.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig3",
        models=DYN_MODELS,
    script:
        "../scripts/dyn_figure_data.py"


rule fig4_data:
    input:
        noise=DYN_FILES["noise", "models"],
    output:
        "results/figure_data/fig4.json",
    log:
        "logs/figure_data/fig4.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig4",
        models=DYN_MODELS,
        plot_trajectories=DYN["noise"]["plot_trajectories"],
    script:
        "../scripts/dyn_figure_data.py"


rule fig8_data:
    input:
        state_space=DYN_FILES["state_space", "fig8_models"],
        subspaces=DYN_FILES["subspaces", "fig8_models"],
        metrics=DYN_FIG8_METRICS,
        floors=expand(
            "results/metrics/floor/{hmm}.json",
            hmm=sorted({ModelSpec.parse(m).hmm for m in DYN_FIG8}),
        ),
    output:
        "results/figure_data/fig8.json",
    log:
        "logs/figure_data/fig8.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig8",
        models=DYN_FIG8,
        plot_points=DYN["state_space"]["plot_points"],
        runs_shown=DYN["subspaces"]["runs_shown"],
        run_points=DYN["subspaces"]["run_points"],
    script:
        "../scripts/dyn_figure_data.py"


rule figS2_data:
    input:
        state_space=DYN_FILES["state_space", "grid"],
    output:
        "results/figure_data/figS2.json",
    log:
        "logs/figure_data/figS2.log",
    conda:
        ENV_PLOTS
    params:
        figure="figS2",
        models=DYN_GRID,
        change_probability=DYN_CHANGE_PROB,
        plot_points=DYN["state_space"]["plot_points"],
    script:
        "../scripts/dyn_figure_data.py"


rule fig2:
    """Figure 2: global dynamics (fixed point without input, orbits with input, contours vs noise std)."""
    input:
        "results/figure_data/fig2.json",
    output:
        pdf="results/figures/fig2.pdf",
        png=report(
            "results/figures/fig2.png",
            caption="../report/fig2.rst",
            category="2 Global dynamics",
            labels={"figure": "fig2"},
        ),
    log:
        "logs/figures/fig2.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig2",
    script:
        "../scripts/plot_figure.py"


rule fig3:
    """Figure 3: local dynamics (residency time, sign changes, unstable eigenvalues per region)."""
    input:
        "results/figure_data/fig3.json",
    output:
        pdf="results/figures/fig3.pdf",
        png=report(
            "results/figures/fig3.png",
            caption="../report/fig3.rst",
            category="3 Local dynamics",
            labels={"figure": "fig3"},
        ),
    log:
        "logs/figures/fig3.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig3",
    script:
        "../scripts/plot_figure.py"


rule fig4:
    """Figure 4: noise sensitivity of cluster vs transition starts."""
    input:
        "results/figure_data/fig4.json",
    output:
        pdf="results/figures/fig4.pdf",
        png=report(
            "results/figures/fig4.png",
            caption="../report/fig4.rst",
            category="3 Local dynamics",
            labels={"figure": "fig4"},
        ),
    log:
        "logs/figures/fig4.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig4",
    script:
        "../scripts/plot_figure.py"


rule fig8:
    """Figure 8: fully connected and cyclic HMMs (orbits, subspaces, residency, performance)."""
    input:
        "results/figure_data/fig8.json",
    output:
        pdf="results/figures/fig8.pdf",
        png=report(
            "results/figures/fig8.png",
            caption="../report/fig8.rst",
            category="5 Other architectures",
            labels={"figure": "fig8"},
        ),
    log:
        "logs/figures/fig8.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig8",
    script:
        "../scripts/plot_figure.py"


rule figS2:
    """Figure S2: trajectories and contours over all (M, hidden, input) configurations at one seed."""
    input:
        "results/figure_data/figS2.json",
    output:
        pdf="results/figures/figS2.pdf",
        png=report(
            "results/figures/figS2.png",
            caption="../report/figS2.rst",
            category="2 Global dynamics",
            labels={"figure": "figS2"},
        ),
    log:
        "logs/figures/figS2.log",
    conda:
        ENV_PLOTS
    params:
        figure="figS2",
    script:
        "../scripts/plot_figure.py"
