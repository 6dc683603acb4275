# Mechanism analyses: kick neurons, interventions, training evolution, readout alignment.
#
#   mech_kick (all kick models) ──> fig5_data ──> fig5      figS4_data ──> figS4
#        └──> mech_interventions ──> fig6_data ──> fig6
#   mech_evolution (per model) ──> fig7_data ──> fig7
#   mech_readout ──> figS3_data ──> figS3
#   all of them ──> mechanism_claims (results/claims/mechanism.csv)
#
# Model sets: MECH_SETS (common.smk, from rnnhmm.model_sets.mechanism_models). The figure-data and figure
# rules are generated in figures.smk from rnnhmm.figure_registry. Every claims set also runs on
# the null networks of its models (MECH_SETS["null_*"], rules/nulls.smk).

KICK_MODELS = MECH_SETS["claims_kick"] + MECH_SETS["null_kick"]


rule mech_kick:
    """Kick neurons (the kick criterion of docs/mechanism.md on the three regions of
    docs/dynamics.md), integrating populations, sorted weight blocks, pre-activation maps along the
    orbit and mean group activities, for every kick model, every seed of their cells with mechanism.every_seed (one job: each model takes seconds to
    minutes, and a job costs a torch import)."""
    input:
        models=[paths.model_file("model.pt", m) for m in KICK_MODELS],
    output:
        [paths.analysis_file("kick", m, "json") for m in KICK_MODELS],
    log:
        paths.log_file("mechanism", "kick"),
    conda:
        ENV
    params:
        models=KICK_MODELS,
        kick=analysis_settings(config, "mechanism", "kick"),
        seed=MECH["seed"],
        weights=config["metrics"]["weights"],
    script:
        "../scripts/mech_kick.py"


rule mech_interventions:
    """Kick, noise-projection and control interventions on both kick groups of one model
    (docs/mechanism.md): the single model, and with mechanism.every_seed every seed of its cell.
    """
    input:
        model=paths.model_file("model.pt"),
        kick=paths.analysis_file("kick", ext="json"),
    output:
        paths.analysis_file("interventions", ext="json"),
    log:
        paths.log_file("mechanism", "interventions", paths.MODEL),
    conda:
        ENV
    params:
        interventions=analysis_settings(config, "mechanism", "interventions"),
        seed=MECH["seed"],
        weights=config["metrics"]["weights"],
        model=lambda w: spec_of(w).id,
    script:
        "../scripts/mech_interventions.py"


rule mech_evolution:
    """Transition rate, unstable / complex Jacobian fractions, E[dh2], PCA across epochs,
    bifurcation epoch and second loss drop of one model's training (docs/mechanism.md).
    """
    input:
        model=paths.model_file("model.pt"),
        evolution=paths.model_file("evolution.pt"),
    output:
        paths.analysis_file("evolution", ext="json"),
    log:
        paths.log_file("mechanism", "evolution", paths.MODEL),
    conda:
        ENV
    params:
        evolution=MECH["evolution"],
        seed=MECH["seed"],
    script:
        "../scripts/mech_evolution.py"


rule mech_readout:
    """Projection of the readout rows onto the PC1-PC2 plane of every readout model (docs/mechanism.md)."""
    input:
        models=[paths.model_file("model.pt", m) for m in MECH_SETS["readout"]],
    output:
        paths.READOUT_ALIGNMENT,
    log:
        paths.log_file("mechanism", "readout_alignment"),
    conda:
        ENV
    params:
        models=MECH_SETS["readout"],
        states=state_counts(config, hmms_of(MECH_SETS["readout"])),
        readout=MECH["readout"],
        seed=MECH["seed"],
        weights=config["metrics"]["weights"],
    script:
        "../scripts/mech_readout.py"


rule mechanism_claims:
    """Paper claims about the mechanism (docs/mechanism.md, docs/claims.md), one row per claim and model
    (every seed of the listed models' cells with mechanism.every_seed), and the same rows on their
    null networks (rules/nulls.smk)."""
    input:
        kick=[paths.analysis_file("kick", m, "json") for m in KICK_MODELS],
        interventions=[
            paths.analysis_file("interventions", m, "json")
            for m in MECH_SETS["claims_interventions"]
            + MECH_SETS["null_interventions"]
        ],
        evolution=[
            paths.analysis_file("evolution", m, "json")
            for m in MECH_SETS["claims_evolution"] + MECH_SETS["null_evolution"]
        ],
        readout=paths.READOUT_ALIGNMENT,
    output:
        paths.claims_file("mechanism"),
    log:
        paths.log_file("claims", "mechanism"),
    localrule: True
    conda:
        ENV_PLOTS
    params:
        hmm_specs=hmm_specs(config, MECH_SETS["claims"]),
        evolution_T=MECH["evolution"]["T"],
    script:
        "../scripts/mech_claims.py"
