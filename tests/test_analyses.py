"""Unit tests of the per-analysis ``run`` functions (rnnhmm.analyses.*) and the job / file helpers
that the workflow scripts call: tiny random networks, seconds each."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rnnhmm.analyses import evolution, interventions, kick, local, noise, readout, state_space, subspaces
from rnnhmm.io import atomic_save, atomic_write, job, load_analysis, read_json, save_analysis, write_json
from rnnhmm.model import Weights
from rnnhmm.threads import set_threads, single_intraop_thread

H, D, K = 12, 3, 3


def weights(seed=0, radius=0.9, dtype=torch.float32) -> Weights:
    g = torch.Generator().manual_seed(seed)
    W_hh = torch.randn(H, H, generator=g, dtype=torch.float64)
    W_hh = (W_hh * radius / torch.linalg.eigvals(W_hh).abs().max()).to(dtype)
    return Weights(torch.randn(H, D, generator=g, dtype=dtype), W_hh, torch.randn(K, H, generator=g, dtype=dtype))


def exploding(gain=3.0) -> Weights:
    w = weights()
    return Weights(w.W_ih, gain * torch.eye(H), w.W_out)


STATE_SPACE = {"pca_steps": 200, "no_input_trajectories": 5, "no_input_steps": 20, "fixed_point_iters": 30,
               "slow_points": 5, "input_trajectories": 1, "input_steps": 30, "contour_steps": 100,
               "pca_components": 4, "converge_tol": 1e-3, "slow_speed": 0.05, "noise_stds": [0.5, 1.0, 2.0],
               "common_noise": False}
LOCAL = {"rollouts": 3, "max_steps": 10, "warmup": 5}
NOISE = {"steps": 200, "trials": 5, "max_attempts": 2, "trajectories": 4, "threshold": 9, "tf": 5, "horizon": 3,
         "gammas": [0.0, 1.0]}
SUBSPACES = {"steps": 300, "min_run": 3, "contour_steps": 100, "residency_steps": 200, "residency_max_states": 50,
             "pairs": [[0, 1], [1, 2]], "residency_pairs": [[0, 1]]}
KICK = {"T": 200, "n_rollouts": 3, "max_steps": 10, "max_per_group": 2, "population_size": 3, "activity_steps": 50,
        "warmup": 5, "theta": 1.0, "eps": 0.5, "mean_activity_steps": 40}
INTERVENTIONS = {"mu_step": 0.5, "T": 60, "noise_topk": 3, "control_topk": 2, "mu_max": 2.0, "show_mus": [0.0, 1.0],
                 "window": 5, "re_tol": 0.1, "im_min": 0.06, "random_sets": 2, "noise_seeds": 2}
EVOLUTION = {"stride": 1, "T": 100, "trials": 2, "pca_steps": 20, "converged_last": 2, "warmup": 5, "tdh2": 3,
             "bifurcation_threshold": 0.02, "n_pca_epochs": 2, "onset_min_fraction": 0.9}


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


def test_state_space_run_is_deterministic_and_saveable(tmp_path):
    arrays, meta = state_space.run(weights(), STATE_SPACE, seed=3, model="lin2/h12_d3/s0")
    assert meta == {"model": "lin2/h12_d3/s0", "analysis": "state_space"}
    assert arrays["spread_radius"].shape == (3,) and arrays["noin_coords"].shape[-1] == 3
    assert arrays["zero_coords"].shape == (3,) and 0 < arrays["explained_percent"][:3].sum() <= 100 + 1e-9
    again, _ = state_space.run(weights(), STATE_SPACE, seed=3, model="lin2/h12_d3/s0")
    _same(arrays, again)
    save_analysis(tmp_path / "a.npz", arrays, meta)
    back = load_analysis(tmp_path / "a.npz")
    assert back["meta"] == meta and back["classes_visited"] == arrays["classes_visited"]


def test_state_space_run_records_divergence():
    logged = []
    arrays, meta = state_space.run(exploding(), STATE_SPACE, seed=0, log=logged.append)
    assert arrays == {"failed": True} and meta["error"].startswith("diverged") and logged == [meta["error"]]


def test_local_run_groups_every_state():
    arrays, meta = local.run(weights(), LOCAL, seed=1, steps=80, model="m")
    assert meta == {"model": "m", "analysis": "local", "steps": 80}
    assert len(arrays["groups"]) == len(arrays["residency"]) == len(arrays["n_unstable"])
    assert set(np.unique(arrays["groups"])) <= {-1, 0, 1, 2} and arrays["coords"].shape[1] == 2
    failed, meta = local.run(exploding(), LOCAL, seed=1, steps=80)
    assert failed == {"failed": True} and "diverged" in meta["error"]


def test_noise_run_found_or_says_why():
    arrays, meta = noise.run(weights(radius=0.95), NOISE, seed=4, model="m")
    assert meta["analysis"] == "noise"
    if arrays["found"]:
        assert arrays["cluster_trace"].shape[0] == len(NOISE["gammas"])
        assert arrays["transition_traj"].shape[-1] == 2 and arrays["cluster_trace_boot_sd"].shape == (2,)
    else:
        assert meta["error"]
    failed, meta = noise.run(exploding(), NOISE, seed=4)
    assert failed == {"found": False} and "diverged" in meta["error"]


def test_subspaces_run_keys():
    arrays, meta = subspaces.run(weights(radius=0.95), SUBSPACES, [0.5, 1.0], LOCAL, seed=5, model="m")
    assert meta["pairs"] == ["01", "12"] and meta["residency_pairs"] == ["01"]
    assert arrays["output_counts"].sum() == SUBSPACES["steps"] and len(arrays["noise_stds"]) == 2
    for k in meta["pairs"]:
        assert f"p{k}_n_runs" in arrays


def test_kick_run_record_is_json(tmp_path):
    out = kick.run(weights(dtype=torch.float64), KICK, seed=2, model="lin2/h12_d3/s0")
    assert out["model"] == "lin2/h12_d3/s0" and out["hidden"] == H and len(out["groups"]) == 2
    assert set(out["region_counts"]) == {"transition", "kick", "cluster", "other"}
    assert sum(out["region_counts"].values()) == KICK["T"] - 1
    assert len(out["mean_activity"]["outputs"]) == KICK["mean_activity_steps"]
    write_json(out, tmp_path / "kick.json")
    assert read_json(tmp_path / "kick.json")["groups"] == out["groups"]
    # each noise run's own selection (and, where both its groups exist, their contrasts)
    assert out["run_contrasts"] == []          # one noise run: nothing to compare
    runs = kick.run(weights(dtype=torch.float64), {**KICK, "noise_seeds": 2}, seed=2, model="m")["run_contrasts"]
    assert len(runs) == 2
    for r in runs:
        assert len(r["groups"]) == 2 and (("kick_contrast" in r) == bool(r["groups"][0] and r["groups"][1]))


def test_interventions_run_sweeps_each_group():
    kick_record = {"hmm": "lin2", "groups": [[0, 1], []], "group_status": ["selected", "empty"]}
    out = interventions.run(weights(dtype=torch.float64), kick_record, INTERVENTIONS, seed=6, model="m")
    assert out["mus"] == [0.0, 0.5, 1.0, 1.5, 2.0] and out["show_mus"] == [0.0, 1.0]
    g1, g2 = out["groups"]
    assert g2["skipped"] == "kick group is empty"
    assert set(g1["conditions"]) == {"kick", "noise_projection", "control"}
    kc = g1["conditions"]["kick"]
    assert kc["targets"] == [0, 1] and len(kc["pairs_mean"]) == 5 and len(kc["trajectories"]["1"]) == INTERVENTIONS["T"]
    with pytest.raises(ValueError, match="must contain 1"):
        interventions.run(weights(dtype=torch.float64), kick_record, {**INTERVENTIONS, "mu_step": 0.3}, seed=6,
                          model="m")


def test_evolution_run_from_snapshots():
    snaps = [weights(seed=s, radius=r) for s, r in ((0, 0.5), (1, 0.9), (2, 1.1))]
    evo = {"epochs": [1, 2, 3], "weight_ih": torch.stack([w.W_ih for w in snaps]),
           "weight_hh": torch.stack([w.W_hh for w in snaps]), "readout": torch.stack([w.W_out for w in snaps])}
    blob = {"val_loss": [1.0, 0.9, 0.5], "train_loss": [1.1, 0.95, 0.6]}
    out = evolution.run(blob, evo, EVOLUTION, seed=7, model="lin2/h12_d3/s0", hmm="lin2")
    assert out["epochs"] == [1, 2, 3] and out["hmm"] == "lin2" and len(out["transition_rate"]) == 3
    assert set(out["onsets"]) == {"unstable_fraction", "complex_fraction"}
    assert len(out["pca"]["epochs"]) == len(out["pca"]["coords"])
    with pytest.raises(ValueError, match="no per-epoch weights"):
        evolution.run(blob, {"epochs": []}, EVOLUTION, seed=7, model="m", hmm="lin2")


def test_readout_run_rows():
    ws = [weights(seed=0, dtype=torch.float64), exploding(1e3).double()]  # overflows float64 within 200 steps
    rows = readout.run(["lin2/h12_d3/s0", "lin2/h12_d3/s1"], ws, {"lin2": 2}, {"n_steps": 200}, seed=0)
    assert [r["seed"] for r in rows] == [0, 1] and rows[0]["states"] == 2
    assert rows[0]["error"] is None and 0 <= rows[0]["mean_projection"] <= 1
    assert rows[1]["mean_projection"] is None and rows[1]["error"]


def test_job_logs_sets_threads_and_times(tmp_path):
    sm = SimpleNamespace(log=[str(tmp_path / "logs" / "job.log")], threads=1)
    before = torch.get_num_threads()
    try:
        with job(sm, torch_threads=True) as log:
            log("hello")
            assert torch.get_num_threads() == 1
            prov = log.provenance({"a": 1}, 5)
        assert prov["params"] == {"a": 1} and prov["seed"] == 5 and prov["wall_time_s"] >= 0
        assert "hello" in (tmp_path / "logs" / "job.log").read_text()
    finally:
        set_threads(before)


def test_single_intraop_thread_restores():
    before = torch.get_num_threads()
    with single_intraop_thread():
        assert torch.get_num_threads() == 1
        with single_intraop_thread():  # nested: no-op
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_atomic_writers(tmp_path):
    atomic_write(b"abc", tmp_path / "x.bin")
    assert (tmp_path / "x.bin").read_bytes() == b"abc" and not (tmp_path / "x.bin.tmp").exists()
    atomic_save({"a": torch.ones(2)}, tmp_path / "sub" / "y.pt")
    assert torch.load(tmp_path / "sub" / "y.pt")["a"].sum() == 2


def test_every_figure_has_one_plotter_and_the_style_is_applied():
    import matplotlib

    from rnnhmm.figures.common import get_plotter
    from rnnhmm.figures.style import STYLE

    assert STYLE.exists()
    assert matplotlib.get_backend().lower() == "agg"
    for name in ("fig1", "figS1", "fig2", "fig3", "fig4", "fig8", "figS2", "fig5", "fig6", "fig7", "figS3", "figS4"):
        assert callable(get_plotter(name))
    with pytest.raises(KeyError):
        get_plotter("fig99")


def test_topk_scales_with_the_hidden_size():
    """Counts stay counts; fractions (the schema's defaults: the paper's 60 and 35 of 150) scale with H."""
    assert interventions.topk_of(60, 150) == 60 and interventions.topk_of(60, 50) == 50
    assert interventions.topk_of(0.4, 150) == 60 and interventions.topk_of(0.4, 50) == 20
    assert interventions.topk_of(0.2333, 150) == 35 and interventions.topk_of(0.2333, 50) == 12
    assert interventions.topk_of(0, 50) == 0 and interventions.topk_of(0.01, 16) == 1
    with pytest.raises(ValueError):
        interventions.topk_of(-1, 50)


def test_topk_defaults_are_fractions_of_the_hidden_size():
    from pathlib import Path

    from rnnhmm.config import load_config, validate_config
    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "quick.yaml")
    del cfg["mechanism"]["interventions"]["noise_topk"], cfg["mechanism"]["interventions"]["control_topk"]
    iv = validate_config(cfg)["mechanism"]["interventions"]
    assert (iv["noise_topk"], iv["control_topk"]) == (0.4, 0.2333)
    cfg["mechanism"]["interventions"]["noise_topk"] = 1.5
    with pytest.raises(Exception, match="noise_topk"):
        validate_config(cfg)
