"""Mechanism figures and claims (figures 5, 6, 7, S3, S4; results/claims/mechanism.csv): the figure-data
builders and claims on synthetic analysis results, the config checks, and (marked ``workflow``) the
quick config's mechanism targets end to end."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from rnnhmm.analyses.measures import complete_kick_groups, display_epochs, evaluated_epoch_indices, mu_grid, mu_index
from rnnhmm.claims.mechanism import mechanism_claims
from rnnhmm.figures.mechanism_data import change_segments, fig5_data, fig6_data, fig7_data, figS3_data, figS4_data
from rnnhmm.figures.mechanism_plots import PLOTTERS

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
FIGS = ["fig5", "fig6", "fig7", "figS3", "figS4"]


# ------------------------------------------------------------------------------ helpers


def test_complete_kick_groups_keeps_selected_and_falls_back_only_when_empty():
    groups, status = complete_kick_groups([[4, 2], []], [[4, 2, 9], [7, 1, 3, 8]], fallback_top=3)
    assert groups == [[4, 2], [7, 1, 3]] and status == ["selected", "fallback"]
    groups, status = complete_kick_groups([[], []], [[5], []], fallback_top=0)
    assert groups == [[], []] and status == ["empty", "empty"]
    groups, status = complete_kick_groups([[], []], [[5], []], fallback_top=2)
    assert groups == [[5], []] and status == ["fallback", "empty"]


def test_evaluated_epochs_follow_the_reference_stride_and_keep_the_last():
    epochs = list(range(1, 26))
    idx = evaluated_epoch_indices(epochs, 10)
    assert [epochs[i] for i in idx] == [1, 11, 21, 25]
    assert evaluated_epoch_indices(epochs, 1) == list(range(25))
    assert [epochs[i] for i in evaluated_epoch_indices(list(range(1, 22)), 10)] == [1, 11, 21]
    assert evaluated_epoch_indices([], 10) == []


def test_display_epochs_span_training_and_include_the_bifurcation():
    ep = [1, 11, 21, 31, 41, 51, 61]
    shown = display_epochs(ep, 3, bifurcation=21)
    assert shown == [1, 21, 31, 61]
    assert display_epochs(ep, 3, bifurcation=None) == [1, 31, 61]
    assert display_epochs([1, 2], 5) == [1, 2]


def test_mu_grid_and_index():
    mus = mu_grid(2.0, 0.1)
    assert len(mus) == 21 and mus[0] == 0.0 and mus[-1] == 2.0
    assert mu_index(mus, 1.0) == 10 and mu_index(mus, 1.9) == 19
    with pytest.raises(ValueError):
        mu_index(mus, 0.15)
    assert mu_grid(2.0, 0.2)[-1] == 2.0 and len(mu_grid(2.0, 0.2)) == 11


# ------------------------------------------------------------------------------ claims
# (each claim's must-pass and must-fail cases are in tests/test_claims.py)


def _intervention(kick_pairs, noise_pairs, control_pairs, mus, skipped_group2=False):
    def cond(p):
        return {"pairs_mean": p, "pairs_std": [0.1] * len(p), "n_targets": 3}

    g1 = {"group": 1, "neurons": [1, 2, 3], "status": "selected",
          "conditions": {"kick": cond(kick_pairs), "noise_projection": cond(noise_pairs),
                         "control": cond(control_pairs)}}
    g2 = ({"group": 2, "neurons": [], "status": "empty", "skipped": "kick group is empty"} if skipped_group2
          else {**g1, "group": 2})
    return {"model": "lin2/h8_d2/s0", "mus": mus, "groups": [g1, g2]}


def test_mechanism_claims_keep_every_row_with_three_valued_outcomes():
    from rnnhmm.claims.dynamics import switch_reference
    from rnnhmm.hmm import linear_chain

    ref = switch_reference(linear_chain(2), 500, repeats=20, seed=0)
    ev = {"model": "lin2/h8_d2/s0", "hmm": "lin2", "epochs": [1, 11, 21], "complex_fraction": [0, 0, 0.3],
          "unstable_fraction": [0, 0.2, 0.3], "finite": [True] * 3, "val_loss": [9.0] * 10 + [4.0] * 20,
          "sampled_change_rate": [0.5, 0.1, 0.07]}
    iv = {"model": "lin2/h8_d2/s0", "mus": [0.0, 1.0, 2.0],
          "groups": [{"group": 1, "neurons": [1], "status": "selected"},
                     {"group": 2, "neurons": [], "status": "empty", "skipped": "kick group is empty"}]}
    rows = mechanism_claims(
        [{"model": "lin2/h8_d2/s0", "n_selected": [3, 0], "group_status": ["selected", "empty"]}], [iv], [ev],
        {"models": [{"model": "lin2/h8_d2/s0", "hmm": "lin2", "states": 2, "mean_projection": 0.5}]}, {"lin2": ref})
    outcome = {(r["claim"], r["model"]): r["outcome"] for r in rows}
    assert set(outcome.values()) <= {"pass", "fail", "n/a"}
    assert outcome[("two_kick_groups", "lin2/h8_d2/s0")] == "fail"
    assert outcome[("kick_mu0_reduces_pairs", "lin2/h8_d2/s0 [kick group 2]")] == "n/a"
    assert outcome[("kick_mu0_reduces_pairs", "lin2/h8_d2/s0 [kick group 1]")] == "fail"   # no baseline: says so
    assert outcome[("readout_projection_decreases", "lin2")] == "n/a"
    assert len(rows) == 1 + 2 + 2 + 2 * 5 + 5 + 1


# ------------------------------------------------------------------------------ figure data


def _kick(groups=((3, 1, 4), (0, 5)), status=("selected", "selected"), T=40, H=8, seed=0):
    rng = np.random.default_rng(seed)
    flat = [i for g in groups for i in g]
    blocks = None
    if all(groups):
        blocks = {"kick_kick": rng.normal(size=(len(flat), len(flat))).tolist(),
                  "kick_pop": rng.normal(size=(len(flat), 2)).tolist(), "pop_pop": rng.normal(size=(2, 2)).tolist()}
    outputs = [0] * 10 + [2] * 15 + [0] * 15
    return {
        "model": "lin2/h8_d2/s0", "hmm": "lin2", "groups": [list(g) for g in groups], "group_status": list(status),
        "n_selected": [len(g) if s == "selected" else 0 for g, s in zip(groups, status)], "error": None,
        "region_counts": {"transition": 5, "kick": 10, "cluster": 25, "other": 0},
        "populations": [[2], [6]] if blocks else [[], []],
        "population_to_kick": [[-0.5, 0.4], [0.3, -0.2]] if blocks else None, "blocks": blocks,
        "preact_map": {"coords": rng.normal(size=(T, 2)).tolist(), "explained_variance": [40.0, 20.0],
                       "neurons": flat, "neuron_group": [gi + 1 for gi, g in enumerate(groups) for _ in g],
                       "pre": rng.normal(scale=2, size=(len(flat), T)).tolist(), "outputs": outputs},
        "mean_activity": {"kick1": rng.random(T).tolist(), "kick2": rng.random(T).tolist() if groups[1] else None,
                          "pop1": rng.random(T).tolist() if blocks else None,
                          "pop2": rng.random(T).tolist() if blocks else None, "outputs": outputs},
    }


def test_change_segments_partition_the_run_at_every_output_change():
    segs = change_segments([0, 0, 2, 2, 2, 0, 1])
    assert segs == [[0, 2], [2, 5], [5, 6], [6, 7]]
    assert change_segments([]) == []


def test_fig5_data_labels_follow_the_data():
    k = _kick()
    d = fig5_data(k)
    pre = np.asarray(k["preact_map"]["pre"])
    assert d["preact"]["vmax"] == pytest.approx(np.abs(pre).max())  # one shared colour scale
    assert d["kick_labels"][0].startswith("Kick group 1 (drives 0→2)") and "[3, 1, 4]" in d["kick_labels"][0]
    assert d["kick_labels"][1].startswith("Kick group 2 (drives 2→0)")
    # population 1 projects negatively onto kick group 1 and positively onto group 2
    assert d["pop_labels"] == ["Population 1 (inhibits kick 1, excites kick 2)",
                               "Population 2 (excites kick 1, inhibits kick 2)"]
    assert d["segments"] == [[0, 10], [10, 25], [25, 40]] and d["segment_outputs"] == [0, 2, 0]
    d = fig5_data(_kick(groups=((3, 1, 4), (0, 2)), status=("selected", "fallback")))
    assert "fallback" in d["kick_labels"][1]


def test_fig7_data_sorts_units_by_the_last_epoch():
    ev = {"model": "lin2/h8_d2/s0", "hmm": "lin2", "epochs": [1, 11], "transition_rate": [0.5, 0.1],
          "complex_fraction": [0, 0.2], "unstable_fraction": [0, 0.1], "finite": [True, True],
          "sqrt_abs_dh2": [[1.0, 2.0, 3.0], [0.5, 4.0, None]], "val_loss": [3, 2, 1], "train_loss": [3, 2, 1],
          "bifurcation_epoch": 11, "second_loss_drop": None, "converged_rate": 0.1, "converged_last": 1,
          "pca": {"epochs": [1, 11], "coords": [[[0, 0]], None], "outputs": [[0], None],
                  "explained_variance": [[1, 1], None]}}
    d = fig7_data([ev], {"lin2": 0.0688})
    m = d["models"][0]
    assert m["dh2"][1][:2] == [4.0, 0.5] and np.isnan(m["dh2"][1][2])
    assert m["hmm_change_probability"] == 0.0688


def test_figS3_data_groups_by_number_of_states():
    ro = {"models": [{"model": "lin2/h8_d2/s0", "hmm": "lin2", "states": 2, "mean_projection": 0.4},
                     {"model": "lin2/h8_d2/s1", "hmm": "lin2", "states": 2, "mean_projection": 0.6},
                     {"model": "lin3/h8_d2/s0", "hmm": "lin3", "states": 3, "mean_projection": None,
                      "error": "diverged"}]}
    d = figS3_data(ro)
    assert d["states"] == [2] and d["mean"] == [pytest.approx(0.5)] and d["std"] == [pytest.approx(0.1)]
    assert d["failed"] == ["lin3/h8_d2/s0: diverged"]


def test_every_plotter_renders_including_unavailable_panels(tmp_path):
    import matplotlib.pyplot as plt

    from rnnhmm.figures.common import get_plotter

    mus = [0.0, 0.5, 1.0, 1.5, 2.0]
    traj = {f"{m:g}": np.random.default_rng(0).normal(size=(6, 2)).tolist() for m in (0.0, 1.0, 2.0)}
    iv = _intervention([3, 5, 8, 8.5, 9], [2, 4, 8, 8, 8], [7.5, 8, 8, 8.2, 8.4], mus, skipped_group2=True)
    for c in iv["groups"][0]["conditions"].values():
        c["trajectories"] = traj
    iv.update(show_mus=[0.0, 1.0, 2.0], show_steps=6)
    ev = {"model": "lin2/h8_d2/s0", "hmm": "lin2", "epochs": [1, 11, 21], "transition_rate": [0.5, 0.2, 0.1],
          "complex_fraction": [0, 0.2, 0.3], "unstable_fraction": [0, 0.1, 0.1], "finite": [True] * 3,
          "sqrt_abs_dh2": np.ones((3, 4)).tolist(), "val_loss": [3, 2, 1], "train_loss": [3, 2, 1],
          "bifurcation_epoch": 11, "second_loss_drop": 2, "converged_rate": 0.1, "converged_last": 2,
          "pca": {"epochs": [1, 11], "coords": [[[0, 0], [1, 1]], None], "outputs": [[0, 2], None],
                  "explained_variance": [[1, 1], None]}}
    ro = {"models": [{"model": "lin2/h8_d2/s0", "hmm": "lin2", "states": 2, "mean_projection": 0.4}]}
    data = {"fig5": fig5_data(_kick()), "fig6": fig6_data(iv), "fig7": fig7_data([ev], {"lin2": 0.07}),
            "figS3": figS3_data(ro),
            "figS4": figS4_data([_kick(), _kick(groups=((1,), ()), status=("fallback", "empty"))])}
    for name in FIGS:
        fig = get_plotter(name)(json.loads(json.dumps(data[name])))  # what the plot rule reads back
        fig.savefig(tmp_path / f"{name}.png", dpi=40)
        plt.close(fig)
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000
    assert set(PLOTTERS) == set(FIGS)


# ------------------------------------------------------------------------------ workflow


def _smk(*args, cwd, timeout=1800):
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_unknown_mechanism_model_fails_with_one_line(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg["mechanism"]["single_model"] = "lin2/h99_d8/s0"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = _smk("-n", "--cores", "1", "--directory", str(tmp_path), "--configfile", str(bad), cwd=tmp_path)
    assert out.returncode != 0
    assert ("invalid config at config.mechanism.single_model: 'lin2/h99_d8/s0' is not a trained model"
            in out.stdout + out.stderr)


def test_evolution_model_without_snapshots_fails_with_one_line(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg["mechanism"]["evolution"]["models"] = ["lin2/h16_d2/s0"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = _smk("-n", "--cores", "1", "--directory", str(tmp_path), "--configfile", str(bad), cwd=tmp_path)
    assert out.returncode != 0
    assert "config.mechanism.evolution.models: 'lin2/h16_d2/s0' keeps no per-epoch weights" in out.stdout + out.stderr


@pytest.mark.workflow
def test_quick_config_mechanism_figures_and_claims(quick_run):
    """Reuses the session's quick run (tests/conftest.py), which built these targets among all the
    others; asks for them here and reads them. Changes nothing in it."""
    tmp_path = quick_run.check()
    # targets before --configfile, which takes several values
    out = _smk("--directory", str(tmp_path), "--cores", "2", *FIGS, "results/claims/mechanism.csv",
               "--configfile", str(ROOT / "config/quick.yaml"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-5000:]
    for fig in FIGS:
        assert (tmp_path / f"results/figures/{fig}.pdf").stat().st_size > 10_000
        assert (tmp_path / f"results/figures/{fig}.png").stat().st_size > 10_000
        assert (tmp_path / f"results/figure_data/{fig}.json").exists()
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())["mechanism"]
    kick = json.loads((tmp_path / f"results/analysis/kick/{cfg['single_model']}.json").read_text())
    assert len(kick["groups"]) == 2 and all(s in ("selected", "empty") for s in kick["group_status"])
    import pandas as pd

    claims = pd.read_csv(tmp_path / "results/claims/mechanism.csv", keep_default_na=False)
    from rnnhmm.claims.core import COLUMNS
    assert list(claims.columns) == COLUMNS and set(claims["outcome"]) <= {"pass", "fail", "n/a"}
    ids = set(claims["claim"])
    from rnnhmm.claims.mechanism import INTERVENTION_CLAIMS
    assert {"two_kick_groups", "complex_pairs_emerge", "unstable_fraction_emerges", "emergence_order",
            "converged_transition_rate", "readout_projection_decreases", *INTERVENTION_CLAIMS} <= ids
    from rnnhmm.claims.core import null_kind
    kinds = claims["model"].map(null_kind)
    trained, nulls = claims[kinds == ""], claims[kinds != ""]
    assert (trained["claim"] == "converged_transition_rate").sum() == len(cfg["evolution"]["models"])
    assert (trained["claim"] == "two_kick_groups").sum() == 1 + len(cfg["kick"]["models"])
    # the same claims on the null networks: the shuffled history of every evolution model, and
    # both kinds for every kick model with snapshots
    assert (nulls["claim"] == "converged_transition_rate").sum() == len(cfg["evolution"]["models"])
    assert set(kinds[claims["claim"] == "emergence_order"]) == {"", "shuffle"}
    assert {"plateau", "shuffle"} <= set(kinds[claims["claim"] == "two_kick_groups"])
    # a rerun has nothing to do
    out = _smk("--directory", str(tmp_path), "--cores", "2", *FIGS, "results/claims/mechanism.csv",
               "--configfile", str(ROOT / "config/quick.yaml"), cwd=tmp_path)
    assert out.returncode == 0 and "Nothing to be done" in out.stdout + out.stderr
