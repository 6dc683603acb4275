"""The Snakemake workflow: dry runs of the paper config, a bad config, and the quick config end
to end in a temporary directory (marked ``workflow``: minutes, not seconds)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def smk(*args, cwd, timeout=1800):
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def job_counts(text):
    block = text[text.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def test_paper_config_dry_run_plans_all_150_models_in_at_most_60_training_jobs(tmp_path):
    out = smk("-n", "--cores", "8", "--directory", str(tmp_path), "--configfile", str(ROOT / "config/config.yaml"),
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = job_counts(out.stdout + out.stderr)
    assert counts["train"] <= 60  # groups of seeds (rnnhmm.plan): 53
    assert counts["model_files"] == 150
    assert counts["model_metrics"] == 150
    assert counts["hmm_data"] == 18  # 6 HMMs x 3 seeds
    assert counts["fig1"] == 1 and counts["figS1"] == 1


def test_bad_config_fails_before_any_job(tmp_path):
    cfg = yaml.safe_load((ROOT / "config/quick.yaml").read_text())
    cfg["training"]["epohcs"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = smk("--cores", "1", "--directory", str(tmp_path), "--configfile", str(bad), cwd=tmp_path)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "invalid config at config.training: Additional properties are not allowed ('epohcs' was unexpected)" in text
    assert not (tmp_path / "results").exists()


@pytest.mark.workflow
def test_quick_config_end_to_end(tmp_path):
    quick = str(ROOT / "config/quick.yaml")
    # --configfile takes several values: keep it before an option, never right before targets
    base = ["--configfile", quick, "--cores", "2", "--directory", str(tmp_path)]
    # one figure alone
    out = smk(*base, "fig1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-5000:]
    assert (tmp_path / "results/figures/fig1.pdf").stat().st_size > 10_000
    assert not (tmp_path / "results/figures/figS1.pdf").exists()
    # everything
    out = smk(*base, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-5000:]
    cfg = yaml.safe_load(Path(quick).read_text())
    n_models = sum(len(g["hmms"]) * len(g["hidden"]) * len(g["input"]) * len(g["seeds"]) for g in cfg["models"])
    for fig in ("fig1", "figS1"):
        for ext in ("pdf", "png"):
            assert (tmp_path / f"results/figures/{fig}.{ext}").stat().st_size > 10_000
    assert len(list((tmp_path / "results/models").glob("*/*/*/model.pt"))) == n_models
    assert len(list((tmp_path / "results/diagnostics").glob("*/*/*.png"))) == n_models
    import pandas as pd

    table = pd.read_csv(tmp_path / "results/metrics/summary.tsv", sep="\t")
    assert len(table) == n_models
    assert table["distance_mean"].between(0, 100).all() and table["floor_mean"].notna().all()
    assert not list((tmp_path / "results/checkpoints").glob("**/*.pt"))  # cleaned after training
    log = next((tmp_path / "logs/train").glob("*/*/*.log")).read_text()
    assert "epoch 1/" in log and "ETA" in log and "done in" in log
    # provenance travels with results and figures
    from rnnhmm.io import read_json
    from rnnhmm.plotting import read_figure_provenance

    prov = read_figure_provenance(tmp_path / "results/figures/fig1.png")
    assert prov["params"]["figure"] == "fig1" and "torch" in prov["inputs"]["libraries"]
    assert prov["inputs"]["params"]["config"]["training"]["epochs"] == cfg["training"]["epochs"]
    metrics = read_json(next((tmp_path / "results/metrics/models").glob("*/*/*.json")))
    assert metrics["provenance"]["seed"] is not None and metrics["provenance"]["wall_time_s"] >= 0
    # a second run has nothing to do
    out = smk(*base, "-n", cwd=tmp_path)
    assert out.returncode == 0
    assert "Nothing to be done" in out.stdout + out.stderr
    # restyling a figure reruns only its plot rule
    out = smk(*base, "-n", "--forcerun", "figS1", cwd=tmp_path)
    assert job_counts(out.stdout + out.stderr).get("train", 0) == 0
    shutil.rmtree(tmp_path / ".snakemake", ignore_errors=True)
