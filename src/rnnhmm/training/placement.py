"""Device placement of training jobs (torch-free: Snakemake asks :func:`wants_gpu` while parsing; a
job claims its GPU with :func:`claim_gpu_slot` when it starts, through
:func:`rnnhmm.training.settings.resolve_device`).

A job asks Snakemake for a GPU only when it will use one (:func:`wants_gpu`). On a local run
``auto`` means CUDA only where a GPU is visible on the machine that plans the jobs
(:func:`cuda_present`); when the jobs run elsewhere (a cluster executor such as the SLURM profile)
the planning host (a login node) says nothing about the nodes, so ``auto`` asks for one GPU per
training job, and the job trains on CUDA where the node has it.
On a machine with several GPUs each job takes a free slot (:func:`claim_gpu_slot`: a lock file per
GPU and slot, held while the job runs and released by the kernel when the job dies).
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

__all__ = ["cuda_present", "wants_gpu", "claim_gpu_slot"]


def cuda_present() -> bool:
    """Is an NVIDIA GPU visible on this machine? (no torch: device nodes and the driver's list).

    ``RNNHMM_CUDA=0`` / ``=1`` overrides the answer (e.g. a login node planning GPU jobs).
    """
    env = os.environ.get("RNNHMM_CUDA")
    if env in ("0", "1"):
        return env == "1"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidia0").exists()


def wants_gpu(device: str, cuda: bool | None = None, cluster: bool = False) -> int:
    """GPUs a training job asks Snakemake for: 0 for ``cpu``; 1 for ``cuda[:N]``; for ``auto``, 1
    when the jobs run on a cluster (``cluster``: a non-local executor, whatever the planning host
    has), else 1 only on a machine with a GPU (``cuda``, default :func:`cuda_present`)."""
    if device == "cpu":
        return 0
    if device.startswith("cuda") or cluster:
        return 1
    return int(cuda_present() if cuda is None else cuda)


def claim_gpu_slot(n_gpus: int, lock_dir: str | os.PathLike, slots_per_gpu: int = 1,
                   visible: list[str] | None = None, wait_s: float = 0.0, poll_s: float = 1.0):
    """Take a free (GPU, slot) by locking ``{lock_dir}/gpu{id}.slot{k}.lock`` (fcntl, non-blocking).

    GPUs are tried in order, filling every GPU's first slot before any second slot, so concurrent
    jobs spread over the GPUs and then share them. ``visible``: the physical ids behind the
    process's device indices (``CUDA_VISIBLE_DEVICES``), used in the lock names so that jobs with
    different visible sets do not collide. Returns (device index, open lock file: keep it open
    for the job's lifetime); when every slot is taken after ``wait_s``, (None, None).
    """
    import fcntl

    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    ids = visible if visible else [str(i) for i in range(n_gpus)]
    deadline = time.monotonic() + wait_s
    while True:
        for k in range(slots_per_gpu):
            for i in range(n_gpus):
                fh = open(lock_dir / f"gpu{ids[i]}.slot{k}.lock", "a+")
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as e:
                    fh.close()
                    if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    continue
                fh.seek(0)
                fh.truncate()
                fh.write(f"{os.getpid()}\n")
                fh.flush()
                return i, fh
        if time.monotonic() >= deadline:
            return None, None
        time.sleep(poll_s)
