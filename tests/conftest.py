"""Shared fixtures: the quick config's pipeline, run once per test session.

Training the quick config's models is most of the test suite's time. ``quick_run`` runs it once
(``fig1`` alone first, then every target) into a session temporary directory, exactly as the
end-to-end tests used to do each in their own directory: ``snakemake -s <repo>/Snakefile
--configfile config/quick.yaml --cores 2 --directory <tmp>``. Tests that only read results (figures,
claims, metrics, provenance, dry runs) use that directory as it is and must not change it; a test
that reruns jobs works on ``quick_run.copy_to(tmp_path / ...)``, a copy that keeps every file's
mtime and Snakemake's metadata (``.snakemake/``), so that Snakemake sees the copy as complete and
up to date. Each workflow test says in its docstring what it reuses.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "config" / "quick.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


def smk(*args, cwd, timeout=1800, env=None):
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@dataclass
class QuickRun:
    """The quick config run to completion in ``workdir`` (treat as read-only)."""

    workdir: Path
    base: list[str]  # --configfile, --cores, --directory as the run used them (targets go before them)
    fig1: subprocess.CompletedProcess  # the first run: target fig1 alone
    fig1_files: dict[str, int]  # results/figures/* right after it: name -> size in bytes
    full: subprocess.CompletedProcess | None  # then every target (None if fig1 failed)

    def check(self) -> Path:
        """The work directory, or the test fails with the run's error."""
        assert self.fig1.returncode == 0, "quick run (fig1) failed:\n" + self.fig1.stderr[-5000:]
        assert self.full is not None and self.full.returncode == 0, \
            "quick run (all) failed:\n" + (self.full.stderr[-5000:] if self.full else "")
        return self.workdir

    def copy_to(self, dest: Path) -> Path:
        """A private copy of the finished run (results, logs, ``.snakemake`` metadata; mtimes kept)
        for a test that reruns jobs. Returns ``dest``."""
        shutil.copytree(self.check(), dest, symlinks=True, copy_function=shutil.copy2)
        return dest


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory) -> QuickRun:
    work = tmp_path_factory.mktemp("quick_run")
    # --configfile takes several values: keep it before an option, never right before targets
    base = ["--configfile", str(QUICK), "--cores", "2", "--directory", str(work)]
    fig1 = smk(*base, "fig1", cwd=work)
    figures = work / "results/figures"
    fig1_files = {p.name: p.stat().st_size for p in figures.iterdir()} if figures.is_dir() else {}
    full = smk(*base, cwd=work) if fig1.returncode == 0 else None
    return QuickRun(work, base, fig1, fig1_files, full)
