"""Training of the noise-driven RNN to emit HMM-like sequences (spec C.1-C.3, C.5).

Loss: debiased Sinkhorn divergence (geomloss, p=2, blur 0.2, eps-scaling 0.5) between the set of
RNN output sequences and the set of HMM sequences, each sequence flattened to a point in R^{L*K}.
Optimiser: Adam (lr 1e-3, betas (0.9, 0.9)), batches of 4096 in fixed order, fresh input noise
every epoch, gradient-norm clipping.

Deliberate differences from the reference code (documented in the README):
* the *best* weights are a deep copy taken at the epoch of the lowest validation loss (the
  reference aliased the live parameters and so saved the last epoch under the best name);
  both ``last`` and ``best`` are written;
* evolution snapshots are seeded per model (the reference forced seed 0 for every seed);
* a run resumes from its checkpoint bit-for-bit (RNG states are part of the checkpoint).
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .model import NoiseRNN

__all__ = ["TrainingInterrupted", "TrainConfig", "TrainResult", "sinkhorn_loss", "train", "pick_device", "seed_everything"]


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

    def __post_init__(self):
        self.betas = tuple(self.betas)
        for key in ("hidden", "input_dim", "epochs", "batch_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"training: {key} must be >= 1, got {getattr(self, key)}")


@dataclass
class TrainResult:
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


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' requested but CUDA is not available")
    return torch.device(name)


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


def _state(model: NoiseRNN) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _rng_state(device: torch.device) -> dict:
    st = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def _set_rng_state(st: dict, device: torch.device) -> None:
    torch.set_rng_state(st["cpu"])
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"], device)


def _atomic_save(obj, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


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


def train(cfg: TrainConfig, train_obs: np.ndarray, val_obs: np.ndarray, n_outputs: int = 3,
          checkpoint_path: str | Path | None = None, log: Callable[[str], None] = print,
          stop_after: int | None = None) -> TrainResult:
    """Train one model.

    train_obs, val_obs: int symbols (N, L). ``checkpoint_path``: where the resumable state is
    written every ``checkpoint_every`` epochs; if it exists the run continues from it. ``stop_after``
    (testing only) returns after that many epochs of this call, as a killed job would.
    """
    device = pick_device(cfg.device)
    eye = torch.eye(n_outputs, device=device)
    y_train = eye[torch.as_tensor(train_obs, dtype=torch.long, device=device)]  # (N, L, K)
    y_val = eye[torch.as_tensor(val_obs, dtype=torch.long, device=device)]
    L = y_train.shape[1]
    loss_fn = sinkhorn_loss(cfg.blur)

    seed_everything(cfg.seed)
    model = NoiseRNN(cfg.hidden, cfg.input_dim, n_outputs, random_h0=cfg.random_h0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    train_hist: list[float] = []
    val_hist: list[float] = []
    best_val, best_epoch, best_state = math.inf, 0, _state(model)
    evo_epochs: list[int] = []
    evo: dict[str, list] = {"weight_ih": [], "weight_hh": [], "readout": []}
    elapsed_before = 0.0
    start_epoch = 0

    ckpt = Path(checkpoint_path) if checkpoint_path else None
    if ckpt is not None and ckpt.exists():
        blob = torch.load(ckpt, map_location="cpu", weights_only=False)
        if blob["config"] != asdict(cfg):
            log(f"checkpoint {ckpt} was written with other settings; starting afresh")
        else:
            model.load_state_dict(blob["model"])
            opt.load_state_dict(blob["optimizer"])
            train_hist, val_hist = blob["train_loss"], blob["val_loss"]
            best_val, best_epoch, best_state = blob["best_val"], blob["best_epoch"], blob["best"]
            evo_epochs, evo = blob["evolution_epochs"], blob["evolution"]
            elapsed_before = blob["elapsed_s"]
            start_epoch = blob["epoch"]
            _set_rng_state(blob["rng"], device)
            log(f"resumed from {ckpt} at epoch {start_epoch}/{cfg.epochs}")

    def save_checkpoint(epoch: int, elapsed: float) -> None:
        if ckpt is None:
            return
        _atomic_save({
            "config": asdict(cfg), "epoch": epoch, "model": _state(model), "optimizer": opt.state_dict(),
            "train_loss": train_hist, "val_loss": val_hist, "best_val": best_val, "best_epoch": best_epoch,
            "best": best_state, "evolution_epochs": evo_epochs, "evolution": evo,
            "elapsed_s": elapsed, "rng": _rng_state(device),
        }, ckpt)

    def batches(n: int):
        return [(s, min(s + cfg.batch_size, n)) for s in range(0, n, cfg.batch_size)]

    t0 = time.perf_counter()
    n_train, n_val = y_train.shape[0], y_val.shape[0]
    ran = 0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        model.train()
        losses = []
        for s, e in batches(n_train):
            noise = torch.randn(e - s, L, cfg.input_dim, device=device)
            out = model(noise, cfg.tau)
            loss = loss_fn(out.reshape(e - s, -1), y_train[s:e].reshape(e - s, -1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            vl = []
            for s, e in batches(n_val):
                noise = torch.randn(e - s, L, cfg.input_dim, device=device)
                out = model(noise, cfg.tau)
                vl.append(loss_fn(out.reshape(e - s, -1), y_val[s:e].reshape(e - s, -1)).item())
        train_hist.append(float(np.mean(losses)))
        val_hist.append(float(np.mean(vl)))
        if val_hist[-1] < best_val:
            best_val, best_epoch, best_state = val_hist[-1], epoch, copy.deepcopy(_state(model))
        if wants_snapshot(cfg, epoch):
            evo_epochs.append(epoch)
            st = _state(model)
            for k in evo:
                evo[k].append(st[k])
        elapsed = elapsed_before + time.perf_counter() - t0
        done = epoch - start_epoch
        if wants_log(cfg, epoch):
            per = (time.perf_counter() - t0) / done
            log(f"epoch {epoch}/{cfg.epochs}  train {train_hist[-1]:.4f}  val {val_hist[-1]:.4f}  "
                f"best {best_val:.4f}@{best_epoch}  {per:.2f} s/epoch  ETA {per * (cfg.epochs - epoch) / 60:.1f} min")
        ran += 1
        end_of_epoch(cfg, epoch, ran, stop_after, lambda: save_checkpoint(epoch, elapsed))

    evolution = None
    if evo_epochs:
        evolution = {"epochs": list(evo_epochs), **{k: torch.stack(v) for k, v in evo.items()}}
    return TrainResult(
        last=_state(model), best=best_state, best_epoch=best_epoch, best_val=best_val,
        train_loss=train_hist, val_loss=val_hist, evolution_epochs=list(evo_epochs), evolution=evolution,
        wall_time_s=elapsed_before + time.perf_counter() - t0, device=str(device),
        resumed_from_epoch=start_epoch,
    )
