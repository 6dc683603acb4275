"""Models trained elsewhere (rnnhmm.external_config, rnnhmm.external_weights,
rnnhmm.training.external; docs/pipeline.md "Analysing models trained elsewhere"): a tree in the
reference's TrainedModels/ layout, built here exactly as the reference writes it
(``torch.save(model.state_dict(), path)`` of a module with ``rnn`` = nn.RNN(relu, bias False,
batch_first) and ``fc`` = nn.Linear(bias False); config.json as paper_spec C.6), is imported without
training; every bad file is refused before any job in one line naming it."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from external_support import HMMS, ROOT, D, H, full_check, refusal, single_config, with_quick_analyses
from torch import nn

from rnnhmm.claims.mechanism import no_history_claims
from rnnhmm.config import ConfigError, expand_models, validate_config
from rnnhmm.external_config import external_entries
from rnnhmm.hmm import cyclic
from rnnhmm.training.grouping import training_groups

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


class RefNet(nn.Module):
    """The reference's network (paper_spec B): nn.RNN relu bias-free, then a bias-free readout."""

    def __init__(self, d=D, h=H, k=3, nonlinearity="relu", bias=False):
        super().__init__()
        self.rnn = nn.RNN(input_size=d, hidden_size=h, num_layers=1, nonlinearity=nonlinearity, batch_first=True,
                          bias=bias)
        self.fc = nn.Linear(h, k, bias=bias)

    def forward(self, x):
        return self.fc(self.rnn(x)[0])


def reference_config(states, seq_len, hidden, input_, **extra) -> dict:
    """config.json as the reference writes it (C.6: key order, json.dumps indent 4; the paper's
    configs, HMMTwo..HMMFive, train with init false and carry weight_decay, pretrained_model_path)."""
    d = {"states": states, "outputs": 3, "stay_prob": 0.95, "target_prob": 0.05, "transition_method": "target_prob",
         "emission_method": "linear", "custom_transition_matrix": None, "custom_emission_matrix": None,
         "num_seq": 30000, "seq_len": seq_len, "input_size": input_, "hidden_size": hidden, "num_layers": 1,
         "biased": [False, False], "batch_size": 4096, "epochs": 500, "learning_rates": [0.001], "tau": 1.0,
         "grad_clip": 0.9, "init": False, "weight_decay": 0.0, "pretrained_model_path": None}
    d.update(extra)
    return d


