"""Shared fixtures: the quick config's pipeline, run once per test session.

Training the quick config's models is most of the test suite's time. ``quick_run`` runs it once
(``fig1`` alone first, then every target) into a session temporary directory, exactly as the
end-to-end tests used to do each in their own directory: ``snakemake -s <repo>/Snakefile
--configfile config/quick.yaml --cores 2 --directory <tmp>``. Tests that only read results (figures,
claims, metrics, provenance, dry runs) use that directory as it is and must not change it; a test
that reruns jobs works on ``quick_run.copy_to(tmp_path / ...)``, a copy that keeps every file's
mtime and Snakemake's metadata (``.snakemake/``), so that Snakemake sees the copy as complete and
up to date. Each workflow test says in its docstring what it reuses.

When the session has a test that takes ``quick_run``, the run starts in the background as the first
test starts (a thread waiting on Snakemake), so that it overlaps the unit tests, which leave one of
two cores idle most of the time; ``quick_run`` waits for it. It is killed if the session ends first.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = ROOT / "config" / "quick.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile")]


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


class _QuickRunner(threading.Thread):
    """Runs the quick pipeline (fig1, then everything) in ``work``; ``result()`` waits for it."""

    def __init__(self, work: Path):
        super().__init__(name="quick_run", daemon=True)
        self.work = work
        # --configfile takes several values: keep it before an option, never right before targets
        self.base = ["--configfile", str(QUICK), "--cores", "2", "--directory", str(work)]
        self._proc: subprocess.Popen | None = None
        self._stopped = False
        self._lock = threading.Lock()
        self._result: QuickRun | None = None
        self._error: BaseException | None = None

    def _smk(self, *args) -> subprocess.CompletedProcess:
        cmd = [*SNAKEMAKE, *args]
        with self._lock:
            if self._stopped:
                return subprocess.CompletedProcess(cmd, -1, "", "quick run stopped (session ended)")
            self._proc = subprocess.Popen(cmd, cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, start_new_session=True)
        try:
            out, err = self._proc.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            self.stop()
            out, err = self._proc.communicate()
            err += "\nquick run: timed out after 1800 s"
        return subprocess.CompletedProcess(cmd, self._proc.returncode, out, err)

    def run(self):
        try:
            fig1 = self._smk(*self.base, "fig1")
            figures = self.work / "results/figures"
            fig1_files = {p.name: p.stat().st_size for p in figures.iterdir()} if figures.is_dir() else {}
            full = self._smk(*self.base) if fig1.returncode == 0 else None
            self._result = QuickRun(self.work, self.base, fig1, fig1_files, full)
        except BaseException as e:  # re-raised in the test that waits for the run
            self._error = e

    def result(self) -> QuickRun:
        self.join()
        if self._error is not None:
            raise self._error
        return self._result

    def stop(self):
        """Kill the running Snakemake and its jobs (one process group), start nothing more."""
        with self._lock:
            self._stopped = True
            if self._proc is not None and self._proc.poll() is None:
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture(scope="session")
def _quick_runner(tmp_path_factory):
    runner = _QuickRunner(tmp_path_factory.mktemp("quick_run"))
    runner.start()
    yield runner
    runner.stop()


@pytest.fixture(scope="session", autouse=True)
def _start_quick_run_early(request):
    """Start the quick run with the session's first test when a later test will need it."""
    if any("quick_run" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("_quick_runner")


@pytest.fixture(scope="session")
def quick_run(_quick_runner) -> QuickRun:
    return _quick_runner.result()
