"""Torch CPU thread settings, in one place.

* :func:`set_threads`: a job's thread count (its Snakemake ``threads``), set once at job start
  (``rnnhmm.io.job``).
* :func:`single_intraop_thread` / :func:`threaded`: run torch with ONE intra-op thread inside an
  analysis and spread independent chunks over Python threads instead (torch releases the GIL). On
  the 2-core target machine, under load, a BLAS call with 2 intra-op threads was measured 3-4000x
  slower for tiny float64 matrices and 3-5x slower for the rollout matmuls (each parallel region
  waits for a descheduled OpenMP thread); batched ``eigvals`` of small matrices gains nothing from
  threads and slows down 5-25x when cores are shared. The caller's setting is restored on exit;
  not safe if other threads use torch concurrently.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager

__all__ = ["set_threads", "single_intraop_thread", "threaded", "n_workers"]

_OUTER_THREADS: list[int | None] = [None]  # the caller's thread count while inside single_intraop_thread


def set_threads(n: int) -> int:
    """Pin torch's intra-op CPU threads to ``max(1, n)``; returns the count set."""
    import torch

    n = max(1, int(n))
    torch.set_num_threads(n)
    return n


@contextmanager
def single_intraop_thread():
    """Run torch CPU ops on one intra-op thread, restoring the caller's setting (nesting is a no-op)."""
    import torch

    if _OUTER_THREADS[0] is not None:  # nested call
        yield
        return
    n = torch.get_num_threads()
    _OUTER_THREADS[0] = n
    if n != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if n != 1:
            torch.set_num_threads(n)
        _OUTER_THREADS[0] = None


def threaded(fn):
    """Decorator: ``fn`` runs inside :func:`single_intraop_thread`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_intraop_thread():
            return fn(*args, **kwargs)
    return wrapper


def n_workers(n: int | None) -> int:
    """Worker threads: explicit, else the caller's torch.get_num_threads()."""
    import torch

    if n is not None:
        return max(1, int(n))
    return max(1, _OUTER_THREADS[0] or torch.get_num_threads())
