"""A training group job killed part-way continues from its checkpoint when Snakemake reruns it,
and ends with the same losses and weights as an uninterrupted run; editing the log/checkpoint
cadence afterwards reruns no training (marked ``workflow``). The uninterrupted run it is compared
with runs at the same time as the killed one and its resumption (one core each)."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]
MODEL = "lin2/h16_d8/s0"  # keeps evolution snapshots (appended to the checkpoint's .evo file)
GROUP = "lin2/h16_d8/s0_1"  # the job that trains it: both seeds of its grid cell
SEEDS = ("s0", "s1")  # the group's folders, results/train_groups/{GROUP}/s{seed}
EPOCHS = 80


def _config(tmp: Path, **training) -> Path:
    """The quick config (kept valid by the pipeline's own tests) with a long, finely checkpointed
    training; only one group is ever requested."""
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg["training"].update(epochs=EPOCHS, checkpoint_every=1, log_every=1)
    cfg["training"].update(training)
    path = tmp / f"preempt{len(list(tmp.glob('preempt*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _args(workdir: Path, config: Path):
    return [*SNAKEMAKE, "--configfile", str(config), "--cores", "1", "--directory", str(workdir),
            f"results/models/{MODEL}/model.pt"]


def _kill_and_resume(killed: Path, config: Path, ckpt: Path):
    """Steps 1 and 2 of the test below, in ``killed``."""
    # 1. start the job and kill Snakemake and the job (one process group) after a few checkpoints
    proc = subprocess.Popen(_args(killed, config), cwd=killed, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.time() + 600
    log_path = killed / f"logs/train/{GROUP}.log"
    try:
        while not (ckpt.exists() and log_path.exists() and "epoch 3/" in log_path.read_text()):
            assert proc.poll() is None, "snakemake ended before the first checkpoints:\n" + proc.stdout.read()[-3000:]
            assert time.time() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (killed / f"results/models/{MODEL}/model.pt").exists(), "job finished before it was killed"
    assert ckpt.exists()
    # the device is resolved and logged when the job starts
    assert re.search(r"training group \S+ \(2 models, seeds \[0, 1\]\) on cpu", log_path.read_text())

    # 2. rerun: Snakemake's lock of the killed run is removed first, then the job resumes
    subprocess.run([*_args(killed, config)[:-1], "--unlock"], cwd=killed, capture_output=True, check=True)
    out = subprocess.run(_args(killed, config), cwd=killed, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-5000:]
    log = log_path.read_text()
    m = re.search(r"resumed from (\S+) at epoch (\d+)/(\d+)", log)
    assert m, log[-3000:]
    assert m.group(1).endswith(f"results/checkpoints/{GROUP}.pt")
    assert 1 <= int(m.group(2)) < EPOCHS and int(m.group(3)) == EPOCHS
    assert "NOT be identical" not in log
    assert not ckpt.exists(), "the checkpoint is deleted once the models are written"


@pytest.mark.workflow
def test_killed_training_group_resumes_from_checkpoint(tmp_path):
    config = _config(tmp_path)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    killed.mkdir()
    clean.mkdir()
    ckpt = killed / f"results/checkpoints/{GROUP}.pt"
    # the uninterrupted run of step 3, in its own folder, runs meanwhile (one core each: --cores 1)
    clean_log = tmp_path / "clean.out"
    with clean_log.open("w") as sink:
        clean_proc = subprocess.Popen(_args(clean, config), cwd=clean, stdout=sink, stderr=subprocess.STDOUT,
                                      text=True, start_new_session=True)
    try:
        _kill_and_resume(killed, config, ckpt)
        clean_proc.wait(timeout=900)
    finally:
        if clean_proc.poll() is None:
            os.killpg(clean_proc.pid, signal.SIGKILL)
            clean_proc.wait()

    # 3. an uninterrupted run of the same job gives the same losses, weights and snapshots
    assert clean_proc.returncode == 0, clean_log.read_text()[-5000:]
    assert "resumed from" not in (clean / f"logs/train/{GROUP}.log").read_text()
    assert (killed / f"results/models/{MODEL}/model.pt").samefile(killed / f"results/train_groups/{GROUP}/s0/model.pt")
    for model in SEEDS:
        model = f"{GROUP}/{model}"
        a = pd.read_csv(killed / f"results/train_groups/{model}/losses.tsv", sep="\t")
        b = pd.read_csv(clean / f"results/train_groups/{model}/losses.tsv", sep="\t")
        assert len(a) == EPOCHS
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        wa = torch.load(killed / f"results/train_groups/{model}/model.pt", weights_only=False)
        wb = torch.load(clean / f"results/train_groups/{model}/model.pt", weights_only=False)
        for kind in ("last", "best"):
            for k in wa[kind]:
                assert torch.equal(wa[kind][k], wb[kind][k]), (model, kind, k)
        ea = torch.load(killed / f"results/train_groups/{model}/evolution.pt", weights_only=False)
        eb = torch.load(clean / f"results/train_groups/{model}/evolution.pt", weights_only=False)
        assert ea["epochs"] == eb["epochs"] == list(range(1, EPOCHS + 1))
        for k in ("weight_ih", "weight_hh", "readout"):
            assert torch.equal(ea[k], eb[k]), (model, k)

    # 4. editing the log / checkpoint cadence plans no training job (they are not rule params)
    cadence = _config(tmp_path, checkpoint_every=7, log_every=3)
    out = subprocess.run([*_args(clean, cadence)[:-1], "-n", f"results/models/{MODEL}/model.pt"], cwd=clean,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Nothing to be done" in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]
    # ... while a training setting does
    other = _config(tmp_path, grad_clip=0.5)
    out = subprocess.run([*_args(clean, other)[:-1], "-n", f"results/models/{MODEL}/model.pt"], cwd=clean,
                         capture_output=True, text=True, timeout=300)
    assert re.search(r"^train\s+1$", out.stdout + out.stderr, re.M), (out.stdout + out.stderr)[-3000:]
