"""Dynamics figures and claims: the figure-data builders, plotters and claim checks on small
synthetic analyses with known answers, the config checks, and (marked ``workflow``) the quick
config's dynamics figures end to end in a temporary directory."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from rnnhmm.analyses.measures import divergence_message, group_means, radius_fit, switch_rate
from rnnhmm.analyses.numerics import probe_divergence
from rnnhmm.claims.dynamics import dynamics_claims, local_claims, noise_claims, state_space_claims
from rnnhmm.config import ConfigError, check_dynamics_config, load_config, validate_config
from rnnhmm.figures.dynamics_data import fig2_data, fig3_data, fig4_data, fig8_data, figS2_data, performance_entry
from rnnhmm.io import load_analysis, save_analysis
from rnnhmm.model_sets import dynamics_models

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
TOL = {"switch_rate_rtol": 0.3, "radius_r2_min": 0.98, "radius_ratio_rtol": 0.15, "min_group_states": 10}
STDS = np.array([0.1, 1.0, 2.0, 3.0, 4.0])


# ----------------------------------------------------------------------------- synthetic analyses

def fake_state_space(seed=0, n_stable=1, radius_power=1.0, sampled=0.07, n_traj=6, L=40, n_pts=300):
    """A state-space analysis (as dyn_state_space.py writes it): input-free trajectories contracting
    geometrically onto (0, 0), an orbit whose radius is ``std ** radius_power``."""
    rng = np.random.default_rng(seed)
    start = rng.normal(size=(n_traj, 1, 3))
    noin = start * 0.7 ** np.arange(L + 1)[None, :, None]
    proj = np.stack([s ** radius_power * rng.normal(size=(n_pts, 2)) for s in STDS])
    radius = np.linalg.norm(proj - proj.mean(1, keepdims=True), axis=-1).mean(1)
    P = 1 + (n_stable > 1)
    return {
        "explained_percent": np.array([50.0, 20.0, 10.0]), "switch_rate_argmax": 0.05, "switch_rate_sampled": sampled,
        "classes_visited": 2, "zero_coords": np.zeros(3),
        "noin_coords": noin, "noin_outputs": (noin[..., 0] > 0).astype(np.int8),
        "noin_final_mean": noin[:, -1].mean(0), "noin_final_spread": float(np.abs(noin[:, -1]).max()),
        "noin_converged_frac": 1.0,
        "fp_coords": np.zeros((P, 3)), "fp_stable": np.array([True] * n_stable + [False] * (P - n_stable))[:P],
        "fp_is_origin": np.arange(P) == 0, "fp_n_unstable": np.zeros(P, int), "fp_spectral_radius": np.full(P, 0.7),
        "fp_speed": np.zeros(P), "fp_n_converged": np.full(P, n_traj), "fp_n_unconverged": 0,
        "fp_origin_growth": 0.7, "fp_origin_norm_bound": 0.9,
        "slow_coords": np.zeros((0, 3)), "slow_speed": np.zeros(0), "slow_n_unstable": np.zeros(0, int),
        "in_coords": rng.normal(size=(2, 50, 3)), "in_outputs": rng.integers(0, 2, size=(2, 50)),
        "spread_stds": STDS, "spread_radius": radius, "spread_centroid": proj.mean(1), "spread_proj": proj,
        "meta": {"model": "lin2/h8_d4/s0"},
    }


def fake_local(n=600, seed=0, good=True):
    """Residency results whose groups follow the paper (good) or are reversed."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 3, size=n)
    rt = np.choose(groups, [rng.uniform(1, 2, n), rng.uniform(2, 8, n), rng.uniform(9, 50, n)])
    sc = np.choose(groups, [rng.uniform(0, 1, n), rng.uniform(2, 4, n), rng.uniform(5, 20, n)])
    unst = np.choose(groups, [rng.integers(0, 3, n), rng.integers(0, 3, n), np.zeros(n, int)])
    if not good:
        sc, unst = -sc + 25, np.choose(groups, [np.zeros(n, int), np.zeros(n, int), np.full(n, 2)])
    return {"residency": rt, "sign_changes": sc, "n_unstable": unst, "groups": groups, "max_prob": np.full(n, 0.9),
            "cls": np.zeros(n, int), "fire_rate": np.ones(n), "coords": rng.normal(size=(n, 2)),
            "explained_percent": np.array([40.0, 20.0]), "meta": {}}


