# Dynamics analyses: state space, fixed points, local dynamics, noise sensitivity.
# One cached analysis per model and analysis (results/analysis/<analysis>/{model}.npz), then a
# small figure-data JSON per figure, then the plot. Settings: config.dynamics (schema:
# workflow/schemas/dynamics.section.schema.yaml).
# Model sets: DYN_SETS (common.smk, from rnnhmm.plan.dynamics_models). The figure-data and figure
# rules are generated in figures.smk from rnnhmm.figure_registry.


rule dyn_state_space:
    """Global dynamics of one model (docs/dynamics.md): PCA, input-free trajectories, fixed and slow
    points, trajectories with input, orbit spread vs noise std."""
    input:
        model=f"results/models/{MODEL_PATH}/model.pt",
    output:
        f"results/analysis/state_space/{MODEL_PATH}.npz",
    log:
        f"logs/analysis/state_space/{MODEL_PATH}.log",
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
    """Local dynamics of one model (docs/dynamics.md): residency time, sign changes, unstable eigenvalues."""
    input:
        model=f"results/models/{MODEL_PATH}/model.pt",
    output:
        f"results/analysis/local/{MODEL_PATH}.npz",
    log:
        f"logs/analysis/local/{MODEL_PATH}.log",
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
    """Noise sensitivity of one model (docs/dynamics.md); records 'not found' instead of failing."""
    input:
        model=f"results/models/{MODEL_PATH}/model.pt",
    output:
        f"results/analysis/noise/{MODEL_PATH}.npz",
    log:
        f"logs/analysis/noise/{MODEL_PATH}.log",
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
    """Output-pair subspaces, their noise contours and subspace residency (docs/dynamics.md)."""
    input:
        model=f"results/models/{MODEL_PATH}/model.pt",
    output:
        f"results/analysis/subspaces/{MODEL_PATH}.npz",
    log:
        f"logs/analysis/subspaces/{MODEL_PATH}.log",
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
    """Paper claims about the dynamics (docs/claims.md), one row per claim and model (every seed of
    the listed models' cells with dynamics.every_seed), and the same rows on their null networks
    (rules/nulls.smk)."""
    input:
        state_space=[
            f"results/analysis/state_space/{m}.npz"
            for m in DYN_SETS["claims_state_space"] + DYN_SETS["null_state_space"]
        ],
        local=[
            f"results/analysis/local/{m}.npz"
            for m in DYN_SETS["claims_models"] + DYN_SETS["null_models"]
        ],
        noise=[
            f"results/analysis/noise/{m}.npz"
            for m in DYN_SETS["claims_models"] + DYN_SETS["null_models"]
        ],
        subspaces=[
            f"results/analysis/subspaces/{m}.npz"
            for m in DYN_SETS["claims_fig8"] + DYN_SETS["null_fig8"]
        ],
    output:
        "results/claims/dynamics.csv",
    log:
        "logs/claims/dynamics.log",
    localrule: True
    conda:
        ENV_PLOTS
    params:
        state_space_models=DYN_SETS["claims_state_space"] + DYN_SETS["null_state_space"],
        models=DYN_SETS["claims_models"] + DYN_SETS["null_models"],
        fig8_models=DYN_SETS["claims_fig8"] + DYN_SETS["null_fig8"],
        hmm_specs=hmm_specs(config, DYN_SETS["claims_state_space"]),
        switch_steps=DYN["state_space"]["pca_steps"],
        tolerances=DYN["claims"],
    script:
        "../scripts/dyn_claims.py"
