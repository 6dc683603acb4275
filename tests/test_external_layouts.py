"""Models trained by the reference's code in the layouts it writes (rnnhmm.external_layouts, issue 26):
``Experiments/<ts>/<Config>_seed<S>_h<H>_i<D>/`` as ``scripts/train.py`` -> ``Manager.run_experiment``
writes it (config.json of ``HMMTwo.get_config()`` with the sizes of the command line,
``models/<states>HMM_<K>Outputs_<emission>_<n>kData_<lr>lr_<loss>Loss.pth`` = ``torch.save`` of the
state_dict, ``training_results.json``, ``summary.json``, empty ``figs/`` and ``data/``), the
``run_training_evo`` variant (``models/evolution/model_epoch_{k}.pth``, the final weights and
``summary.json`` only), a partial ``git lfs pull`` of the published tree, and one refusal test per
bad file. Seconds, no Snakemake run."""
from __future__ import annotations

import copy
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from external_support import HMMS, ROOT, D, H, full_check, refusal, single_config, with_quick_analyses
from torch import nn

from rnnhmm.claims.mechanism import no_history_claims
from rnnhmm.config import expand_models, validate_config
from rnnhmm.external_config import external_entries
from rnnhmm.hmm import linear_chain
from rnnhmm.training.external import import_model

TS = "20250801_120000"
LFS_POINTER = ("version https://git-lfs.github.com/spec/v1\n"
               "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 95871\n")


class TheirRNN(nn.Module):
    """scripts/rnn.py's RNN as far as its state_dict goes: ``rnn`` (ReLU, bias=biased[0]) and ``fc``."""

    def __init__(self, d=D, h=H, k=3):
        super().__init__()
        self.rnn = nn.RNN(d, h, 1, nonlinearity="relu", batch_first=True, bias=False)
        self.fc = nn.Linear(h, k, bias=False)


def hmm_two_config(hidden=H, input_=D, **changes) -> dict:
    """``HMMTwo.get_config()`` (scripts/config.py, key order and values) with train.py's overrides."""
    c = {"states": 2, "outputs": 3, "stay_prob": 0.95, "target_prob": 0.05, "transition_method": "target_prob",
         "emission_method": "linear", "custom_transition_matrix": None, "custom_emission_matrix": None,
         "num_seq": 30000, "seq_len": 100, "input_size": input_, "hidden_size": hidden, "num_layers": 1,
         "biased": [False, False], "batch_size": 4096, "epochs": 500, "learning_rates": [0.001], "tau": 1.0,
         "grad_clip": 0.9, "init": False, "weight_decay": 0.0, "pretrained_model_path": None}
    c.update(changes)
    return c


def curve(epochs: int, seed: int) -> tuple[list[float], list[float]]:
    """A plausible per-epoch (train, validation) loss curve: a plateau, then a drop."""
    rng = np.random.default_rng(seed)
    base = 20 - 10 / (1 + np.exp(-(np.arange(epochs) - epochs / 2)))
    return (base + rng.normal(0, 0.1, epochs)).tolist(), (base + 0.2 + rng.normal(0, 0.1, epochs)).tolist()


def weights_name(lr, loss, states=2) -> str:
    return f"{states}HMM_3Outputs_linear_30kData_{lr}lr_{loss:.1f}Loss.pth"