def brief_training(net: RefNet, epochs: int, evo: Path | None, seed: int):
    """A few Adam steps (the output frequencies towards a sticky target): briefly trained weights;
    with ``evo`` each epoch saved as models/evolution/model_epoch_{k}.pth (k = 1..epochs)."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for k in range(1, epochs + 1):
        x = torch.randn(32, 20, net.rnn.input_size, generator=g)
        p = torch.softmax(net(x), -1)
        loss = ((p[:, 1:] - p[:, :-1]) ** 2).mean() + (p.mean((0, 1)) - torch.tensor([0.45, 0.1, 0.45])).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if evo is not None:
            evo.mkdir(parents=True, exist_ok=True)
            torch.save(net.state_dict(), evo / f"model_epoch_{k}.pth")


def make_tree(root: Path, epochs: int = 6) -> Path:
    """TrainedModels/ with Two/hidden_16/input_8/seed_0 (evolution folder, seed marker) and
    Cyclic/Seed 0 (custom matrices in its config.json)."""
    torch.manual_seed(0)
    two = root / "Two" / f"hidden_{H}" / f"input_{D}" / "seed_0"
    (two / "models").mkdir(parents=True)
    net = RefNet()
    brief_training(net, epochs, two / "models" / "evolution", 0)
    torch.save(net.state_dict(), two / "models" / "2HMM_3Outputs_linear_30kData_0.001lr_10.0Loss.pth")
    (two / "config.json").write_text(json.dumps(reference_config(2, 100, H, D), indent=4))
    (two / "seed_7.txt").write_text("\n\n")
    cyc = root / "Cyclic" / "Seed 0"
    (cyc / "models").mkdir(parents=True)
    net = RefNet()
    brief_training(net, 3, None, 1)
    torch.save(net.state_dict(), cyc / "models" / "4HMM_3Outputs_linear_30kData_0.001lr_5.5Loss.pth")
    c = cyclic()
    (cyc / "config.json").write_text(json.dumps(reference_config(
        4, 40, H, D, custom_transition_matrix=c.transition.tolist(), custom_emission_matrix=c.emission.tolist(),
        grad_clip=0.3, init=False, weight_decay=0, pretrained_model_path=None), indent=4))
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("ref") / "TrainedModels")


def tree_config(tree: Path) -> dict:
    return {"hmms": copy.deepcopy(HMMS),
            "external_tree": {"path": str(tree), "hmms": {"Two": "lin2", "Cyclic": "cyclic"}}}


# ----------------------------------------------------------------------------- the tree

def test_tree_is_read_into_models_that_are_not_trained(tree):
    cfg = full_check(tree_config(tree))
    ids = [m.id for m in expand_models(cfg)]
    assert ids == ["cyclic/h16_d8/s0", "lin2/h16_d8/s0"]
    assert training_groups(cfg) == []
    ext = external_entries(cfg)
    assert ext["lin2/h16_d8/s0"]["evolution"].endswith("models/evolution")
    assert ext["lin2/h16_d8/s0"]["rng_seed"] == 7
    assert "evolution" not in ext["cyclic/h16_d8/s0"]
    # defaults come from these models: the evolution analysis only where there are per-epoch weights
    assert cfg["mechanism"]["evolution"]["models"] == ["lin2/h16_d8/s0"]
    # validating the validated config again (as a training job does) gives the same models
    assert [m.id for m in expand_models(validate_config(cfg))] == ids


def test_tree_filters_and_side_by_side_with_our_own(tree):
    cfg = tree_config(tree)
    cfg["hmms"]["ref_lin2"] = cfg["hmms"]["lin2"]
    cfg["external_tree"]["hmms"] = {"Two": "ref_lin2"}
    cfg["models"] = [{"name": "ours", "hmms": ["lin2"], "hidden": [H], "input": [D], "seeds": [0]}]
    cfg = full_check(cfg)
    assert [m.id for m in expand_models(cfg)] == ["lin2/h16_d8/s0", "ref_lin2/h16_d8/s0"]
    assert [g.id for g in training_groups(cfg)] == ["lin2/h16_d8/s0"]
    filt = tree_config(tree)
    filt["external_tree"]["seeds"] = [3]
    assert "no model of" in refusal(filt)


def test_same_id_ours_and_theirs_is_refused(tree):
    cfg = tree_config(tree)
    cfg["models"] = [{"name": "ours", "hmms": ["lin2"], "hidden": [H], "input": [D], "seeds": [0]}]
    msg = refusal(cfg)
    assert "lin2/h16_d8/s0 is both" in msg and "another HMM name" in msg


def test_tree_mapped_to_the_wrong_hmm_is_refused(tree):
    cfg = tree_config(tree)
    cfg["hmms"]["lin3"] = {"kind": "linear_chain", "states": 3, "seq_len": 20}
    cfg["external_tree"]["hmms"] = {"Two": "lin3"}
    msg = refusal(cfg)
    assert "config.json" in msg and "2 HMM states" in msg and "'lin3'" in msg


def test_reference_config_saying_tanh_biases_or_layers_is_refused(tmp_path, tree):
    import shutil

    for extra, needle in (({"nonlinearity": "tanh"}, "nonlinearity 'tanh'"),
                          ({"biased": [True, False]}, "biased [True, False]"),
                          ({"num_layers": 2}, "num_layers 2"),
                          ({"hidden_size": 50}, "hidden_size 50 disagrees")):
        t = tmp_path / f"t{len(list(tmp_path.iterdir()))}"
        shutil.copytree(tree, t)
        rc = t / "Two" / f"hidden_{H}" / f"input_{D}" / "seed_0" / "config.json"
        rc.write_text(json.dumps({**json.loads(rc.read_text()), **extra}, indent=4))
        msg = refusal(tree_config(t))
        assert str(rc) in msg and needle in msg, msg


# ----------------------------------------------------------------------------- single files

def save(tmp_path, name, obj) -> Path:
    p = tmp_path / name
    torch.save(obj, p)
    return p


def test_single_state_dict_is_accepted(tmp_path):
    p = save(tmp_path, "ok.pth", RefNet().state_dict())
    cfg = full_check(single_config(p))
    assert [m.id for m in expand_models(cfg)] == ["lin2/h16_d8/s0"] and training_groups(cfg) == []


def test_missing_key_is_refused(tmp_path):
    sd = RefNet().state_dict()
    del sd["fc.weight"]
    p = save(tmp_path, "missing.pth", sd)
    msg = refusal(single_config(p))
    assert str(p) in msg and "missing fc.weight" in msg


def test_extra_key_is_refused(tmp_path):
    sd = RefNet().state_dict()
    sd["rnn.weight_ih_l1"] = torch.zeros(H, H)
    p = save(tmp_path, "extra.pth", sd)
    msg = refusal(single_config(p))
    assert str(p) in msg and "unexpected rnn.weight_ih_l1" in msg


def test_biases_are_refused(tmp_path):
    p = save(tmp_path, "biased.pth", RefNet(bias=True).state_dict())
    msg = refusal(single_config(p))
    assert str(p) in msg and "has biases" in msg and "rnn.bias_ih_l0" in msg


def test_wrong_number_of_outputs_is_refused(tmp_path):
    p = save(tmp_path, "k4.pth", RefNet(k=4).state_dict())
    msg = refusal(single_config(p))
    assert str(p) in msg and "4 readout rows" in msg and "HMM 'lin2' has 3 outputs" in msg


def test_hidden_or_input_disagreeing_with_the_config_is_refused(tmp_path):
    p = save(tmp_path, "h.pth", RefNet().state_dict())
    assert "the config says H = 32" in refusal(single_config(p, hidden=32))
    assert "the config says d = 4" in refusal(single_config(p, input_=4))


def test_pickle_that_needs_code_is_refused(tmp_path):
    p = save(tmp_path, "module.pth", RefNet())  # the whole module, not its state_dict
    msg = refusal(single_config(p))
    assert str(p) in msg and "needs code to load" in msg and "state_dict()" in msg


def test_not_a_torch_file_and_missing_file_are_refused(tmp_path):
    p = tmp_path / "junk.pth"
    p.write_bytes(b"not a torch file")
    assert "not a torch file" in refusal(single_config(p))
    assert "no such file" in refusal(single_config(tmp_path / "absent.pth"))


def test_bad_evolution_snapshot_is_refused(tmp_path):
    p = save(tmp_path, "ok.pth", RefNet().state_dict())
    evo = tmp_path / "evolution"
    evo.mkdir()
    torch.save(RefNet().state_dict(), evo / "model_epoch_1.pth")
    torch.save(RefNet(h=8).state_dict(), evo / "model_epoch_2.pth")
    msg = refusal(single_config(p, evolution=str(evo)))
    assert "model_epoch_2.pth" in msg and "the config says H = 16" in msg


def test_snakemake_refuses_before_any_job(tmp_path):
    p = save(tmp_path, "biased.pth", RefNet(bias=True).state_dict())
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(single_config(p)))
    out = subprocess.run([*SNAKEMAKE, "--configfile", str(cfg), "--cores", "1", "--directory", str(tmp_path)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode != 0
    lines = [ln for ln in (out.stdout + out.stderr).splitlines() if "refused external model" in ln]
    assert lines and str(p) in lines[0] and "has biases" in lines[0]
    assert not (tmp_path / "results").exists()


def test_no_history_claims_become_na(tmp_path):
    ev = tmp_path / "e.json"
    ev.write_text(json.dumps({"model": "lin2/h16_d8/s0", "val_loss": []}))
    rows = [{"claim": "loss_drop_at_bifurcation", "model": "lin2/h16_d8/s0", "outcome": "fail", "reason": ""},
            {"claim": "complex_pairs_emerge", "model": "lin2/h16_d8/s0", "outcome": "pass", "reason": ""}]
    out = no_history_claims(rows, [ev])
    assert out[0]["outcome"] == "n/a" and "no training loss history" in out[0]["reason"]
    assert out[1]["outcome"] == "pass"


# ----------------------------------------------------------------------------- end to end

def e2e_config(tree: Path) -> dict:
    """The tree at quick-config analysis sizes (config/quick.yaml's sections, models by default)."""
    return with_quick_analyses(tree_config(tree))


def job_counts(text):
    block = text[text.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


@pytest.mark.workflow
def test_tree_runs_every_figure_and_claim_without_training(tmp_path, tree):
    cfg = tmp_path / "external_tiny.yaml"
    cfg.write_text(yaml.safe_dump(e2e_config(tree)))
    base = [*SNAKEMAKE, "--configfile", str(cfg), "--cores", "2", "--directory", str(tmp_path)]
    dry = subprocess.run([*base, "-n"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout + dry.stderr)
    assert "train" not in counts and counts["import_external"] == 2, counts
    out = subprocess.run(base, cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-5000:]
    assert not (tmp_path / "logs" / "train").exists() and not (tmp_path / "results" / "train_groups").exists()
    figs = sorted(p.stem for p in (tmp_path / "results/figures").glob("*.png"))
    assert figs == sorted([f"fig{i}" for i in range(1, 9)] + ["figS1", "figS2", "figS3", "figS4"]), figs
    claims = pd.read_csv(tmp_path / "results/claims.csv", keep_default_na=False)
    assert set(claims["model"].map(lambda m: m.split(" ")[0])) >= {"lin2/h16_d8/s0", "cyclic/h16_d8/s0"}
    for cid in ("loss_drop_at_bifurcation", "emergence_order"):
        row = claims[(claims["claim"] == cid) & (claims["model"] == "lin2/h16_d8/s0")]
        assert len(row) == 1 and row["outcome"].iloc[0] == "n/a", row.to_dict("records")
        assert "no training loss history" in row["reason"].iloc[0]
    blob = torch.load(tmp_path / "results/models/lin2/h16_d8/s0/model.pt", weights_only=False)
    evo = torch.load(tmp_path / "results/models/lin2/h16_d8/s0/evolution.pt", weights_only=False)
    assert blob["val_loss"] == [] and blob["external"]["external"].endswith("10.0Loss.pth")
    assert evo["epochs"] == [1, 2, 3, 4, 5, 6] and tuple(evo["weight_hh"].shape) == (6, H, H)
    ref = torch.load(next((tree / "Two").rglob("*Loss.pth")), weights_only=True)
    assert torch.equal(blob["last"]["weight_hh"], ref["rnn.weight_hh_l0"])
    summary = pd.read_csv(tmp_path / "results/metrics/summary.tsv", sep="\t")
    assert len(summary) == 2 and np.isfinite(summary["distance_mean"]).all()


def test_load_reference_weights(tmp_path):
    from rnnhmm.external_weights import load_reference_weights

    net = RefNet()
    p = save(tmp_path, "ok.pth", net.state_dict())
    w = load_reference_weights(p, H, D)
    assert torch.equal(w.W_hh, net.rnn.weight_hh_l0.detach()) and w.n_outputs == 3 and w.input_dim == D
    with pytest.raises(ConfigError, match="the config says H = 8"):
        load_reference_weights(p, 8, D)


def test_shipped_example_config_passes_the_schema(tmp_path, monkeypatch):
    """config/external.yaml: valid up to the tree, which is not here (run from its parent folder)."""
    monkeypatch.chdir(tmp_path)
    cfg = yaml.safe_load((ROOT / "config/external.yaml").read_text())
    with pytest.raises(ConfigError, match="config.models.0..external: no such file .*ReverseEngineeredModel"):
        validate_config(cfg)


def test_fully_connected_seed_folders_with_config_or_only_summary(tmp_path):
    """Fully_Connected/Seed 0 has config.json ("fully" / "triangular"); Seed 2 only summary.json
    (no input size: read off the weights' shapes)."""
    root = tmp_path / "TrainedModels"
    for seed in (0, 2):
        f = root / "Fully_Connected" / f"Seed {seed}"
        (f / "models").mkdir(parents=True)
        torch.save(RefNet().state_dict(), f / "models" / "3HMM_3Outputs_triangular_30kData_0.001lr_1.9Loss.pth")
    (root / "Fully_Connected" / "Seed 0" / "config.json").write_text(json.dumps(reference_config(
        3, 30, H, D, transition_method="fully", emission_method="triangular", grad_clip=0.3, init=False,
        weight_decay=0), indent=4))
    (root / "Fully_Connected" / "Seed 2" / "summary.json").write_text(json.dumps(
        {"config_name": "HMMFully_seed2", "hmm": {"states": 3, "outputs": 3, "emission_method": "triangular"},
         "rnn": {"hidden_size": H}}, indent=4))
    cfg = {"hmms": {"fully": {"kind": "fully_connected", "states": 3, "seq_len": 30}},
           "external_tree": {"path": str(root), "hmms": {"Fully_Connected": "fully"}}}
    assert [m.id for m in expand_models(full_check(cfg))] == ["fully/h16_d8/s0", "fully/h16_d8/s2"]
    cfg["hmms"]["fully"]["stay_prob"] = 0.9  # not the HMM its config.json describes
    assert "is not the config's HMM 'fully'" in refusal(cfg)
    cfg["hmms"]["fully"]["stay_prob"] = 0.95
    torch.save(RefNet().state_dict(), root / "Fully_Connected" / "Seed 0" / "models" / "other.pth")
    assert "2 weights files in models/" in refusal(cfg)