def fake_noise(found=True, cluster_bigger=True, T=5, G=3):
    if not found:
        error = "locate_areas: no pair found in 2 attempts:\n  attempt 1: no fast state"
        return {"found": False, "meta": {"error": error}}
    grow = np.linspace(0, 1, T + 1)[None] * np.array([0.0, 0.5, 1.0])[:, None]
    c, t = (40 * grow, 25 * grow) if cluster_bigger else (25 * grow, 40 * grow)
    rng = np.random.default_rng(0)
    return {"found": True, "hidden_coords": rng.normal(size=(300, 2)), "outputs": rng.integers(0, 2, 300),
            "explained_percent": np.array([50.0, 20.0]), "cluster_idx": 100, "transition_idx": 140,
            "attempts": 1, "gammas": np.array([0.0, 0.5, 1.0]),
            "cluster_trace": c, "transition_trace": t,
            "cluster_mean_dist": np.sqrt(c), "transition_mean_dist": np.sqrt(t),
            "cluster_traj": rng.normal(size=(G, 4, T + 1, 2)), "transition_traj": rng.normal(size=(G, 4, T + 1, 2)),
            "meta": {}}


def fake_subspaces(seed=0):
    rng = np.random.default_rng(seed)
    a = {"global_explained_percent": np.array([40.0, 30, 10, 5]), "noise_stds": STDS,
         "output_counts": np.array([5, 5, 5])}
    for lab in ("01", "12"):
        a[f"p{lab}_explained_percent"] = np.array([70.0, 20, 10])
        a[f"p{lab}_n_states"] = 400
        a[f"p{lab}_n_runs"] = 1
        a[f"p{lab}_run0_coords"] = rng.normal(size=(120, 3))
        a[f"p{lab}_run0_outputs"] = rng.integers(0, 2, 120)
        for j in range(len(STDS)):
            a[f"p{lab}_contour{j}"] = STDS[j] * rng.normal(size=(200 if j else 5, 3))  # level 0: too few points
    loc = fake_local(300)
    for k in ("residency", "sign_changes", "n_unstable", "max_prob", "groups"):
        a[f"res01_{k}"] = loc[k]
    a["res01_coords"] = rng.normal(size=(300, 3))
    a["res01_explained_percent"] = np.array([60.0, 30, 10])
    a["meta"] = {"pairs": ["01", "12"], "residency_pairs": ["01", "12"],
                 "residency_errors": {"12": "no run of outputs in (1, 2) longer than 200 steps"}}
    return a


# ----------------------------------------------------------------------------- measures

def test_switch_rate_and_radius_fit():
    assert switch_rate([0, 0, 1, 1, 1, 0]) == pytest.approx(2 / 5)
    lin = radius_fit(STDS, 0.7 * STDS)
    assert lin["slope"] == pytest.approx(0.7) and lin["r2"] == pytest.approx(1.0) and lin["ratio_max_dev"] < 1e-12
    quad = radius_fit(STDS, STDS ** 2)
    assert quad["ratio_max_dev"] > 0.9  # radius / std is far from constant


def test_group_means_and_min_states():
    g = np.array([0, 0, 1, 2, 2, 2, -1])
    v = np.array([1.0, 3, 5, 0, 0, 3, 100])
    m = group_means(g, v)
    assert (m["transition"], m["kick"], m["cluster"]) == (2.0, 5.0, 1.0)  # OTHER (-1) ignored
    assert (m["n_transition"], m["n_kick"], m["n_cluster"]) == (2, 1, 3)
    assert np.isnan(group_means(g, v, min_states=2)["kick"])


def test_save_load_round_trip(tmp_path):
    p = tmp_path / "a" / "x.npz"
    save_analysis(p, {"x": np.arange(3), "flag": False, "rate": 0.25}, {"model": "m", "vals": np.array([1, 2])})
    a = load_analysis(p)
    assert a["x"].tolist() == [0, 1, 2] and a["flag"] is False and a["rate"] == 0.25
    assert a["meta"] == {"model": "m", "vals": [1, 2]}
    assert not list(tmp_path.glob("a/*.tmp"))


def test_divergence_guard():
    import torch

    from rnnhmm.model import Weights

    assert divergence_message([1.0, 5.0, 3.0]) is None
    msg = divergence_message([1.0, 1e3, 1e7, np.inf])
    assert msg.startswith("diverged") and "at step 2 of 4" in msg and "1e+03" in msg
    assert divergence_message([1.0, np.nan]).startswith("diverged")
    H = 4
    expanding = Weights(torch.ones(H, 2), 1.5 * torch.eye(H), torch.eye(3, H))  # ReLU(1.5 h + x) grows
    contracting = Weights(torch.ones(H, 2), 0.5 * torch.eye(H), torch.eye(3, H))
    assert probe_divergence(expanding, 200, seed=1).startswith("diverged")
    assert probe_divergence(contracting, 200, seed=1) is None


