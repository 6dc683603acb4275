"""Training settings and helpers of the noise-driven RNN emitting HMM-like sequences (docs/training.md
C.1-C.3, C.5): :class:`TrainConfig`, :class:`TrainResult`, device placement, seeding, the loss, the
learning-rate schedule and the snapshot/log cadence. The training loop that uses them is
:func:`rnnhmm.training.engine.train_many` (S same-shape models at once; :func:`~rnnhmm.training.engine.train`
is that loop with one model): this module imports nothing from it.

Loss: debiased Sinkhorn divergence (geomloss, p=2, blur 0.2, eps-scaling 0.5) between the set of
RNN output sequences and the set of HMM sequences, each sequence flattened to a point in R^{L*K}.
Or, with ``objective: likelihood``, minus the FIVO bound of a particle filter
(:mod:`rnnhmm.training.fivo`, docs/training.md "Training by likelihood").
Optimiser: Adam (lr 1e-3, betas (0.9, 0.9)), batches of 4096 in fixed order, fresh input noise
every epoch, gradient-norm clipping.

Deliberate differences from the reference code (documented in the README):
* the *best* weights are a deep copy taken at the epoch of the lowest validation loss (the
  reference aliased the live parameters and so saved the last epoch under the best name);
  both ``last`` and ``best`` are written;
* evolution snapshots are seeded per model (the reference forced seed 0 for every seed);
* a run resumes from its checkpoint bit-for-bit (RNG states are part of the checkpoint) on the
  same kind of device; the checkpoint records the device and says when a resume cannot be identical.

"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .placement import claim_gpu_slot

__all__ = ["TrainingInterrupted", "TrainConfig", "TrainResult", "sinkhorn_loss", "pick_device", "resolve_device",
           "device_fingerprint", "seed_everything", "lr_at", "wants_snapshot", "wants_log", "end_of_epoch"]


class TrainingInterrupted(RuntimeError):
    """Raised by ``train(stop_after=...)`` to emulate a job killed part-way (tests only)."""


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (units: epochs, sequences)."""

    hidden: int
    input_dim: int
    epochs: int = 500
    batch_size: int = 4096
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.9)
    blur: float = 0.2
    tau: float = 1.0
    grad_clip: float = 0.9
    random_h0: bool = True
    seed: int = 0
    checkpoint_every: int = 10
    evolution_every: int = 0  # 0: no per-epoch weight snapshots
    log_every: int = 10
    device: str = "auto"
    lr_schedule: str = "constant"  # or "cosine": from lr down to lr * lr_min_factor at the last epoch
    lr_min_factor: float = 0.1
    # curriculum (CPU recipes, docs/cpu_recipes.md): the first warmup_epochs train and validate on
    # the first warmup_seq_len steps of every sequence, the rest on the full length; 0 = off
    warmup_epochs: int = 0
    warmup_seq_len: int = 0
    # objective (docs/training.md, "Training by likelihood"): "sinkhorn" (the paper's) or
    # "likelihood" (maximise the FIVO bound of a particle filter, rnnhmm.training.fivo)
    objective: str = "sinkhorn"
    particles: int = 64  # likelihood: particles per training sequence
    ess_threshold: float = 0.5  # likelihood: resample a sequence when its ESS < ess_threshold * particles
    # fine-tune: a pipeline model.pt whose init_weights ('last' or 'best') start the run instead of the
    # random initialisation; "{seed}" in the path is replaced by each model's seed
    init_from: str | None = None
    init_weights: str = "last"

    def __post_init__(self):
        self.betas = tuple(self.betas)
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(f"training: lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.warmup_epochs < 0 or self.warmup_seq_len < 0:
            raise ValueError("training: warmup_epochs and warmup_seq_len must be >= 0")
        if bool(self.warmup_epochs) != bool(self.warmup_seq_len):
            raise ValueError("training: warmup_epochs and warmup_seq_len go together (both 0 or both >= 1)")
        if self.objective not in ("sinkhorn", "likelihood"):
            raise ValueError(f"training: objective must be 'sinkhorn' or 'likelihood', got {self.objective!r}")
        if self.init_weights not in ("last", "best"):
            raise ValueError(f"training: init_weights must be 'last' or 'best', got {self.init_weights!r}")
        if not 0.0 <= self.ess_threshold <= 1.0:
            raise ValueError(f"training: ess_threshold must lie in [0, 1], got {self.ess_threshold}")
        for key in ("hidden", "input_dim", "epochs", "batch_size", "particles"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"training: {key} must be >= 1, got {getattr(self, key)}")


@dataclass
class TrainResult:
    """What :func:`rnnhmm.training.engine.train_many` returns per model.

    ``train_loss``: per epoch, the mean over the training batches of the loss that was minimised:
    the Sinkhorn divergence (objective ``sinkhorn``), or minus the FIVO bound in nats per step and
    sequence, -bound / (L * B) (objective ``likelihood``). ``val_loss``: per epoch, the Sinkhorn
    divergence on the validation data, under either objective (the plateau verdict reads it).
    ``val_bound``: per epoch, the FIVO bound on the validation data in nats per step and sequence
    (an estimate of a lower bound of (1/L) log p_RNN(y)); empty under ``sinkhorn``. ``best``,
    ``best_epoch``: the epoch of the lowest validation loss (``sinkhorn``) or of the highest
    validation bound (``likelihood``), full-length epochs only; ``best_val`` is that epoch's
    (Sinkhorn) validation loss under both.
    """

    last: dict
    best: dict
    best_epoch: int
    best_val: float
    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    evolution_epochs: list = field(default_factory=list)
    evolution: dict | None = None
    wall_time_s: float = 0.0
    device: str = "cpu"
    resumed_from_epoch: int = 0
    device_name: str = "cpu"  # the resolved device's model (GPU name), as recorded in checkpoints
    resume_identical: bool = True  # False: resumed from a checkpoint written on another device kind
    val_bound: list = field(default_factory=list)


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' requested but CUDA is not available")
    return torch.device(name)


def device_fingerprint(device: torch.device) -> dict:
    """What decides the random numbers and the float rounding of a run: device kind and model."""
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        return {"type": "cuda", "name": props.name, "capability": f"{props.major}.{props.minor}",
                "torch": torch.__version__, "cuda": torch.version.cuda}
    return {"type": device.type, "name": device.type, "torch": torch.__version__}


def resolve_device(spec: str = "auto", *, n_gpus: int | None = None, lock_dir: str | Path | None = None,
                   slots_per_gpu: int | None = None, log: Callable[[str], None] = lambda m: None):
    """The device a training job uses, decided when it starts: ``(device string, lock)``.

    ``cpu`` and ``cuda:N`` are taken as they are; ``auto`` is CUDA when available, else the CPU.
    ``cuda`` / ``auto`` on a machine with several GPUs take a free slot (:func:`.placement.claim_gpu_slot`;
    ``$RNNHMM_JOBS_PER_GPU`` slots per GPU, default 1; locks in ``$RNNHMM_GPU_LOCK_DIR``, default
    ``/tmp/rnnhmm-gpu-slots-<uid>``), so that concurrent jobs spread over the GPUs. Keep ``lock``
    (an open file, or None) alive while the job runs. ``n_gpus`` overrides the count (tests).
    """
    if spec == "cpu" or spec.startswith("cuda:"):
        return spec, None
    if n_gpus is None:
        n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n_gpus == 0:
        if spec.startswith("cuda"):
            raise RuntimeError(f"device '{spec}' requested but CUDA is not available")
        return "cpu", None
    if n_gpus == 1:
        return "cuda:0", None
    lock_dir = lock_dir or os.environ.get("RNNHMM_GPU_LOCK_DIR", f"/tmp/rnnhmm-gpu-slots-{os.getuid()}")
    slots = slots_per_gpu or int(os.environ.get("RNNHMM_JOBS_PER_GPU", "1"))
    visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    idx, lock = claim_gpu_slot(n_gpus, lock_dir, slots, visible=visible if len(visible) == n_gpus else None)
    if idx is None:
        idx = os.getpid() % n_gpus
        log(f"WARNING: all {n_gpus} x {slots} GPU slots in {lock_dir} are taken; sharing cuda:{idx}")
    return f"cuda:{idx}", lock


def seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


_LOSS_CACHE: dict = {}


def sinkhorn_loss(blur: float = 0.2):
    """geomloss debiased Sinkhorn divergence, cost |x-y|^2/2, eps = blur^2, tensorized backend."""
    key = float(blur)
    if key not in _LOSS_CACHE:
        from geomloss import SamplesLoss

        _LOSS_CACHE[key] = SamplesLoss(loss="sinkhorn", p=2, blur=blur, debias=True, scaling=0.5,
                                       backend="tensorized")
    return _LOSS_CACHE[key]


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Learning rate of epoch ``epoch`` (1-based): ``lr`` throughout (constant), or a cosine from
    ``lr`` to ``lr * lr_min_factor`` at the last epoch. With a warm-up curriculum the cosine covers
    the full-length epochs only (``lr`` through the warm-up, which has to leave the plateau)."""
    start = cfg.warmup_epochs if cfg.warmup_epochs < cfg.epochs else 0
    if cfg.lr_schedule == "constant" or cfg.epochs - start <= 1 or epoch <= start:
        return float(cfg.lr)
    lo = cfg.lr * cfg.lr_min_factor
    frac = (epoch - start - 1) / (cfg.epochs - start - 1)
    return float(lo + (cfg.lr - lo) * 0.5 * (1.0 + math.cos(math.pi * frac)))


def wants_snapshot(cfg: TrainConfig, epoch: int) -> bool:
    """Keep this epoch's weights for the evolution analyses (every ``evolution_every``, and epoch 1)?"""
    return bool(cfg.evolution_every) and (epoch % cfg.evolution_every == 0 or epoch == 1)


def wants_log(cfg: TrainConfig, epoch: int) -> bool:
    """Print a progress line after this epoch (the first, every ``log_every``, the last)?"""
    return epoch == 1 or epoch % cfg.log_every == 0 or epoch == cfg.epochs


def end_of_epoch(cfg: TrainConfig, epoch: int, ran: int, stop_after: int | None, save: Callable[[], None]) -> None:
    """Checkpoint on schedule (and at the last epoch); with ``stop_after`` (tests), checkpoint and
    raise TrainingInterrupted once this call has run that many epochs, as a killed job would."""
    if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
        save()
    if stop_after is not None and ran >= stop_after and epoch < cfg.epochs:
        save()
        raise TrainingInterrupted(f"stopped after epoch {epoch} (stop_after={stop_after})")