def write_run(ts_dir: Path, seed: int, hidden=H, input_=D, name=None, lrs=(0.001,), epochs=12,
              best_lr=None) -> Path:
    """One ``Manager.run_experiment`` folder as train.py names it (``--seed --hidden_size --input_dim``)."""
    run = ts_dir / (name or f"HMMTwo_seed{seed}_h{hidden}_i{input_}")
    for sub in ("models", "figs", "data"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    cfg = hmm_two_config(hidden, input_, learning_rates=list(lrs))
    (run / "config.pkl").write_bytes(pickle.dumps(cfg))
    (run / "config.json").write_text(json.dumps(cfg, indent=4))
    torch.manual_seed(seed)
    net = TheirRNN(input_, hidden)
    train, val = curve(epochs, seed)
    losses = {}
    for i, lr in enumerate(lrs):  # a file each time a learning rate beats the best loss so far
        losses[lr] = min(val) - i * 0.5
        torch.save(net.state_dict(), run / "models" / weights_name(lr, losses[lr]))
    best = best_lr if best_lr is not None else lrs[-1]
    (run / "training_results.json").write_text(json.dumps(
        {"best_loss": losses[best], "best_lr": best, "training_losses": train, "validation_losses": val}, indent=4))
    (run / "summary.json").write_text(json.dumps(
        {"config_name": run.name, "hmm": {"states": 2, "outputs": 3, "emission_method": "linear"},
         "rnn": {"hidden_size": hidden}, "best_loss": losses[best], "best_lr": best,
         "experiment_duration_minutes": 1.5, "start_time": "2025-08-01 12:00:00", "end_time": "2025-08-01 12:01:30",
         "explained_variance": [0.5, 0.3, 0.1]}, indent=4))
    return run


def write_evo_run(ts_dir: Path, seed: int, epochs=5) -> Path:
    """One ``Manager.run_training_evo`` folder: per-epoch weights, the final weights, summary.json only."""
    run = ts_dir / f"HMMTwo_seed{seed}_h{H}_i{D}"
    evo = run / "models" / "evolution"
    evo.mkdir(parents=True)
    (run / "figs").mkdir()
    (run / "data").mkdir()
    torch.manual_seed(seed)
    net = TheirRNN()
    for k in range(1, epochs + 1):
        with torch.no_grad():
            net.rnn.weight_hh_l0.mul_(1.01)
        torch.save(net.state_dict(), evo / f"model_epoch_{k}.pth")
    torch.save(net.state_dict(), run / "models" / weights_name(0.001, 9.7))
    (run / "summary.json").write_text(json.dumps(
        {"config_name": run.name, "hmm": {"states": 2, "outputs": 3, "emission_method": "linear"},
         "rnn": {"hidden_size": H}, "best_loss": 9.7, "learning_rate": 0.001, "experiment_duration_minutes": 2.0,
         "start_time": "2025-08-01 12:00:00", "end_time": "2025-08-01 12:02:00", "explained_variance": [0.6]},
        indent=4))
    return run


@pytest.fixture()
def experiments(tmp_path) -> Path:
    ts = tmp_path / "Experiments" / TS
    write_run(ts, 0)
    write_run(ts, 1)
    write_evo_run(ts, 2)
    return ts


def tree_config(path, hmms=None, **extra) -> dict:
    return {"hmms": copy.deepcopy(HMMS), "external_tree": {"path": str(path), "hmms": hmms or {"HMMTwo": "lin2"},
                                                           **extra}}


# ----------------------------------------------------------------------------- Experiments/<ts>: must pass

def test_untouched_experiments_folder_is_imported(experiments):
    cfg = full_check(tree_config(experiments))
    ext = external_entries(cfg)
    assert sorted(ext) == ["lin2/h16_d8/s0", "lin2/h16_d8/s1", "lin2/h16_d8/s2"]
    s0, s2 = ext["lin2/h16_d8/s0"], ext["lin2/h16_d8/s2"]
    assert s0["external"].endswith("HMMTwo_seed0_h16_i8/models/" + Path(s0["external"]).name)
    assert s0["losses"].endswith("HMMTwo_seed0_h16_i8/training_results.json")
    assert s0["reference_config"].endswith("config.json") and "evolution" not in s0
    assert s2["evolution"].endswith("models/evolution") and "losses" not in s2  # run_training_evo: no curve
    assert s2["reference_config"].endswith("summary.json")
    # Experiments/ itself (every timestamp folder), the layout named, and validated twice: the same models
    for c in (tree_config(experiments.parent), tree_config(experiments, layout="Experiments")):
        assert [m.id for m in expand_models(validate_config(validate_config(c)))] == sorted(ext)


def test_experiments_filters_and_sizes_from_config_json(tmp_path):
    ts = tmp_path / "Experiments" / TS
    write_run(ts, 0)
    write_run(ts, 0, hidden=32, name="HMMTwo_seed0")  # train.py without --hidden_size/--input_dim
    cfg = full_check(tree_config(ts))
    assert sorted(external_entries(cfg)) == ["lin2/h16_d8/s0", "lin2/h32_d8/s0"]
    cfg = full_check(tree_config(ts, hidden=[32]))
    assert sorted(external_entries(cfg)) == ["lin2/h32_d8/s0"]


def test_experiments_filters_apply_before_any_file_is_read(experiments):
    for run in ("HMMTwo_seed1_h16_i8", "HMMTwo_seed2_h16_i8"):  # not pulled: every file an LFS pointer
        for f in (experiments / run).rglob("*"):
            if f.is_file():
                f.write_text(LFS_POINTER)
    cfg = full_check(tree_config(experiments, seeds=[0]))
    assert sorted(external_entries(cfg)) == ["lin2/h16_d8/s0"]
    msg = refusal(tree_config(experiments))
    assert "HMMTwo_seed1_h16_i8" in msg and "Git LFS pointer" in msg and "git lfs pull --include" in msg


def test_import_writes_the_loss_curve_into_model_pt_and_losses_tsv(experiments, tmp_path):
    cfg = full_check(tree_config(experiments, seeds=[0]))
    entry = external_entries(cfg)["lin2/h16_d8/s0"]
    hmm = linear_chain(2)
    rng = np.random.default_rng(0)
    data = tmp_path / "s0.npz"
    np.savez(data, transition=hmm.transition, emission=hmm.emission, start=hmm.start,
             val=rng.integers(0, 3, size=(64, 20)))
    out = tmp_path / "imported"
    import_model(entry, "lin2/h16_d8/s0", data, {"batch_size": 64, "blur": 0.2, "warmup_epochs": 5,
                                                  "warmup_seq_len": 10}, 1, out,
                 lambda params, seed: {"params": params, "seed": seed}, log=lambda *_: None)
    ref = json.loads((experiments / "HMMTwo_seed0_h16_i8" / "training_results.json").read_text())
    blob = torch.load(out / "model.pt", weights_only=False)
    assert blob["val_loss"] == ref["validation_losses"] and blob["train_loss"] == ref["training_losses"]
    assert blob["best_epoch"] == int(np.argmin(ref["validation_losses"])) + 1
    assert blob["best_val"] == min(ref["validation_losses"])
    assert blob["provenance"]["params"]["warmup_epochs"] == 0  # no curriculum in the reference's training
    assert "loss curve (12 epochs)" in blob["plateau"]["message"]
    tsv = pd.read_csv(out / "losses.tsv", sep="\t")
    assert tsv["epoch"].tolist() == list(range(1, 13)) and np.allclose(tsv["val"], ref["validation_losses"])
    # the claims that read the curve are not made n/a for it
    ev = tmp_path / "e.json"
    ev.write_text(json.dumps({"model": "lin2/h16_d8/s0", "val_loss": blob["val_loss"]}))
    rows = [{"claim": "loss_drop_at_bifurcation", "model": "lin2/h16_d8/s0", "outcome": "pass", "reason": ""}]
    assert no_history_claims(rows, [ev])[0]["outcome"] == "pass"


# ----------------------------------------------------------------------------- several weights files

def test_several_weights_files_best_lr_of_training_results(tmp_path):
    ts = tmp_path / TS
    run = write_run(ts, 0, lrs=(0.01, 0.001))  # best_lr 0.001 = the last rate: the curve is its history
    e = external_entries(full_check(tree_config(ts, layout="Experiments")))["lin2/h16_d8/s0"]
    assert "_0.001lr_" in Path(e["external"]).name and e["losses"].endswith("training_results.json")
    shutil.rmtree(run)
    write_run(ts, 0, lrs=(0.01, 0.001), best_lr=0.01)  # the first rate's file: the curve is not its own
    e = external_entries(full_check(tree_config(ts, layout="Experiments")))["lin2/h16_d8/s0"]
    assert "_0.01lr_" in Path(e["external"]).name and "losses" not in e


def test_several_weights_files_lowest_loss_in_the_name(tmp_path):
    ts = tmp_path / TS
    run = write_run(ts, 0, lrs=(0.01, 0.001))
    (run / "training_results.json").unlink()
    e = external_entries(full_check(tree_config(ts)))["lin2/h16_d8/s0"]
    assert "_0.001lr_" in Path(e["external"]).name  # the later file: the lower loss


def test_several_weights_files_no_rule_picks_one_is_refused(tmp_path):
    ts = tmp_path / TS
    run = write_run(ts, 0, lrs=(0.01, 0.001))
    (run / "training_results.json").unlink()
    files = sorted((run / "models").glob("*.pth"))
    files[0].rename(files[0].with_name(weights_name(0.005, 9.0)))
    files[1].rename(files[1].with_name(weights_name(0.0001, 9.0)))
    msg = refusal(tree_config(ts))
    assert "2 weights files in models/" in msg and "share the lowest loss 9.0" in msg and "external:" in msg


# ----------------------------------------------------------------------------- refusals of the layout

def test_same_model_in_two_timestamp_folders_is_refused(tmp_path):
    exp = tmp_path / "Experiments"
    write_run(exp / TS, 0)
    write_run(exp / "20250802_090000", 0)
    msg = refusal(tree_config(exp))
    assert "are the same model" in msg and TS in msg and "20250802_090000" in msg
    assert sorted(external_entries(full_check(tree_config(exp / TS)))) == ["lin2/h16_d8/s0"]


def test_unmapped_config_name_is_refused(experiments):
    msg = refusal(tree_config(experiments, hmms={"HMMThree": "lin2"}))
    assert "config.external_tree.hmms.HMMThree" in msg and "HMMTwo_seed0_h16_i8" in msg


def test_run_folder_without_seed_is_refused(tmp_path):
    ts = tmp_path / TS
    write_run(ts, 0, name="HMMTwo")  # Manager(config_name="HMMTwo") without train.py
    msg = refusal(tree_config(ts))
    assert "HMMTwo" in msg and "gives no seed" in msg


def test_run_mapped_to_the_wrong_hmm_is_refused(experiments):
    msg = refusal(tree_config(experiments, hmms={"HMMTwo": "cyclic"}))
    assert "config.json" in msg and "2 HMM states" in msg and "'cyclic'" in msg


# ----------------------------------------------------------------------------- training_results.json

@pytest.mark.parametrize("content", [
    [{"epoch": k + 1, "train_loss": 10.0 - k, "val_loss": 10.5 - k} for k in range(4)],
    {"train_loss": [3.0, 2.0], "val_loss": [3.5, 2.5]},
    {"train_losses": [3.0, 2.0], "val_losses": [3.5, 2.5], "best_lr": 0.001},
])
def test_training_results_variants_are_read(tmp_path, content):
    run = write_run(tmp_path / TS, 0)
    (run / "training_results.json").write_text(json.dumps(content))
    assert external_entries(full_check(tree_config(tmp_path / TS)))["lin2/h16_d8/s0"]["losses"]


@pytest.mark.parametrize("content, needle", [
    ({"best_loss": 1.0, "training_losses": [1.0, 2.0], "validation_losses": [1.0]},
     "2 training losses but 1 validation losses"),
    ({"best_loss": 1.0, "training_losses": [1.0, 2.0], "validation_losses": [1.0, float("nan")]},
     "validation loss of epoch 2 is nan"),
    ({"best_loss": 1.0, "best_lr": 0.001}, "no validation loss curve"),
])
def test_bad_training_results_are_refused(tmp_path, content, needle):
    run = write_run(tmp_path / TS, 0)
    (run / "training_results.json").write_text(json.dumps(content))
    msg = refusal(tree_config(tmp_path / TS))
    assert "training_results.json" in msg and needle in msg, msg


def test_training_results_lfs_pointer_is_refused(tmp_path):
    run = write_run(tmp_path / TS, 0)
    (run / "training_results.json").write_text(LFS_POINTER)
    msg = refusal(tree_config(tmp_path / TS))
    assert "training_results.json: a Git LFS pointer" in msg and "git lfs pull --include" in msg


# ----------------------------------------------------------------------------- the published tree, partly pulled

def published_tree(root: Path) -> Path:
    """TrainedModels/Two with hidden_16/input_8/seed_0 pulled and hidden_50/input_1/seed_0 a pointer
    for every file (``git lfs pull --include "TrainedModels/Two/hidden_16/input_8/**"``), in a
    repository (a ``.git`` folder beside TrainedModels/)."""
    (root / ".git").mkdir(parents=True)
    tm = root / "TrainedModels"
    got = tm / "Two" / "hidden_16" / "input_8" / "seed_0"
    (got / "models").mkdir(parents=True)
    torch.save(TheirRNN().state_dict(), got / "models" / weights_name(0.001, 10.0))
    (got / "config.json").write_text(json.dumps(hmm_two_config(), indent=4))
    ptr = tm / "Two" / "hidden_50" / "input_1" / "seed_0"
    (ptr / "models" / "evolution").mkdir(parents=True)
    for f in (ptr / "config.json", ptr / "models" / weights_name(0.001, 9.9),
              ptr / "models" / "evolution" / "model_epoch_1.pth"):
        f.write_text(LFS_POINTER)
    return tm


def test_partial_lfs_pull_of_the_analysed_shape_is_enough(tmp_path):
    tm = published_tree(tmp_path)
    cfg = full_check(tree_config(tm, hmms={"Two": "lin2"}, hidden=[16], input=[8]))
    assert sorted(external_entries(cfg)) == ["lin2/h16_d8/s0"]
    msg = refusal(tree_config(tm, hmms={"Two": "lin2"}))
    assert "hidden_50/input_1/seed_0/config.json: a Git LFS pointer" in msg
    assert 'git lfs pull --include "TrainedModels/Two/hidden_50/input_1/seed_0/config.json"' in msg


# ----------------------------------------------------------------------------- single files: each refusal

def test_lfs_pointer_weights_file_is_refused(tmp_path):
    (tmp_path / ".git").mkdir()
    p = tmp_path / "ReverseEngineeredModel" / weights_name(0.001, 10.0)
    p.parent.mkdir()
    p.write_text(LFS_POINTER)
    msg = refusal(single_config(p))
    assert str(p) in msg and "a Git LFS pointer" in msg and "not a torch file" not in msg
    assert f'git lfs pull --include "ReverseEngineeredModel/{p.name}"' in msg


def test_truncated_weights_file_is_refused(tmp_path):
    whole = tmp_path / "whole.pth"
    torch.save(TheirRNN().state_dict(), whole)
    p = tmp_path / "cut.pth"
    p.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    msg = refusal(single_config(p))
    assert str(p) in msg and "truncated" in msg and "copy or download it again" in msg


def test_empty_weights_file_is_refused(tmp_path):
    p = tmp_path / "empty.pth"
    p.write_bytes(b"")
    assert "empty file (0 bytes)" in refusal(single_config(p))


def _with(name, shape) -> dict:
    sd = TheirRNN().state_dict()
    sd[name] = torch.zeros(shape)
    return sd


@pytest.mark.parametrize("name, shape, needles", [
    ("fc.weight", (3, 15), ["fc.weight has shape (3, 15), expected (3, 16)", "15 columns"]),
    ("rnn.weight_ih_l0", (15, 8), ["rnn.weight_ih_l0 has shape (15, 8), expected (16, 8)", "15 rows"]),
    ("rnn.weight_ih_l0", (16, 4), ["rnn.weight_ih_l0 has shape (16, 4), expected (16, 8)", "input dimension 4",
                                   "the config says d = 8"]),
    ("rnn.weight_hh_l0", (16, 15), ["rnn.weight_hh_l0 has shape (16, 15), expected (16, 16)", "not square"]),
    ("fc.weight", (4, 16), ["fc.weight has shape (4, 16), expected (3, 16)", "4 readout rows",
                            "HMM 'lin2' has 3 outputs"]),
])
def test_wrong_shape_names_the_tensor(tmp_path, name, shape, needles):
    p = tmp_path / "w.pth"
    torch.save(_with(name, shape), p)
    msg = refusal(single_config(p))
    assert str(p) in msg and all(n in msg for n in needles), msg
    assert "but the config says H = 16" not in msg or name == "rnn.weight_hh_l0", msg  # no self-contradiction


def test_non_finite_values_name_the_tensor(tmp_path):
    p = tmp_path / "nan.pth"
    sd = TheirRNN().state_dict()
    sd["rnn.weight_hh_l0"][0, 0] = float("nan")
    torch.save(sd, p)
    assert "rnn.weight_hh_l0 holds non-finite values" in refusal(single_config(p))


# ----------------------------------------------------------------------------- external: in a run folder

def test_external_entry_checks_its_neighbouring_config_json(experiments):
    pth = next((experiments / "HMMTwo_seed0_h16_i8" / "models").glob("*.pth"))
    msg = refusal(single_config(pth, hmm="cyclic"))  # a 2-state model named as the 4-state cyclic HMM
    assert "HMMTwo_seed0_h16_i8/config.json" in msg and "2 HMM states" in msg and "'cyclic'" in msg
    msg = refusal(single_config(pth, hidden=32))
    assert "hidden_size 16 disagrees with config.models[0] (the models entry) (hidden 32)" in msg


def test_external_entry_in_a_run_folder_gets_its_loss_curve(experiments, tmp_path):
    run = experiments / "HMMTwo_seed0_h16_i8"
    pth = next((run / "models").glob("*.pth"))
    e = external_entries(full_check(single_config(pth)))["lin2/h16_d8/s0"]
    assert e["losses"] == str(run / "training_results.json")
    lone = tmp_path / "lone.pth"  # not in a run folder: no curve, unless named
    shutil.copy(pth, lone)
    assert "losses" not in external_entries(full_check(single_config(lone)))["lin2/h16_d8/s0"]
    named = single_config(lone, losses=str(run / "training_results.json"))
    assert external_entries(full_check(named))["lin2/h16_d8/s0"]["losses"].endswith("training_results.json")
    assert "no such file" in refusal(single_config(lone, losses=str(tmp_path / "absent.json")))


@pytest.mark.workflow
def test_untouched_experiments_folder_runs_every_figure_and_claim(experiments, tmp_path):
    """Issue 26: the folder the reference's run_experiment (seeds 0, 1: loss curves) and
    run_training_evo (seed 2: per-epoch weights, no curve) write, untouched, through one
    ``external_tree`` entry at quick-config analysis sizes: no training, every figure that applies,
    claims on every model, the curves in losses.tsv; the training-history claims run on the model
    with snapshots and say why the loss-curve ones cannot (its folder holds no curve)."""
    import re
    import subprocess
    import sys

    import yaml

    cfg = with_quick_analyses(tree_config(experiments))
    cfg["mechanism"]["evolution"]["models"] = [f"lin2/h{H}_d{D}/s2"]   # run_training_evo's: the one with snapshots
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump(cfg))
    base = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile", str(path), "--cores", "2",
            "--directory", str(tmp_path)]
    dry = subprocess.run([*base, "-n"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert dry.returncode == 0, dry.stderr[-3000:]
    block = (dry.stdout + dry.stderr)[(dry.stdout + dry.stderr).index("Job stats:"):]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}
    assert "train" not in counts and counts["import_external"] == 3, counts
    out = subprocess.run(base, cwd=tmp_path, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-5000:]
    assert not (tmp_path / "results" / "train_groups").exists()
    assert len(list((tmp_path / "results/figures").glob("*.png"))) >= 8
    claims = pd.read_csv(tmp_path / "results/claims.csv", keep_default_na=False)
    models = set(claims["model"].map(lambda m: m.split(" ")[0]))
    assert {f"lin2/h{H}_d{D}/s{s}" for s in range(3)} <= models, models
    losses = pd.read_csv(tmp_path / f"results/models/lin2/h{H}_d{D}/s0/losses.tsv", sep="\t")
    assert len(losses) == 12 and losses["val"].notna().all()
    evo = claims[(claims["model"] == f"lin2/h{H}_d{D}/s2") & (claims["claim"] == "complex_pairs_emerge")]
    assert len(evo) == 1 and evo["outcome"].iloc[0] in ("pass", "fail")
    drop = claims[(claims["model"] == f"lin2/h{H}_d{D}/s2") & (claims["claim"] == "loss_drop_at_bifurcation")]
    assert len(drop) == 1 and drop["outcome"].iloc[0] == "n/a" and "loss" in drop["reason"].iloc[0]