def _failed(error="diverged: in the run, |h| exceeds 1e+06 at step 80 of 600"):
    return {"failed": True, "found": False, "meta": {"error": error}}


# ----------------------------------------------------------------------------- claims

def _by_claim(rows):
    return {r["claim"]: r for r in rows}


REF = {"mean": 0.0688, "sd": 0.005, "steps": 300, "repeats": 100}


def test_failed_analyses_give_failing_rows_that_say_why():
    rows = state_space_claims("m", _failed(), REF, TOL) + local_claims("m", _failed(), TOL)
    rows += noise_claims("m", _failed())
    rows = [r for r in rows if r["claim"] != "pca_explained_variance"]   # n/a off the paper's architecture
    assert len(rows) == 4 + 2 + 1 and all(r["outcome"] == "fail" for r in rows)
    assert all(r["ours"].startswith("not analysed: diverged") for r in rows)
    assert noise_claims("m", fake_noise(found=False))[0]["ours"].startswith("not found: locate_areas")


def test_dynamics_claims_collects_every_analysis():
    rows = dynamics_claims({"lin2/h8_d4/s0": fake_state_space()}, {"lin2/h8_d4/s0": fake_local()},
                           {"lin2/h8_d4/s0": fake_noise()}, {"cyclic/h8_d4/s0": fake_subspaces()},
                           {"lin2": REF, "cyclic": REF}, TOL)
    assert len(rows) == 5 + 2 + 1 + 2 * 2
    assert {r["claim"] for r in rows}.isdisjoint({"orbit_radius_linear", "sign_changes_ordered"})  # identities
    sub12 = [r for r in rows if r["model"] == "cyclic/h8_d4/s0 [subspace 12]"]
    assert len(sub12) == 2 and all(r["outcome"] == "fail" and r["ours"].startswith("not found") for r in sub12)


# ----------------------------------------------------------------------------- figure data and plots

def _json_roundtrip(d):
    return json.loads(json.dumps(d))  # strict: no numpy objects left


def test_fig2_data_subsamples_and_truncates_converged_trajectories():
    ss = fake_state_space(L=200, n_pts=300)
    d = _json_roundtrip(fig2_data({"lin2/h8_d4/s0": ss}, {"lin2": 0.0688}, n_traj=4))
    e = d["models"][0]
    noin = np.asarray(e["noin"]["coords"])
    assert noin.shape[0] == 4 and 2 < noin.shape[1] < 201  # 0.7^t converges long before 200 steps
    assert np.abs(noin[:, -1]).max() < 1e-3 * np.ptp(ss["noin_coords"][:4, :, :2])
    assert np.asarray(e["spread"]["proj"]).shape == (5, 300, 2)
    assert e["spread"]["fit"]["r2"] > 0.99 and e["switch"]["hmm"] == 0.0688
    s2 = figS2_data({"lin2/h8_d4/s0": ss, "lin3/h8_d4/s0": ss}, {"lin2": 0.07, "lin3": 0.25}, n_points=50)
    assert np.asarray(s2["models"][1]["spread"]["proj"]).shape == (5, 50, 2)


def test_fig3_histogram_counts_and_bin_residency():
    a = fake_local(n=500)
    e = fig3_data({"lin2/h8_d4/s0": a}, n_points=100)["models"][0]
    assert sum(e["hist"]["counts"]) == 500 and len(e["coords"]) == 100
    edges = np.asarray(e["hist"]["edges"])
    b = 7  # mean RT of one bin, recomputed
    sel = (a["sign_changes"] >= edges[b]) & (a["sign_changes"] < edges[b + 1])
    assert e["hist"]["mean_rt"][b] == pytest.approx(a["residency"][sel].mean(), abs=0.01)
    assert e["unstable_by_group"]["cluster"] == 0.0


def test_performance_entry_is_mean_of_seed_means():
    ms = [{"seed": s, "distance_mean": d, "distance_sd": sd, "transition_sq_diff": np.full((3, 3), s)}
          for s, d, sd in [(0, 3.0, 1.0), (1, 3.4, 1.2)]]
    p = performance_entry("cyclic", ms, {"floor_mean": 3.3, "floor_within_sd": 0.8})
    assert p["rnn_mean"] == pytest.approx(3.2) and p["rnn_sd"] == pytest.approx(1.1)
    assert np.allclose(p["sq_diff"], 0.5)


