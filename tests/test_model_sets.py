"""rnnhmm.model_sets (which models each analysis uses), the analysis sections' checks of config
validation, and rnnhmm.figure_registry (what the figure rules of workflow/rules/figures.smk are
generated from), on the shipped configs. Pure Python, seconds."""
import subprocess
import sys
from pathlib import Path

import pytest

from rnnhmm.config import (
    DISPLAY_KEYS,
    ConfigError,
    ModelSpec,
    check_dynamics_config,
    check_mechanism_config,
    expand_models,
    load_config,
    skipped_figures,
    validate_config,
)
from rnnhmm.figure_registry import FIGURES, figure, targets
from rnnhmm.model_sets import (
    cell_models,
    change_probabilities,
    dynamics_models,
    hmm_specs,
    hmms_of,
    mechanism_models,
    state_counts,
)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("config", "quick", "cpu", "own_hmm")


@pytest.fixture(scope="module")
def configs():
    return {name: load_config(ROOT / "config" / f"{name}.yaml") for name in CONFIGS}


# ----------------------------------------------------------------------------- model sets

@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_pass_the_analysis_checks_and_use_trained_models_only(configs, name):
    cfg = configs[name]
    check_dynamics_config(cfg)
    check_mechanism_config(cfg)
    ids = {m.id for m in expand_models(cfg)}
    dyn, mech = dynamics_models(cfg), mechanism_models(cfg)
    for key in ("models", "fig8_models", "grid", "state_space", "claims_models", "claims_fig8", "claims_state_space"):
        assert set(dyn[key]) <= ids, key
    assert mech["single"] in ids
    for key in ("kick", "kick_others", "evolution", "readout", "claims", "claims_kick", "claims_evolution",
                "claims_interventions"):
        assert set(mech[key]) <= ids, key
    # every intervention model has its kick record (the interventions read its kick groups)
    assert set(mech["claims_interventions"]) <= set(mech["claims_kick"])
    # the kick job covers the single model first, then figure S4's models, each once
    assert mech["kick"][0] == mech["single"] and len(set(mech["kick"])) == len(mech["kick"])
    assert set(mech["kick"]) == {mech["single"], *mech["kick_others"]}
    assert mech["claims"] == list(dict.fromkeys(mech["claims_evolution"] + mech["readout"] + mech["claims_kick"]))
    assert set(mech["kick"]) <= set(mech["claims_kick"]) and set(mech["evolution"]) <= set(mech["claims_evolution"])
    assert dyn["state_space"] == sorted(set(dyn["models"]) | set(dyn["fig8_models"]) | set(dyn["grid"]))


def test_quick_config_model_sets(configs):
    cfg = configs["quick"]
    reps = [f"lin{k}/h16_d8/s0" for k in (2, 3, 4, 5)]
    dyn, mech = dynamics_models(cfg), mechanism_models(cfg)
    assert dyn["models"] == reps
    assert dyn["fig8_models"] == ["fully/h16_d8/s0", "cyclic/h16_d8/s0"]
    assert dyn["grid"] == [f"lin{k}/h16_d{d}/s0" for k in (2, 3, 4, 5) for d in (2, 8)]
    assert len(dyn["state_space"]) == 10
    assert mech["single"] == "lin2/h16_d8/s0"
    assert mech["kick"] == reps + ["fully/h16_d8/s0"]
    assert mech["kick_others"] == reps[1:] + ["fully/h16_d8/s0"]
    assert mech["evolution"] == reps + ["fully/h16_d8/s1", "cyclic/h16_d8/s1"]
    assert mech["readout"] == [f"lin{k}/h16_d8/s{s}" for k in (2, 3, 4, 5) for s in (0, 1)]


def test_paper_config_model_sets(configs):
    cfg = configs["config"]
    reps = [f"lin{k}/h150_d100/s0" for k in (2, 3, 4, 5)]
    dyn, mech = dynamics_models(cfg), mechanism_models(cfg)
    assert dyn["models"] == reps and dyn["fig8_models"] == ["fully/h150_d100/s0", "cyclic/h150_d100/s0"]
    # figure S2: every (hidden, input) configuration of the linear chains at seed 0
    assert len(dyn["grid"]) == 4 * 3 * 4 and {ModelSpec.parse(m).seed for m in dyn["grid"]} == {0}
    assert len(dyn["state_space"]) == 50
    assert mech["single"] == "lin2/h150_d100/s0"
    assert mech["kick_others"] == reps[1:] + ["fully/h150_d100/s0"]
    assert mech["evolution"] == reps + ["fully/h150_d100/s2", "cyclic/h150_d100/s1"]
    assert mech["readout"] == [f"lin{k}/h150_d100/s{s}" for k in (2, 3, 4, 5) for s in (0, 1, 2)]


