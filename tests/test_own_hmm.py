"""The documented path to one's own HMM: config/own_hmm.yaml, only ``hmms``, ``models`` and
``training`` at tiny sizes, gets its figure, dynamics and mechanism models from its own models,
renders every figure that applies to it end to end (the others are skipped with a line in the log
and the report), and the HTML report is built from it."""
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "config" / "own_hmm.yaml"


def smk(*args, cwd):
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=1800)


def test_own_hmm_config_is_not_a_paper_hmm():
    cfg = yaml.safe_load(CONFIG.read_text())
    assert list(cfg["hmms"]) == ["ring3"] and cfg["hmms"]["ring3"]["kind"] == "custom"


def test_broken_own_matrices_are_reported_before_any_job(tmp_path):
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["hmms"]["ring3"]["transition"][1] = [0.0, 0.8, 0.1]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    out = smk("--configfile", str(bad), "--cores", "1", "--directory", str(tmp_path), cwd=tmp_path)
    assert out.returncode != 0
    msg = "invalid config at config.hmms.ring3: HMM 'ring3': transition row 1 sums to 0.9, not 1"
    assert msg in out.stderr + out.stdout
    assert not (tmp_path / "results").exists()


def tiny_dict() -> dict:
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["hmms"]["ring3"].update(seq_len=20, eval_seq_len=20)
    cfg["models"][0].update(hidden=[8], input=[4])
    cfg["training"] = {"epochs": 3, "batch_size": 256, "device": "cpu"}
    return {k: cfg[k] for k in ("hmms", "models", "training")}


def tiny(tmp_path) -> Path:
    """config/own_hmm.yaml at test sizes and in its three essential sections only (the shipped
    file trains a real model with CPU-sized data and metrics: minutes)."""
    cfg = tiny_dict()
    path = tmp_path / "own_tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.workflow
def test_own_hmm_runs_end_to_end_and_reports(tmp_path):
    base = [f"--configfile={tiny(tmp_path)}", "--cores", "2", "--directory", str(tmp_path)]
    out = smk(*base, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-5000:]
    figs = sorted(p.stem for p in (tmp_path / "results/figures").glob("*.png"))
    # one HMM: no trend over numbers of states (S3), no other HMM to compare kick groups with (S4)
    assert figs == sorted([f"fig{i}" for i in range(1, 9)] + ["figS1", "figS2"])
    for fig in ("figS3", "figS4"):
        assert f"rnnhmm: skipping {fig} (does not apply to this config)" in out.stderr + out.stdout
    claims = pd.read_csv(tmp_path / "results/claims.csv", keep_default_na=False)
    assert set(claims.columns) >= {"claim", "model", "expected", "ours", "outcome", "learned", "faithful"}
    assert claims["model"].str.startswith("ring3").all()  # per model, or per HMM
    out = smk(*base, "--report", str(tmp_path / "report.html"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    for needle in ("fig1.png", "fig8.png", "fig7.png", "claims.csv", "Figure 1 - performance",
                   "Figures that do not apply to this config", "figS4"):
        assert needle in html, needle



def test_own_hmm_config_has_only_three_sections_and_defaults_to_its_own_models():
    from rnnhmm.config import skipped_figures, validate_config

    assert sorted(yaml.safe_load(CONFIG.read_text())) == ["data", "hmms", "metrics", "models", "training"]
    raw = tiny_dict()
    assert sorted(raw) == ["hmms", "models", "training"]
    cfg = validate_config(raw)
    own = "ring3/h8_d4/s0"
    assert cfg["figures"]["fig1"]["example_models"] == [own] and cfg["figures"]["figS1"]["hmms"] == ["ring3"]
    assert cfg["dynamics"]["models"] == [own] and cfg["dynamics"]["fig8_models"] == [own]
    assert cfg["dynamics"]["grid"] == {"hmms": ["ring3"], "seed": 0}
    assert cfg["mechanism"]["single_model"] == own and cfg["mechanism"]["evolution"]["models"] == [own]
    assert cfg["evolution"]["match"] == [{"hmm": "ring3", "hidden": 8, "input": 4, "seed": 0}]
    assert sorted(skipped_figures(cfg)) == ["figS3", "figS4"]
    # the paper config keeps the models it names
    paper = validate_config(yaml.safe_load((ROOT / "config/config.yaml").read_text()))
    assert paper["mechanism"]["single_model"] == "lin2/h150_d100/s0" and skipped_figures(paper) == {}