def test_every_plotter_draws_its_figure_data(tmp_path):
    from rnnhmm.figures.common import get_plotter, save_figure

    ss = {"lin2/h8_d4/s0": fake_state_space(), "lin2/h8_d8/s0": fake_state_space(1)}
    cp = {"lin2": 0.0688, "cyclic": 0.214}
    sub = {"cyclic/h8_d4/s0": fake_subspaces()}
    perf = {"cyclic/h8_d4/s0": performance_entry(
        "cyclic", [{"seed": 0, "distance_mean": 3.0, "distance_sd": 1.0, "transition_sq_diff": np.zeros((3, 3))}],
        {"floor_mean": 3.3, "floor_within_sd": 0.8})}
    data = {
        "fig2": fig2_data(ss, cp), "figS2": figS2_data(ss, cp),
        "fig3": fig3_data({"lin2/h8_d4/s0": fake_local()}),
        "fig4": fig4_data({"lin2/h8_d4/s0": fake_noise(), "lin3/h8_d4/s0": fake_noise(found=False)}),
        "fig8": fig8_data({"cyclic/h8_d4/s0": fake_state_space()}, sub, perf),
    }
    failed = {  # a diverged model in every figure: a message instead of panels
        "fig2": fig2_data({**ss, "lin3/h8_d4/s0": _failed()}, cp),
        "figS2": figS2_data({"lin3/h8_d4/s0": _failed(), **ss}, cp),
        "fig3": fig3_data({"lin2/h8_d4/s0": fake_local(), "lin3/h8_d4/s0": _failed()}),
        "fig8": fig8_data({"cyclic/h8_d4/s0": _failed(), "fully/h8_d4/s0": fake_state_space()},
                               {"cyclic/h8_d4/s0": fake_subspaces(), "fully/h8_d4/s0": _failed()}, perf),
    }
    f8 = data["fig8"]["models"][0]
    assert [len(c) for c in f8["pairs"][0]["contours"]][:2] == [5, 200]
    assert f8["residency"][1]["failed"] and not f8["residency"][0]["failed"]
    assert data["fig4"]["models"][1]["message"].endswith("attempt 1: no fast state")
    for name, d in data.items():
        fig = get_plotter(name)(_json_roundtrip(d))
        assert fig.get_suptitle()
        labels = [ax.get_xlabel() for ax in fig.axes]
        if name in ("fig2", "figS2", "fig3"):
            assert any(re.match(r"PC1 \(\d+\.\d%\)", x) for x in labels)
        if name == "fig2":  # noise levels are standard deviations, and the 5-point level of fig8 is skipped
            texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
            assert "σ = 4" in texts
        if name == "fig8":
            texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
            assert any("skipped: 5 pts" in t for t in texts)
        save_figure(fig, tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    for name, d in failed.items():
        fig = get_plotter(name)(_json_roundtrip(d))
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("diverged" in t for t in texts), name
        save_figure(fig, tmp_path / f"{name}_failed.png")


# ----------------------------------------------------------------------------- config

def test_configs_select_trained_models():
    quick = load_config(ROOT / "config/quick.yaml")
    sets = dynamics_models(quick)
    assert len(sets["grid"]) == 8 and all(m.endswith("/s0") for m in sets["grid"])
    assert set(sets["models"]) <= set(sets["state_space"]) and len(sets["fig8_models"]) == 2
    paper = load_config(ROOT / "config/config.yaml")
    assert len(dynamics_models(paper)["grid"]) == 48
    check_dynamics_config(paper)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["dynamics"]["models"].append("lin2/h99_d8/s0"),
     "invalid config at config.dynamics.models: 'lin2/h99_d8/s0' is not a trained model"),
    (lambda c: c["dynamics"]["grid"].update(hmms=["lin9"]),
     "invalid config at config.dynamics.grid.hmms: unknown HMM 'lin9'"),
    (lambda c: c["dynamics"]["grid"].update(seed=7), "no trained model of HMM 'lin2' with seed 7"),
])
def test_check_config_rejects_untrained_models(edit, message):
    cfg = copy.deepcopy(yaml.safe_load((ROOT / "config/quick.yaml").read_text()))
    edit(cfg)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        validate_config(cfg)  # the dynamics section's check is a step of validation
    assert "\n" not in str(err.value)


def test_schema_rejects_unknown_dynamics_key():
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg["dynamics"]["local"]["stepz"] = 3
    with pytest.raises(ConfigError, match=r"config.dynamics.local: Additional properties"):
        validate_config(cfg)


