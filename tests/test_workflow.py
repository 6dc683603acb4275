"""The Snakemake workflow: dry runs of the paper config, a bad config, and the quick config end
to end in a temporary directory (marked ``workflow``: minutes, not seconds)."""
import copy
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def smk(*args, cwd, timeout=1800, env=None):
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


# Rules whose jobs load torch (training, metrics, analyses); everything else is cheap.
TORCH_RULES = {"train", "model_metrics", "hmm_floor", "dyn_state_space", "dyn_local", "dyn_noise", "dyn_subspaces",
               "mech_kick", "mech_interventions", "mech_evolution", "mech_readout"}
# Display-only settings -> the figure-data jobs that read them (and must be the only reruns).
DISPLAY = {
    ("dynamics", "state_space", "plot_points"): {"fig2_data", "figS2_data", "fig8_data"},
    ("dynamics", "noise", "plot_trajectories"): {"fig4_data"},
    ("dynamics", "subspaces", "runs_shown"): {"fig8_data"},
    ("dynamics", "subspaces", "run_points"): {"fig8_data"},
    ("mechanism", "kick", "mean_activity_show"): {"fig5_data"},
    ("mechanism", "interventions", "show_steps"): {"fig6_data"},
}
BLOCK_TORCH = """import sys


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "sklearn", "geomloss"):
            raise ImportError(f"{name} is not in the light environment (envs/plots.yaml)")


sys.meta_path.insert(0, _NoTorch())
"""


def check_display_settings_rerun_no_analysis(workdir, quick, moddir):
    """After a complete run: each display-only key changed (+1) plans only the figure-data jobs that
    read it and their plots, never a training or an analysis (dry runs: ``workdir`` is not changed;
    the modified configs are written to ``moddir``)."""
    from rnnhmm.config import load_config

    raw, full = yaml.safe_load(Path(quick).read_text()), load_config(quick)
    moddir.mkdir()
    for (section, analysis, key), readers in DISPLAY.items():
        cfg = copy.deepcopy(raw)
        cfg.setdefault(section, {}).setdefault(analysis, {})[key] = full[section][analysis][key] + 1
        mod = moddir / "quick.yaml"  # same name: the config's name is a figure label
        mod.write_text(yaml.safe_dump(cfg, sort_keys=False))  # key order as written (params compare as text)
        out = smk(f"--configfile={mod}", "--cores", "2", "--directory", str(workdir), "-n", cwd=workdir)
        assert out.returncode == 0, out.stderr[-3000:]
        planned = set(job_counts(out.stdout + out.stderr)) - {"all", "total"}
        assert not planned & TORCH_RULES, (key, sorted(planned))
        assert readers <= planned, (key, sorted(planned))
        assert all(r.endswith("_data") or r.startswith("fig") for r in planned), (key, sorted(planned))


