"""A training job killed part-way continues from its checkpoint when Snakemake reruns it, and ends
with the same losses and weights as an uninterrupted run (marked ``workflow``)."""
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
MODEL = "lin2/h16_d2/s0"
EPOCHS = 80


def _config(tmp: Path) -> Path:
    """The quick config (kept valid by the pipeline's own tests) with a long, finely checkpointed
    training; only one model is ever requested."""
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg["training"].update(epochs=EPOCHS, checkpoint_every=1, log_every=1)
    path = tmp / "preempt.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _args(workdir: Path, config: Path):
    return [*SNAKEMAKE, "--configfile", str(config), "--cores", "1", "--directory", str(workdir),
            f"results/models/{MODEL}/model.pt"]


@pytest.mark.workflow
def test_killed_training_job_resumes_from_checkpoint(tmp_path):
    config = _config(tmp_path)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    killed.mkdir()
    clean.mkdir()
    ckpt = killed / f"results/checkpoints/{MODEL}.pt"

    # 1. start the job and kill Snakemake and the job (one process group) at the first checkpoint
    proc = subprocess.Popen(_args(killed, config), cwd=killed, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.time() + 600
    try:
        while not ckpt.exists():
            assert proc.poll() is None, "snakemake ended before the first checkpoint:\n" + proc.stdout.read()[-3000:]
            assert time.time() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (killed / f"results/models/{MODEL}/model.pt").exists(), "job finished before it was killed"
    assert ckpt.exists()

    # 2. rerun: Snakemake's lock of the killed run is removed first, then the job resumes
    subprocess.run([*_args(killed, config)[:-1], "--unlock"], cwd=killed, capture_output=True, check=True)
    out = subprocess.run(_args(killed, config), cwd=killed, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-5000:]
    log = (killed / f"logs/train/{MODEL}.log").read_text()
    m = re.search(r"resumed from (\S+) at epoch (\d+)/(\d+)", log)
    assert m, log[-3000:]
    assert m.group(1).endswith(f"results/checkpoints/{MODEL}.pt")
    assert 1 <= int(m.group(2)) < EPOCHS and int(m.group(3)) == EPOCHS
    assert not ckpt.exists(), "the checkpoint is deleted once the model is written"

    # 3. an uninterrupted run of the same job gives the same losses and weights
    out = subprocess.run(_args(clean, config), cwd=clean, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-5000:]
    assert "resumed from" not in (clean / f"logs/train/{MODEL}.log").read_text()
    a = pd.read_csv(killed / f"results/models/{MODEL}/losses.tsv", sep="\t")
    b = pd.read_csv(clean / f"results/models/{MODEL}/losses.tsv", sep="\t")
    assert len(a) == EPOCHS
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    wa = torch.load(killed / f"results/models/{MODEL}/model.pt", weights_only=False)
    wb = torch.load(clean / f"results/models/{MODEL}/model.pt", weights_only=False)
    for kind in ("last", "best"):
        for k in wa[kind]:
            assert torch.equal(wa[kind][k], wb[kind][k]), (kind, k)