def test_cpu_config_model_sets(configs):
    cfg = configs["cpu"]
    reps = [f"lin{k}/h50_d10/s0" for k in (2, 3, 4, 5)]
    dyn, mech = dynamics_models(cfg), mechanism_models(cfg)
    assert dyn["models"] == reps and dyn["grid"] == reps
    assert dyn["fig8_models"] == ["fully/h50_d10/s0", "cyclic/h50_d10/s0"]
    assert mech["kick"] == reps + ["fully/h50_d10/s0"]
    assert mech["evolution"] == reps + ["fully/h50_d10/s0", "cyclic/h50_d10/s0"]
    assert len(mech["readout"]) == 12
    # every_seed: the claims use the three seeds of each listed model's cell, the figures the listed ones
    three = lambda ids: [f"{m[:-1]}{k}" for m in ids for k in range(3)]  # noqa: E731
    assert dyn["claims_models"] == three(reps) and dyn["claims_fig8"] == three(dyn["fig8_models"])
    assert set(dyn["claims_state_space"]) == set(three(reps + dyn["fig8_models"]))
    assert mech["claims_kick"] == three(mech["kick"]) and mech["claims_evolution"] == three(mech["evolution"])
    assert mech["claims_interventions"] == three([mech["single"]])


def test_every_seed_off_keeps_the_listed_models(configs):
    """Must-fail side of every_seed: off (the quick config), the claims' sets are the figures' sets."""
    cfg = configs["quick"]
    assert not cfg["dynamics"]["every_seed"] and not cfg["mechanism"]["every_seed"]
    dyn, mech = dynamics_models(cfg), mechanism_models(cfg)
    assert dyn["claims_models"] == dyn["models"] and dyn["claims_fig8"] == dyn["fig8_models"]
    assert mech["claims_kick"] == mech["kick"] and mech["claims_evolution"] == mech["evolution"]
    assert mech["claims_interventions"] == [mech["single"]]
    on = {**cfg, "dynamics": {**cfg["dynamics"], "every_seed": True}}
    assert len(dynamics_models(on)["claims_models"]) > len(dyn["models"])


def test_own_hmm_config_uses_its_one_model_everywhere(configs):
    cfg = configs["own_hmm"]
    dyn, mech = dynamics_models(cfg), mechanism_models(cfg)
    one = "ring3/h50_d10/s0"
    assert all(dyn[k] == [one] for k in dyn if not k.startswith("null_"))
    # and its null networks (plateau needs the snapshots this config keeps for its one model)
    assert all(dyn[k] == [f"{one}-null-plateau", f"{one}-null-shuffle"] for k in dyn if k.startswith("null_"))
    assert mech["single"] == one and mech["kick"] == [one] and mech["kick_others"] == []
    assert mech["evolution"] == [one] and mech["readout"] == [one] and mech["claims"] == [one]


def test_mechanism_check_names_the_bad_key(configs):
    """The check alone, and validate_config, which runs it (one call validates a config)."""
    cfg = load_config(ROOT / "config/quick.yaml")
    cfg["mechanism"]["readout"]["models"] = ["lin2/h99_d8/s0"]
    for check in (check_mechanism_config, validate_config):
        with pytest.raises(ConfigError, match=r"config.mechanism.readout.models: 'lin2/h99_d8/s0' is not a trained"):
            check(cfg)
    cfg = load_config(ROOT / "config/quick.yaml")
    cfg["mechanism"]["evolution"]["models"] = ["lin2/h16_d2/s0"]
    for check in (check_mechanism_config, validate_config):
        with pytest.raises(ConfigError, match=r"evolution.models: 'lin2/h16_d2/s0' keeps no per-epoch weights"):
            check(cfg)


def test_hmm_facts(configs):
    cfg = configs["quick"]
    ids = ["lin3/h16_d8/s0", "fully/h16_d8/s1", "lin3/h16_d8/s1"]
    assert hmms_of(ids) == ["lin3", "fully"]
    assert list(hmm_specs(cfg, ids)) == ["fully", "lin3"] and hmm_specs(cfg, ids)["lin3"] == cfg["hmms"]["lin3"]
    cp = change_probabilities(cfg)
    assert list(cp) == list(cfg["hmms"]) and all(isinstance(v, float) and 0 < v < 1 for v in cp.values())
    assert change_probabilities(cfg, ["lin3"]) == {"lin3": cp["lin3"]}
    assert state_counts(cfg, ["lin2", "lin5"]) == {"lin2": 2, "lin5": 5}
    # every seed of the cells of the given models (figure 8's performance panel)
    assert cell_models(cfg, ["fully/h16_d8/s0"]) == ["fully/h16_d8/s0", "fully/h16_d8/s1"]


# ----------------------------------------------------------------------------- figure registry

