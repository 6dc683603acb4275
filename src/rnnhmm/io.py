"""File helpers shared by the workflow scripts: logging into the job log, JSON, and provenance."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["job_log", "write_json", "read_json", "provenance", "atomic_write_bytes"]


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
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_default))
    os.replace(tmp, path)


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    tmp = Path(str(path) + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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