# ----------------------------------------------------------------------------- workflow

def smk(*args, cwd, timeout=1800):
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def job_counts(text):
    block = text[text.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def test_paper_config_plans_the_dynamics_analyses(tmp_path):
    out = smk("fig2", "fig3", "fig4", "fig8", "figS2", "results/claims/dynamics.csv", "-n", "--cores", "8",
              "--directory", str(tmp_path), "--configfile", str(ROOT / "config/config.yaml"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    n = job_counts(out.stdout + out.stderr)
    # the seed-0 grid (fig2's models included) + fully + cyclic, and (dynamics.every_seed) seeds 1
    # and 2 of the listed models' cells for the claims: 4 chains + fully + cyclic, x 2; and the null
    # networks of each (rnnhmm.model_sets.null_ids: the shuffle of every one, the plateau snapshot of
    # those that keep per-epoch weights)
    sets = dynamics_models(load_config(ROOT / "config/config.yaml"))
    assert len(sets["claims_state_space"]) == 48 + 2 + 2 * 6
    assert n["dyn_state_space"] == 48 + 2 + 2 * 6 + len(sets["null_state_space"])
    assert len(sets["null_models"]) >= len(sets["claims_models"]) == 4 * 3
    assert n["dyn_local"] == n["dyn_noise"] == 4 * 3 + len(sets["null_models"])
    assert n["dyn_subspaces"] == 2 * 3 + len(sets["null_fig8"])
    assert all(n[f] == 1 for f in ("fig2", "fig3", "fig4", "fig8", "figS2", "dynamics_claims"))


def test_untrained_dynamics_model_fails_before_any_job(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg["dynamics"]["fig8_models"] = ["fully/h16_d2/s0"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = smk("fig8", "--cores", "1", "--directory", str(tmp_path), "--configfile", str(bad), cwd=tmp_path)
    assert out.returncode != 0
    assert "invalid config at config.dynamics.fig8_models: 'fully/h16_d2/s0' is not a trained model" in out.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_quick_dynamics_figures_end_to_end(quick_run):
    """Reuses the session's quick run (tests/conftest.py), which built these targets among all the
    others; asks for them here (nothing left to do) and reads them. Changes nothing in it."""
    import pandas as pd

    tmp_path = quick_run.check()
    base = ["--cores", "2", "--directory", str(tmp_path), "--configfile", str(ROOT / "config/quick.yaml")]
    figs = ["fig2", "fig3", "fig4", "fig8", "figS2"]
    out = smk(*figs, "results/claims/dynamics.csv", *base, cwd=tmp_path)  # targets first: --configfile takes a list
    assert out.returncode == 0, out.stderr[-5000:]
    assert "Nothing to be done" in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]
    for fig in figs:
        for ext in ("pdf", "png"):
            assert (tmp_path / f"results/figures/{fig}.{ext}").stat().st_size > 10_000
        assert (tmp_path / f"results/figure_data/{fig}.json").exists()
    files = list((tmp_path / "results/analysis/state_space").glob("*/*/*.npz"))
    assert len([f for f in files if "-null-" not in f.name]) == 10
    nulls = dynamics_models(load_config(ROOT / "config/quick.yaml"))["null_state_space"]
    found = sorted(f"{f.parent.parent.name}/{f.parent.name}/{f.stem}" for f in files if "-null-" in f.name)
    assert found == sorted(nulls) and nulls
    claims = pd.read_csv(tmp_path / "results/claims/dynamics.csv", keep_default_na=False)
    assert len(claims) > 0 and set(claims.columns) >= {"claim", "model", "expected", "ours", "outcome"}
    expected = {"single_stable_fixed_point", "orbit_single_rotation", "cluster_more_noise_sensitive"}
    assert expected <= set(claims["claim"])
    assert "orbit_radius_linear" not in set(claims["claim"])  # an identity, not a claim (docs/claims.md)
    from rnnhmm.figures.common import read_figure_provenance

    prov = read_figure_provenance(tmp_path / "results/figures/fig2.png")
    assert prov["params"]["figure"] == "fig2" and len(prov["inputs"]["params"]["analyses"]) == 4
    # restyling a dynamics figure reruns only its plot rule
    out = smk("fig3", *base, "-n", "--forcerun", "fig3", cwd=tmp_path)
    counts = job_counts(out.stdout + out.stderr)
    assert counts.get("fig3") == 1 and not any(k.startswith("dyn_") for k in counts)