# The Snakemake interface of each figure-data script, per figure: named inputs, params besides
# `figure` (workflow/scripts/figure_data.py, dyn_figure_data.py, mech_figure_data.py).
INTERFACE = {
    "fig1": ("figure_data.py", {"models", "floors", "likelihood"}, {"label"}),
    "figS1": ("figure_data.py", {"table", "models", "floors"}, {"hmms"}),
    "fig2": ("dyn_figure_data.py", {"state_space"}, {"models", "change_probability", "plot_points"}),
    "fig3": ("dyn_figure_data.py", {"local"}, {"models"}),
    "fig4": ("dyn_figure_data.py", {"noise"}, {"models", "plot_trajectories"}),
    "fig8": ("dyn_figure_data.py", {"state_space", "subspaces", "metrics", "floors"},
             {"models", "plot_points", "runs_shown", "run_points"}),
    "figS2": ("dyn_figure_data.py", {"state_space"}, {"models", "change_probability", "plot_points"}),
    "fig5": ("mech_figure_data.py", {"kick"}, {"mean_activity_show"}),
    "fig6": ("mech_figure_data.py", {"interventions"}, {"show_steps"}),
    "fig7": ("mech_figure_data.py", {"evolution"}, {"change_probability"}),
    "figS3": ("mech_figure_data.py", {"readout"}, set()),
    "figS4": ("mech_figure_data.py", {"kick"}, set()),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_registry_gives_each_figure_data_script_its_interface(configs, name):
    cfg = configs[name]
    assert [f.name for f in FIGURES] == list(INTERFACE)  # names unique, none forgotten
    for fig in FIGURES:
        script, inputs, params = INTERFACE[fig.name]
        assert fig.script == script and (ROOT / "workflow/scripts" / script).is_file()
        assert (ROOT / "workflow/report" / f"{fig.name}.rst").is_file(), fig.name
        assert fig.doc and fig.category[0].isdigit()
        got = fig.inputs(cfg)
        assert set(got) == inputs, fig.name
        for paths in got.values():
            for p in [paths] if isinstance(paths, str) else paths:
                assert p.startswith("results/"), (fig.name, p)
        assert set(fig.params(cfg, name)) == params, fig.name
    assert figure("fig8").name == "fig8"
    # fig1's KL-rate panel reads the likelihood records only where the config computes them
    off = {**cfg, "likelihood": {**cfg["likelihood"], "enabled": False}}
    assert set(figure("fig1").inputs(off)) == {"models", "floors"}
    with pytest.raises(KeyError):
        figure("fig9")


def test_registry_inputs_follow_the_model_sets(configs):
    cfg = configs["quick"]
    dyn, mech = dynamics_models(cfg), mechanism_models(cfg)
    assert figure("fig3").inputs(cfg) == {"local": [f"results/analysis/local/{m}.npz" for m in dyn["models"]]}
    fig8 = figure("fig8").inputs(cfg)
    assert fig8["floors"] == ["results/metrics/floor/cyclic.json", "results/metrics/floor/fully.json"]
    assert len(fig8["metrics"]) == 4  # both seeds of both fig8 cells
    assert figure("fig5").inputs(cfg) == {"kick": f"results/analysis/kick/{mech['single']}.json"}
    assert figure("figS4").inputs(cfg)["kick"] == [f"results/analysis/kick/{m}.json" for m in mech["kick_others"]]
    assert figure("fig7").params(cfg, "quick")["change_probability"] == change_probabilities(
        cfg, hmms_of(mech["evolution"]))
    assert figure("fig1").params(cfg, "quick") == {"label": "quick"}


def test_every_display_only_key_is_a_param_of_a_figure_data_rule(configs):
    """Display-only settings reach the figure-data jobs as params (editing one reruns that job and
    its plot, never an analysis: tests/test_workflow.py checks the plan)."""
    cfg = configs["quick"]
    readers = {}
    for (section, analysis), keys in DISPLAY_KEYS.items():
        for key in keys:
            readers[key] = {f.name for f in FIGURES if f.params(cfg, "quick").get(key, object())
                            == cfg[section][analysis][key]}
    assert readers == {"plot_points": {"fig2", "figS2", "fig8"}, "plot_trajectories": {"fig4"},
                       "runs_shown": {"fig8"}, "run_points": {"fig8"}, "mean_activity_show": {"fig5"},
                       "show_steps": {"fig6"}}


def test_skipped_figures_leave_the_targets(configs):
    cfg = dict(configs["own_hmm"])
    assert targets(cfg) == [f.name for f in FIGURES]  # nothing stored yet: every figure
    cfg["skipped_figures"] = skipped_figures(cfg)
    assert sorted(cfg["skipped_figures"]) == ["figS3", "figS4"]
    assert targets(cfg) == [f.name for f in FIGURES if f.name not in ("figS3", "figS4")]
    assert figure("figS3").skipped(cfg) and not figure("fig3").skipped(cfg)


def test_planning_modules_import_no_heavy_library():
    """Snakemake imports them while parsing the workflow: no torch, pandas or matplotlib."""
    code = ("import sys, rnnhmm.paths, rnnhmm.config, rnnhmm.model_sets, rnnhmm.figure_registry, "
            "rnnhmm.training.grouping, rnnhmm.training.placement, rnnhmm.external_config, "
            "rnnhmm.external_weights\n"
            "print(sorted({'torch', 'pandas', 'matplotlib', 'sklearn'} & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
