# Mechanism analyses (issue 4): kick neurons, interventions, training evolution, readout alignment.
#
#   mech_kick (all kick models) ──> fig5_data ──> fig5      figS4_data ──> figS4
#        └──> mech_interventions ──> fig6_data ──> fig6
#   mech_evolution (per model) ──> fig7_data ──> fig7
#   mech_readout ──> figS3_data ──> figS3
#   all of them ──> mechanism_claims (results/claims/mechanism.csv)

from rnnhmm.config import analysis_settings, in_evolution  # noqa: E402
from rnnhmm.hmm import build_hmm  # noqa: E402

MECH = config["mechanism"]
MECH_SINGLE = MECH["single_model"]
MECH_KICK_MODELS = list(dict.fromkeys([MECH_SINGLE, *MECH["kick"]["models"]]))
MECH_EVOLUTION_MODELS = MECH["evolution"]["models"]
MECH_READOUT_MODELS = MECH["readout"]["models"]
FIGURE_NAMES += ["fig5", "fig6", "fig7", "figS3", "figS4"]
CLAIM_FILES += ["results/claims/mechanism.csv"]


# Every model named in config.mechanism must be trained by this config (one clear line if not).
for _where, _mid in [("single_model", MECH_SINGLE)] + [
    (f"{k}.models", m)
    for k in ("kick", "evolution", "readout")
    for m in MECH[k]["models"]
]:
    if _mid not in MODEL_IDS:
        raise WorkflowError(
            f"invalid config at config.mechanism.{_where}: '{_mid}' is not a trained model of this config"
        )
for _mid in MECH_EVOLUTION_MODELS:
    if not in_evolution(config, ModelSpec.parse(_mid)):
        raise WorkflowError(
            f"invalid config at config.mechanism.evolution.models: '{_mid}' keeps no per-epoch "
            "weights (add it to config.evolution.match)"
        )

# Per HMM of the analysed models: output-change probability and number of states (numpy only).
MECH_HMMS = {
    h: build_hmm(h, config["hmms"][h])
    for h in sorted(
        {ModelSpec.parse(m).hmm for m in MECH_EVOLUTION_MODELS + MECH_READOUT_MODELS}
    )
}
MECH_CHANGE_PROBABILITY = {
    ModelSpec.parse(m).hmm: float(
        MECH_HMMS[ModelSpec.parse(m).hmm].change_probability()
    )
    for m in MECH_EVOLUTION_MODELS
}
MECH_STATES = {
    ModelSpec.parse(m).hmm: int(MECH_HMMS[ModelSpec.parse(m).hmm].n_states)
    for m in MECH_READOUT_MODELS
}


rule mech_kick:
    """Kick neurons (spec E.8 criterion on E.6 regions), integrating populations, sorted weight
    blocks, pre-activation maps along the orbit and mean group activities, for every kick model
    (one job: each model takes seconds to minutes, and a job costs a torch import)."""
    input:
        models=[f"results/models/{m}/model.pt" for m in MECH_KICK_MODELS],
    output:
        [f"results/analysis/kick/{m}.json" for m in MECH_KICK_MODELS],
    log:
        "logs/mechanism/kick.log",
    conda:
        ENV
    params:
        models=MECH_KICK_MODELS,
        kick=analysis_settings(config, "mechanism", "kick"),
        seed=MECH["seed"],
        weights=config["metrics"]["weights"],
    script:
        "../scripts/mech_kick.py"


rule mech_interventions:
    """Kick, noise-projection and control interventions on both kick groups (spec E.9)."""
    input:
        model=f"results/models/{MECH_SINGLE}/model.pt",
        kick=f"results/analysis/kick/{MECH_SINGLE}.json",
    output:
        f"results/analysis/interventions/{MECH_SINGLE}.json",
    log:
        f"logs/mechanism/interventions/{MECH_SINGLE}.log",
    conda:
        ENV
    params:
        interventions=analysis_settings(config, "mechanism", "interventions"),
        seed=MECH["seed"],
        weights=config["metrics"]["weights"],
        model=MECH_SINGLE,
    script:
        "../scripts/mech_interventions.py"


rule mech_evolution:
    """Transition rate, unstable / complex Jacobian fractions, E[dh2], PCA across epochs,
    bifurcation epoch and second loss drop of one model's training (spec E.10)."""
    input:
        model="results/models/{hmm}/h{hidden}_d{input}/s{seed}/model.pt",
        evolution="results/models/{hmm}/h{hidden}_d{input}/s{seed}/evolution.pt",
    output:
        "results/analysis/evolution/{hmm}/h{hidden}_d{input}/s{seed}.json",
    log:
        "logs/mechanism/evolution/{hmm}/h{hidden}_d{input}/s{seed}.log",
    conda:
        ENV
    params:
        evolution=MECH["evolution"],
        seed=MECH["seed"],
    script:
        "../scripts/mech_evolution.py"


rule mech_readout:
    """Projection of the readout rows onto the PC1-PC2 plane of every readout model (spec E.11)."""
    input:
        models=[f"results/models/{m}/model.pt" for m in MECH_READOUT_MODELS],
    output:
        "results/analysis/readout_alignment.json",
    log:
        "logs/mechanism/readout_alignment.log",
    conda:
        ENV
    params:
        models=MECH_READOUT_MODELS,
        states=MECH_STATES,
        readout=MECH["readout"],
        seed=MECH["seed"],
        weights=config["metrics"]["weights"],
    script:
        "../scripts/mech_readout.py"


