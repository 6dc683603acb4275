"""Files and jobs: the job preamble of every workflow script (:func:`job`: job log, torch threads,
clock, provenance), atomic writes (JSON, bytes, torch objects, analysis ``.npz`` files) and
provenance records."""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["job", "Job", "job_log", "write_json", "read_json", "provenance", "atomic_write", "atomic_save",
           "save_analysis", "load_analysis"]


@contextlib.contextmanager
def job_log(path: str | os.PathLike | None):
    """Send stdout and stderr (progress lines, warnings, tracebacks) to the job's log file."""
    if path is None:
        yield print
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as fh:
        def log(msg: str) -> None:
            print(f"[{_dt.datetime.now():%H:%M:%S}] {msg}", file=fh, flush=True)

        with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
            try:
                yield log
            except BaseException:
                import traceback

                traceback.print_exc(file=fh)
                raise


def _default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_json(obj, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON (numpy scalars and arrays, paths allowed), atomically."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(json.dumps(obj, indent=2, default=_default).encode(), path)


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def atomic_write(data: bytes, path: str | os.PathLike) -> None:
    """Write ``data`` to ``path`` through ``<path>.tmp`` and a rename: readers never see a partial file."""
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def atomic_save(obj, path: str | os.PathLike) -> None:
    """``torch.save`` of ``obj`` to ``path`` (parent folders created) through ``<path>.tmp`` and a rename."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def link_files(src: str | os.PathLike, outputs: list, log: str | os.PathLike | None = None) -> None:
    """Hard-link (copy where links are impossible) the files named like ``outputs`` from the folder
    ``src`` to ``outputs``, then mark them as new (Snakemake compares them with the source folder's
    timestamp); one line in ``log``."""
    import shutil

    for out in outputs:
        source = Path(src) / Path(out).name
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).unlink(missing_ok=True)
        try:
            os.link(source, out)
        except OSError:
            shutil.copyfile(source, out)
        os.utime(out)
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text(f"linked {len(outputs)} files from {src}\n")


def save_analysis(path, arrays: dict, meta: dict) -> None:
    """One analysis of one model: arrays (numpy-convertible) and a JSON ``meta`` record (model id,
    settings, provenance, and for a failed step its message) in one ``.npz``, written atomically."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    data = {k: np.asarray(v) for k, v in arrays.items()}
    data["meta"] = np.asarray(json.dumps(meta, default=_default))
    buf = io.BytesIO()
    np.savez_compressed(buf, **data)
    atomic_write(buf.getvalue(), path)


def load_analysis(path) -> dict:
    """The arrays of an analysis file, plus ``meta`` (dict). 0-d arrays become Python scalars."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}
    out["meta"] = json.loads(out.get("meta", "{}"))
    return out


def _git_commit() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except Exception:  # noqa: BLE001 - provenance is best effort
        return None


def provenance(params: dict | None = None, seed: int | None = None, started: float | None = None,
               device: str | None = None) -> dict:
    """What produced a result: settings, seed, code and library versions, machine, wall time."""
    from importlib import metadata

    from . import __version__

    libs = {}
    for name in ("torch", "numpy", "geomloss", "scikit-learn", "pandas", "matplotlib", "snakemake"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            libs[name] = metadata.version(name)
    return {
        "params": params,
        "seed": seed,
        "rnnhmm_version": __version__,
        "git_commit": _git_commit(),
        "libraries": libs,
        "python": sys.version.split()[0],
        "host": platform.node(),
        "device": device,
        "wall_time_s": None if started is None else round(time.perf_counter() - started, 3),
        "finished": _dt.datetime.now().isoformat(timespec="seconds"),
    }


class Job:
    """What :func:`job` hands a workflow script: ``log(msg)``, the start time ``t0`` and
    ``provenance(params, seed, device)`` (wall time measured from ``t0``)."""

    def __init__(self, log, t0: float):
        self.log, self.t0 = log, t0

    def __call__(self, msg: str) -> None:
        self.log(msg)

    def provenance(self, params: dict | None = None, seed: int | None = None, device: str | None = None) -> dict:
        return provenance(params, seed, self.t0, device)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0


@contextlib.contextmanager
def job(sm, torch_threads: bool = False):
    """The preamble of a Snakemake script job: output into ``sm.log[0]`` (:func:`job_log`), the clock
    started, and with ``torch_threads`` torch's CPU threads pinned to the job's ``threads``.

    >>> with job(snakemake, torch_threads=True) as log:  # doctest: +SKIP
    ...     log(f"done in {log.elapsed():.1f} s")
    """
    with job_log(sm.log[0] if len(sm.log) else None) as log:
        t0 = time.perf_counter()
        if torch_threads:
            from rnnhmm.threads import set_threads

            set_threads(sm.threads)
        yield Job(log, t0)
