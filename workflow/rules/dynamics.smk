# Dynamics analyses: state space, fixed points, local dynamics, noise sensitivity.
# One cached analysis per model and analysis (results/analysis/<analysis>/{model}.npz, paths from
# rnnhmm.paths), then a small figure-data JSON per figure, then the plot. Settings: config.dynamics
# (schema: workflow/schemas/dynamics.section.schema.yaml).
# Model sets: DYN_SETS (common.smk, from rnnhmm.model_sets.dynamics_models). The figure-data and figure
# rules are generated in figures.smk from rnnhmm.figure_registry.


rule dyn_state_space:
    """Global dynamics of one model (docs/dynamics.md): PCA, input-free trajectories, fixed and slow
    points, trajectories with input, orbit spread vs noise std."""
    input:
        model=paths.model_file("model.pt"),
    output:
        paths.analysis_file("state_space"),
    log:
        paths.log_file("analysis", "state_space", paths.MODEL),
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
        model=paths.model_file("model.pt"),
    output:
        paths.analysis_file("local"),
    log:
        paths.log_file("analysis", "local", paths.MODEL),
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
        model=paths.model_file("model.pt"),
    output:
        paths.analysis_file("noise"),
    log:
        paths.log_file("analysis", "noise", paths.MODEL),
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
        model=paths.model_file("model.pt"),
    output:
        paths.analysis_file("subspaces"),
    log:
        paths.log_file("analysis", "subspaces", paths.MODEL),
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
            paths.analysis_file("state_space", m)
            for m in DYN_SETS["claims_state_space"] + DYN_SETS["null_state_space"]
        ],
        local=[
            paths.analysis_file("local", m)
            for m in DYN_SETS["claims_models"] + DYN_SETS["null_models"]
        ],
        noise=[
            paths.analysis_file("noise", m)
            for m in DYN_SETS["claims_models"] + DYN_SETS["null_models"]
        ],
        subspaces=[
            paths.analysis_file("subspaces", m)
            for m in DYN_SETS["claims_fig8"] + DYN_SETS["null_fig8"]
        ],
    output:
        paths.claims_file("dynamics"),
    log:
        paths.log_file("claims", "dynamics"),
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