rule mechanism_claims:
    """Paper claims about the mechanism (spec E.8-E.11, G.4), one row per claim and model."""
    input:
        kick=[f"results/analysis/kick/{m}.json" for m in MECH_KICK_MODELS],
        interventions=f"results/analysis/interventions/{MECH_SINGLE}.json",
        evolution=[
            f"results/analysis/evolution/{m}.json" for m in MECH_EVOLUTION_MODELS
        ],
        readout="results/analysis/readout_alignment.json",
    output:
        "results/claims/mechanism.csv",
    log:
        "logs/claims/mechanism.log",
    conda:
        ENV_PLOTS
    params:
        hmm_specs={h: config["hmms"][h] for h in MECH_HMMS},
        evolution_T=MECH["evolution"]["T"],
    script:
        "../scripts/mech_claims.py"


rule fig5_data:
    input:
        kick=f"results/analysis/kick/{MECH_SINGLE}.json",
    output:
        "results/figure_data/fig5.json",
    log:
        "logs/figure_data/fig5.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig5",
        mean_activity_show=MECH["kick"]["mean_activity_show"],
    script:
        "../scripts/mech_figure_data.py"


rule fig6_data:
    input:
        interventions=f"results/analysis/interventions/{MECH_SINGLE}.json",
    output:
        "results/figure_data/fig6.json",
    log:
        "logs/figure_data/fig6.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig6",
        show_steps=MECH["interventions"]["show_steps"],
    script:
        "../scripts/mech_figure_data.py"


rule fig7_data:
    input:
        evolution=[
            f"results/analysis/evolution/{m}.json" for m in MECH_EVOLUTION_MODELS
        ],
    output:
        "results/figure_data/fig7.json",
    log:
        "logs/figure_data/fig7.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig7",
        change_probability=MECH_CHANGE_PROBABILITY,
    script:
        "../scripts/mech_figure_data.py"


rule figS3_data:
    input:
        readout="results/analysis/readout_alignment.json",
    output:
        "results/figure_data/figS3.json",
    log:
        "logs/figure_data/figS3.log",
    conda:
        ENV_PLOTS
    params:
        figure="figS3",
    script:
        "../scripts/mech_figure_data.py"


rule figS4_data:
    input:
        kick=[f"results/analysis/kick/{m}.json" for m in MECH["kick"]["models"]],
    output:
        "results/figure_data/figS4.json",
    log:
        "logs/figure_data/figS4.log",
    conda:
        ENV_PLOTS
    params:
        figure="figS4",
    script:
        "../scripts/mech_figure_data.py"


rule fig5:
    """Figure 5: kick neurons (pre-activation maps), sorted W_hh blocks, mean group activities."""
    input:
        "results/figure_data/fig5.json",
    output:
        pdf="results/figures/fig5.pdf",
        png=report(
            "results/figures/fig5.png",
            caption="../report/fig5.rst",
            category="4 Single-neuron mechanism",
            labels={"figure": "fig5"},
        ),
    log:
        "logs/figures/fig5.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig5",
    script:
        "../scripts/plot_figure.py"


rule fig6:
    """Figure 6: causal interventions (trajectories and critical complex pairs vs mu)."""
    input:
        "results/figure_data/fig6.json",
    output:
        pdf="results/figures/fig6.pdf",
        png=report(
            "results/figures/fig6.png",
            caption="../report/fig6.rst",
            category="4 Single-neuron mechanism",
            labels={"figure": "fig6"},
        ),
    log:
        "logs/figures/fig6.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig6",
    script:
        "../scripts/plot_figure.py"


rule fig7:
    """Figure 7: emergence of the orbit during training (bifurcation, transition rate, E[dh2])."""
    input:
        "results/figure_data/fig7.json",
    output:
        pdf="results/figures/fig7.pdf",
        png=report(
            "results/figures/fig7.png",
            caption="../report/fig7.rst",
            category="6 Emergence in training",
            labels={"figure": "fig7"},
        ),
    log:
        "logs/figures/fig7.log",
    conda:
        ENV_PLOTS
    params:
        figure="fig7",
    script:
        "../scripts/plot_figure.py"


rule figS3:
    """Figure S3: readout projection onto the orbit plane vs number of states."""
    input:
        "results/figure_data/figS3.json",
    output:
        pdf="results/figures/figS3.pdf",
        png=report(
            "results/figures/figS3.png",
            caption="../report/figS3.rst",
            category="4 Single-neuron mechanism",
            labels={"figure": "figS3"},
        ),
    log:
        "logs/figures/figS3.log",
    conda:
        ENV_PLOTS
    params:
        figure="figS3",
    script:
        "../scripts/plot_figure.py"


rule figS4:
    """Figure S4: sorted weight-matrix structure of kick groups and populations for other HMMs."""
    input:
        "results/figure_data/figS4.json",
    output:
        pdf="results/figures/figS4.pdf",
        png=report(
            "results/figures/figS4.png",
            caption="../report/figS4.rst",
            category="4 Single-neuron mechanism",
            labels={"figure": "figS4"},
        ),
    log:
        "logs/figures/figS4.log",
    conda:
        ENV_PLOTS
    params:
        figure="figS4",
    script:
        "../scripts/plot_figure.py"