def check_light_rules_run_without_torch(workdir, quick):
    """The cheap rules (envs/plots.yaml: no torch, no scikit-learn, no geomloss) rerun with those
    libraries made unimportable."""
    block = workdir / "no_torch"
    block.mkdir()
    (block / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = {**os.environ, "PYTHONPATH": f"{block}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "light environment" in probe.stderr
    light = ["fig1_data", "fig2_data", "fig5_data", "metrics_table", "model_diagnostics", "performance_claims",
             "dynamics_claims", "mechanism_claims", "claims"]
    targets = ["results/figures/fig1.pdf", "results/figures/fig2.pdf", "results/figures/fig5.pdf",
               "results/claims.csv", "results/metrics/summary.tsv", "results/diagnostics/lin2/h16_d8/s0.png"]
    out = smk(f"--configfile={quick}", "--cores", "2", "--directory", str(workdir), "--forcerun", *light, "--",
              *targets, cwd=workdir, env=env)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-5000:]
    ran = set(job_counts(text)) - {"all", "total"}
    assert set(light) <= ran and not ran & TORCH_RULES, sorted(ran)


def job_counts(text):
    block = text[text.index("Job stats:"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def test_paper_config_dry_run_plans_all_150_models_in_at_most_60_training_jobs(tmp_path):
    out = smk("-n", "--cores", "8", "--directory", str(tmp_path), "--configfile", str(ROOT / "config/config.yaml"),
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = job_counts(out.stdout + out.stderr)
    assert counts["train"] <= 60  # groups of seeds (rnnhmm.training.grouping): 53
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
def test_quick_config_end_to_end(quick_run, tmp_path):
    """Reuses the session's quick run (tests/conftest.py: fig1 alone, then everything) for the checks
    that only read; the display-setting dry runs and the torch-free reruns of the light rules work on
    a copy of it."""
    quick = str(ROOT / "config/quick.yaml")
    base = quick_run.base
    # one figure alone
    out = quick_run.fig1
    assert out.returncode == 0, out.stderr[-5000:]
    assert quick_run.fig1_files.get("fig1.pdf", 0) > 10_000
    assert "figS1.pdf" not in quick_run.fig1_files
    # everything
    out = quick_run.full
    assert out is not None and out.returncode == 0, out.stderr[-5000:] if out else ""
    shared = quick_run.check()
    cfg = yaml.safe_load(Path(quick).read_text())
    n_models = sum(len(g["hmms"]) * len(g["hidden"]) * len(g["input"]) * len(g["seeds"]) for g in cfg["models"])
    for fig in ("fig1", "figS1"):
        for ext in ("pdf", "png"):
            assert (shared / f"results/figures/{fig}.{ext}").stat().st_size > 10_000
    models = list((shared / "results/models").glob("*/*/*/model.pt"))
    assert len([m for m in models if "-null-" not in m.parent.name]) == n_models
    # and the null networks of the claims' models (rules/nulls.smk), in the same layout
    assert any(m.parent.name.endswith("-null-shuffle") for m in models)
    assert any(m.parent.name.endswith("-null-plateau") for m in models)
    assert len(list((shared / "results/diagnostics").glob("*/*/*.png"))) == n_models
    import pandas as pd

    table = pd.read_csv(shared / "results/metrics/summary.tsv", sep="\t")
    assert len(table) == n_models
    assert table["distance_mean"].between(0, 100).all() and table["floor_mean"].notna().all()
    # the KL rate of every model (config likelihood), finite, with its particle count
    kl = table["kl_rate"]
    assert (kl.notna() | table["kl_dead_sequences"].gt(0)).all() and kl.dropna().abs().lt(1e3).all()
    assert (table["kl_particles"] >= 32).all()
    assert not list((shared / "results/checkpoints").glob("**/*.pt"))  # cleaned after training
    log = next((shared / "logs/train").glob("*/*/*.log")).read_text()
    assert "epoch 1/" in log and "ETA" in log and "done in" in log
    # provenance travels with results and figures
    from rnnhmm.figures.common import read_figure_provenance
    from rnnhmm.io import read_json

    prov = read_figure_provenance(shared / "results/figures/fig1.png")
    assert prov["params"]["figure"] == "fig1" and "torch" in prov["inputs"]["libraries"]
    assert prov["inputs"]["params"]["config"]["training"]["epochs"] == cfg["training"]["epochs"]
    metrics = read_json(next((shared / "results/metrics/models").glob("*/*/*.json")))
    assert metrics["provenance"]["seed"] is not None and metrics["provenance"]["wall_time_s"] >= 0

    def dry_runs():  # on the shared run: plan only, change nothing
        # a second run has nothing to do
        out = smk(*base, "-n", cwd=shared)
        assert out.returncode == 0
        assert "Nothing to be done" in out.stdout + out.stderr
        # restyling a figure reruns only its plot rule
        out = smk(*base, "-n", "--forcerun", "figS1", cwd=shared)
        assert job_counts(out.stdout + out.stderr).get("train", 0) == 0
        check_display_settings_rerun_no_analysis(shared, quick, tmp_path / "modified")

    def light_rules():  # reruns jobs: on a copy (mtimes and .snakemake metadata kept)
        work = quick_run.copy_to(tmp_path / "run")
        check_light_rules_run_without_torch(work, quick)
        shutil.rmtree(work / ".snakemake", ignore_errors=True)

    # the two are independent and single-threaded (Snakemake planning; cheap jobs): one core each
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(dry_runs), pool.submit(light_rules)]:
            done.result()  # re-raises a failed check
