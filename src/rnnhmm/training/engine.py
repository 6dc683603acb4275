"""The training loop: S models of the same shape trained at once (the pipeline trains each group
of seeds this way, and :func:`train` is this loop with S = 1). Same mathematics
as the pipeline's loop before (``benchmarks/reference_training.py``: geomloss, autograd, the
global random generator), checked by ``tests/test_engine.py``.

What is batched, and why it is exact
------------------------------------
* **RNN.** The S models' weights are stacked on a leading model axis, (S, H, D), (S, H, H),
  (S, K, H). The input projection of all steps is one batched matmul; the recurrence
  (:func:`rnnhmm.model.driven_recurrence`: projection and recurrence in one autograd function, no
  bookkeeping for an in-place write into a view) runs time-major in place with a hand-written backward (two
  kernels per step each way, the W_hh gradient as one matmul); readout and Gumbel-softmax run in
  an outputs-major layout (reductions over K = 3 along a long axis).
* **Optimiser.** One ``torch.optim.Adam`` over the stacked parameters. Adam is elementwise and the
  S models step together (same step count), so it is the same update as S separate optimisers.
* **Gradient clipping is per model**: each model's total gradient norm (over its three weight
  matrices) is computed and its gradients are scaled by ``min(1, clip / (norm + 1e-6))``, exactly
  as ``torch.nn.utils.clip_grad_norm_`` does for one model.
* **Random numbers.** Every model owns a ``torch.Generator`` seeded with its seed and draws, in the
  same order and shapes, what ``train()`` draws from the global generator after
  ``torch.manual_seed(seed)``: the three initial weight matrices (U(-1/sqrt(H), 1/sqrt(H)), on the
  CPU), then per batch the input noise (B, L, D), h_0 (B, H) when ``random_h0`` and the uniforms
  of the Gumbel noise (B, L, K). A model trained in a batch therefore sees the same numbers as the
  same model trained alone (``tests/test_engine.py`` checks the losses).
* **Loss.** :func:`onehot_sinkhorn` is geomloss's debiased Sinkhorn divergence (``SamplesLoss(
  "sinkhorn", p=2, blur, debias=True, scaling=0.5, backend="tensorized")``), re-implemented for
  one-hot point clouds and a model axis, with the same eps-scaling schedule (geomloss's own
  ``epsilon_schedule`` on each model's own diameter), the same symmetric averaged updates and the
  same final extrapolation. What it saves, without changing the value:

  - costs: for one-hot sequences |x|^2 = L, so C(x, y) = |x - y|^2 / 2 = L - <x, y>, one matmul
    per matrix with exact integer entries; C_yx is the transpose of C_xy (geomloss builds both);
  - the target-target problem OT(b, b) depends only on the (fixed) target batch and the eps
    schedule, and enters the loss as the constant <b, g_bb>: it is computed once per target
    batch and schedule and cached (a quarter of geomloss's softmin work per loss);
  - no autograd graph through Sinkhorn: the gradient w.r.t. the model outputs is written down
    (it is the one autograd computes through geomloss's last extrapolation step, whose potentials
    are detached): dS/dx_i = a_i [ (sum_j P_ij - sum_k Q_ik) x_i - sum_j P_ij y_j + sum_k Q_ik x_k ]
    with P, Q the row-softmax plans of the x->y and x->x extrapolations;
  - the S problems run as one batched computation;
  - the potentials are absorbed into the kernel, K_ij = exp((f_i + g_j - C_ij) / eps), so that
    both softmins of the x<->y pair are the row and column sums of one exp pass
    (softmin_i = f_i - eps log mean_j K_ij), and the plans of the gradient are K's rows; exp is
    computed as exp2 with denormals flushed to zero (torch's CPU exp is ~30x slower below -87).
    A problem whose sums leave [1e-20, 1e20] is redone in the log domain (``FALLBACKS`` counts
    them; none in the benchmarks).

  Values agree with geomloss to float32 rounding (not bit for bit: summation orders differ).

Checkpoints: :func:`train_many` writes one resumable checkpoint for the whole batch (stacked
weights, Adam state, histories, every model's generator state, the device's kind and model)
every ``checkpoint_every`` epochs, and continues from it when it exists; evolution snapshots are
appended to ``<checkpoint>.evo`` (the checkpoint records their count), so a checkpoint's size does
not grow with the number of snapshots. A resume on the same kind and model of device is identical
to an uninterrupted run; on another it says so in the log and in the result (``resume_identical``).

Objectives (``TrainConfig.objective``): ``sinkhorn`` (the paper's, above) or ``likelihood``: each
training batch of B sequences is scored by the FIVO bound of a particle filter with P particles per
sequence and model (:mod:`rnnhmm.training.fivo`, one (S, B*P, H) tensor; loss -bound / (L * B) per
model, summed over the models for the backward pass, so each model gets its own exact gradient),
drawing its random numbers from the same per-model generators. The rest of the loop is shared: epochs,
batches, learning-rate schedule, warm-up curriculum, per-model clipping, checkpoints, snapshots,
and the Sinkhorn validation pass (unchanged, so the plateau verdict applies); the bound on the
validation data is recorded as well (``TrainResult.val_bound``). ``init_from`` starts from a
pipeline model's weights (a fine-tune) under either objective.

Restrictions: the S configs must be equal except for ``seed`` (same shape, epochs, batch size,
hyper-parameters), and all data arrays must have the same shape. Group models accordingly (e.g. the
seeds of one grid cell). ``evolution_every`` snapshots are supported per model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch.profiler import record_function

from rnnhmm.io import atomic_save
from rnnhmm.model import driven_recurrence, load_weights

from .fivo import likelihood_loss, validation_bound
from .settings import (
    TrainConfig,
    TrainResult,
    device_fingerprint,
    end_of_epoch,
    lr_at,
    pick_device,
    wants_log,
    wants_snapshot,
)
from .sinkhorn import Softmin, onehot_sinkhorn
from .snapshots import WEIGHT_KEYS, SnapshotStore


class BatchedModels:
    """Stacked weights of S NoiseRNN models and their per-model random generators.

    ``init_gens`` (CPU) draw the initial weights exactly as ``NoiseRNN.__init__`` after
    ``torch.manual_seed(seed)``; ``noise_gens`` (on the device) draw what ``train()`` draws from the
    device's default generator.
    """

    def __init__(self, seeds: Sequence[int], hidden: int, input_dim: int, n_outputs: int,
                 random_h0: bool, device: torch.device):
        self.seeds = [int(s) for s in seeds]
        self.device = device
        self.random_h0 = random_h0
        self.init_gens = [torch.Generator().manual_seed(s) for s in self.seeds]
        if device.type == "cpu":
            self.noise_gens = self.init_gens
        else:
            self.noise_gens = [torch.Generator(device=device).manual_seed(s) for s in self.seeds]
        bound = 1.0 / math.sqrt(hidden)
        shapes = {"weight_ih": (hidden, input_dim), "weight_hh": (hidden, hidden), "readout": (n_outputs, hidden)}
        per_model = [{k: torch.empty(*shapes[k]).uniform_(-bound, bound, generator=g) for k in WEIGHT_KEYS}
                     for g in self.init_gens]
        self.params = {k: torch.nn.Parameter(torch.stack([m[k] for m in per_model]).to(device)) for k in WEIGHT_KEYS}

    @property
    def S(self) -> int:
        return len(self.seeds)

    def parameters(self) -> list[torch.nn.Parameter]:
        return [self.params[k] for k in WEIGHT_KEYS]

    def state(self, s: int) -> dict:
        """Model ``s``'s weights as a NoiseRNN state dict (CPU copies)."""
        return {k: self.params[k].detach()[s].cpu().clone() for k in WEIGHT_KEYS}

    def forward(self, n: int, seq_len: int, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample n sequences from every model: (straight-through outputs, exact one-hot), both
        (S, n, seq_len, K). Draws per model: input noise, h_0 (if random), Gumbel uniforms."""
        W_ih, W_hh, W_out = (self.params[k] for k in WEIGHT_KEYS)
        D, H, K = W_ih.shape[-1], W_hh.shape[-1], W_out.shape[-2]
        S = self.S
        with record_function("noise"):
            noise = torch.stack([torch.randn(n, seq_len, D, generator=g, device=self.device) for g in self.noise_gens])
            h0 = None
            if self.random_h0:
                h0 = torch.stack([torch.randn(n, H, generator=g, device=self.device) for g in self.noise_gens])
            u = torch.stack([torch.rand(n, seq_len, K, generator=g, device=self.device) for g in self.noise_gens])
        with record_function("rnn forward"):
            states = driven_recurrence(W_ih, noise, W_hh, h0)  # (S, L, n, H), time-major
            # readout and Gumbel-softmax in a (S, K, L, n) layout: the reductions over the K
            # outputs then run along a long contiguous axis (over a last axis of size K they are
            # 3-10x slower on the CPU)
            # (S, L*n, K), then the small logits (not the states' gradient) are transposed
            logits = torch.bmm(states.view(S, seq_len * n, H), W_out.transpose(1, 2))
            logits = logits.transpose(1, 2).contiguous().view(S, K, seq_len, n)
            u = u.permute(0, 3, 2, 1).contiguous()
            gumbel = -torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))  # as gumbel_noise()
            z = (logits + gumbel) / tau
            e = (z - z.amax(1, keepdim=True).detach()).exp()  # softmax over the outputs
            soft = e / e.sum(1, keepdim=True)
            # one-hot of the argmax over the outputs (first maximum, as argmax), K comparisons
            # (argmax over a non-last axis takes a slow path)
            sd = soft.detach()
            best, idx = sd[:, 0], torch.zeros_like(sd[:, 0], dtype=torch.long)
            for k in range(1, K):
                idx = torch.where(sd[:, k] > best, k, idx)
                best = torch.maximum(best, sd[:, k])
            hard = (torch.arange(K, device=self.device).view(1, K, 1, 1) == idx.unsqueeze(1)).to(soft.dtype)
            out = (hard - soft.detach() + soft).permute(0, 3, 2, 1).contiguous()  # (S, n, L, K)
            hard = hard.permute(0, 3, 2, 1).contiguous()
        return out, hard

    def load_initial(self, path_pattern: str, kind: str, log: Callable[[str], None]) -> None:
        """Replace the random initial weights by the ``kind`` ('last' or 'best') weights of pipeline
        model files, one per model: ``path_pattern`` with ``{seed}`` replaced by the model's seed
        (the random initial weights are still drawn, so the generators stay in step with a fresh run)."""
        with torch.no_grad():
            for s, seed in enumerate(self.seeds):
                path = path_pattern.replace("{seed}", str(seed))
                w = load_weights(path, kind)
                for k, v in zip(WEIGHT_KEYS, w):
                    if tuple(v.shape) != tuple(self.params[k].shape[1:]):
                        raise ValueError(f"init_from {path}: {k} has shape {tuple(v.shape)}, the model "
                                         f"{tuple(self.params[k].shape[1:])}")
                    self.params[k][s].copy_(v.to(self.params[k].dtype))
                log(f"s{seed}: initial weights from {path} ({kind})")

    def clip_per_model(self, max_norm: float) -> torch.Tensor:
        """clip_grad_norm_ applied to each model separately; returns the S total norms."""
        grads = [p.grad for p in self.parameters()]
        S = self.S
        norms = torch.stack([g.reshape(S, -1).norm(dim=1) for g in grads])  # (3, S)
        total = norms.norm(dim=0)  # (S,)
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
        return total

    def rng_states(self) -> dict:
        st = {"init": [g.get_state() for g in self.init_gens]}
        if self.noise_gens is not self.init_gens:
            st["noise"] = [g.get_state() for g in self.noise_gens]
        return st

    def set_rng_states(self, st: dict, restore_noise: bool = True) -> None:
        """Restore the generators; ``restore_noise=False`` (checkpoint from another device kind):
        only the CPU generators, the device's stay freshly seeded."""
        for g, s in zip(self.init_gens, st["init"]):
            g.set_state(s)
        if restore_noise and "noise" in st and self.noise_gens is not self.init_gens:
            for g, s in zip(self.noise_gens, st["noise"]):
                g.set_state(s)


def _check_configs(cfgs: Sequence[TrainConfig]) -> TrainConfig:
    if not cfgs:
        raise ValueError("train_many: no configs")
    ref = replace(cfgs[0], seed=0)
    for c in cfgs[1:]:
        if replace(c, seed=0) != ref:
            diff = {k: (v, getattr(c, k)) for k, v in asdict(cfgs[0]).items() if k != "seed" and getattr(c, k) != v}
            raise ValueError(f"train_many: configs must differ only in seed; they differ in {diff}")
    return cfgs[0]


# Settings that change neither the numbers nor the result: a checkpoint written with other values
# of these is still resumed (the device is compared separately, by kind and model).
_NOT_RESUME_KEYS = ("device", "log_every", "checkpoint_every")


# Settings added after checkpoints were first written: left out of the key where they hold these
# defaults, so that a checkpoint written before they existed (the same training) is still resumed.
LATER_KEYS = {"objective": "sinkhorn", "particles": 64, "ess_threshold": 0.5, "init_from": None,
               "init_weights": "last"}


def _resume_key(cfgs: Sequence[TrainConfig]) -> list[dict]:
    return [{k: v for k, v in asdict(c).items()
             if k not in _NOT_RESUME_KEYS and not (k in LATER_KEYS and v == LATER_KEYS[k])} for c in cfgs]


def _onehot(obs: Sequence[np.ndarray], K: int, device) -> torch.Tensor:
    shapes = {np.shape(o) for o in obs}
    if len(shapes) != 1:
        raise ValueError(f"train_many: all data arrays must have the same shape, got {sorted(shapes)}")
    idx = torch.as_tensor(np.stack(obs), dtype=torch.long, device=device)  # (S, N, L)
    return torch.eye(K, device=device)[idx]  # (S, N, L, K)


def train_many(cfgs: Sequence[TrainConfig], train_obs: Sequence[np.ndarray], val_obs: Sequence[np.ndarray],
               n_outputs: int = 3, checkpoint_path: str | Path | None = None,
               log: Callable[[str], None] = print, stop_after: int | None = None) -> list[TrainResult]:
    """Train S models at once; model s uses ``cfgs[s]`` (equal except ``seed``) and its own data
    ``train_obs[s]``, ``val_obs[s]`` (int symbols (N, L), same shapes for all s).

    Returns one :class:`rnnhmm.training.settings.TrainResult` per model (losses, last and best weights,
    best-epoch bookkeeping, evolution snapshots; under ``objective: likelihood`` the training loss is
    minus the FIVO bound per step and the validation bound is recorded too, see TrainResult).
    ``checkpoint_path``: one resumable checkpoint for the whole batch, written every
    ``checkpoint_every`` epochs and resumed from when present (configs must match up to device and
    cadence); the evolution snapshots go to
    ``<checkpoint_path>.evo``, appended. ``stop_after`` (testing only): raise TrainingInterrupted
    after that many epochs of this call.
    """
    cfg = _check_configs(cfgs)
    S = len(cfgs)
    if len(train_obs) != S or len(val_obs) != S:
        raise ValueError(f"train_many: {S} configs but {len(train_obs)} train / {len(val_obs)} val arrays")
    device = pick_device(cfg.device)
    fingerprint = device_fingerprint(device)
    y_train = _onehot(train_obs, n_outputs, device)
    y_val = _onehot(val_obs, n_outputs, device)
    L = y_train.shape[2]
    F = L * n_outputs
    # warm-up curriculum: the first warmup_epochs see the first Lw steps of every sequence
    Lw = min(cfg.warmup_seq_len, L) if cfg.warmup_epochs else L
    y_train_w = y_train[:, :, :Lw].reshape(S, -1, Lw * n_outputs)
    y_val_w = y_val[:, :, :Lw].reshape(S, -1, Lw * n_outputs)
    y_train, y_val = y_train.reshape(S, -1, F), y_val.reshape(S, -1, F)
    likelihood = cfg.objective == "likelihood"
    if likelihood:  # integer symbols (S, N, L) for the bound
        yi_train = torch.as_tensor(np.stack(train_obs), dtype=torch.long, device=device)
        yi_val = torch.as_tensor(np.stack(val_obs), dtype=torch.long, device=device)

    def phase(epoch: int):
        """(sequence length, train targets, validation targets) of this epoch."""
        if epoch <= cfg.warmup_epochs and Lw < L:
            return Lw, y_train_w, y_val_w
        return L, y_train, y_val

    models = BatchedModels([c.seed for c in cfgs], cfg.hidden, cfg.input_dim, n_outputs, cfg.random_h0, device)
    if cfg.init_from:
        models.load_initial(cfg.init_from, cfg.init_weights, log)
    opt = torch.optim.Adam(models.parameters(), lr=lr_at(cfg, 1), betas=cfg.betas)
    train_hist: list[list[float]] = [[] for _ in range(S)]
    val_hist: list[list[float]] = [[] for _ in range(S)]
    bound_hist: list[list[float]] = [[] for _ in range(S)]  # likelihood: validation bound per epoch
    best_val = [math.inf] * S
    best_score = [math.inf] * S  # what the best epoch minimises: val loss, or minus the val bound
    best_epoch = [0] * S
    best_state = [models.state(s) for s in range(S)]
    shapes = {k: tuple(models.params[k].shape[1:]) for k in WEIGHT_KEYS}
    ckpt = Path(checkpoint_path) if checkpoint_path else None
    snaps = SnapshotStore(None if ckpt is None else ckpt.with_name(ckpt.name + ".evo"), shapes, S)
    elapsed_before, start_epoch = 0.0, 0
    bb_cache: dict = {}  # target-target Sinkhorn terms, per batch and schedule
    softmin = Softmin()
    key = _resume_key(cfgs)
    identical = True

    resumed = False
    if ckpt is not None and ckpt.exists():
        blob = torch.load(ckpt, map_location="cpu", weights_only=False)
        if blob.get("resume_key") != key:
            log(f"checkpoint {ckpt} was written with other settings; starting afresh")
        else:
            with torch.no_grad():
                for k in WEIGHT_KEYS:
                    models.params[k].copy_(blob["params"][k].to(device))
            opt.load_state_dict(blob["optimizer"])
            train_hist, val_hist = blob["train_loss"], blob["val_loss"]
            best_val, best_epoch, best_state = blob["best_val"], blob["best_epoch"], blob["best"]
            bound_hist, best_score = blob.get("val_bound", bound_hist), blob.get("best_score", list(best_val))
            snaps.reset(blob["n_snapshots"])
            elapsed_before, start_epoch = blob["elapsed_s"], blob["epoch"]
            was = blob.get("device", {})
            same_kind = was.get("type") == fingerprint["type"]
            identical = {k: was.get(k) for k in ("type", "name", "capability")} == \
                {k: fingerprint.get(k) for k in ("type", "name", "capability")}
            models.set_rng_states(blob["rng"], restore_noise=same_kind)
            log(f"resumed from {ckpt} at epoch {start_epoch}/{cfg.epochs}")
            if not identical:
                log(f"WARNING: the checkpoint was written on {was.get('type')} ({was.get('name')}) and this job "
                    f"runs on {fingerprint['type']} ({fingerprint['name']}): other random numbers and float "
                    f"rounding, so the result will NOT be identical to an uninterrupted run")
            resumed = True
    if not resumed:
        snaps.reset(0)

    def save_checkpoint(epoch: int, elapsed: float) -> None:
        if ckpt is None:
            return
        atomic_save({
            "resume_key": key, "configs": [asdict(c) for c in cfgs], "epoch": epoch, "device": fingerprint,
            "params": {k: models.params[k].detach().cpu().clone() for k in WEIGHT_KEYS},
            "optimizer": opt.state_dict(), "train_loss": train_hist, "val_loss": val_hist,
            "best_val": best_val, "best_epoch": best_epoch, "best": best_state,
            "val_bound": bound_hist, "best_score": best_score,
            "n_snapshots": snaps.count, "elapsed_s": elapsed, "rng": models.rng_states(),
        }, ckpt)

    def batches(n: int):
        return [(s, min(s + cfg.batch_size, n)) for s in range(0, n, cfg.batch_size)]

    def loss_of(out, hard, y, split, i, need_grad):
        b, f = out.shape[1], y.shape[-1]
        with record_function("sinkhorn"):
            return onehot_sinkhorn(out.reshape(S, b, f), y, blur=cfg.blur, need_grad=need_grad, bb_cache=bb_cache,
                                   cache_key=(split, i, f), x_hard=hard.reshape(S, b, f), softmin=softmin)

    t0 = time.perf_counter()
    n_train, n_val = y_train.shape[1], y_val.shape[1]
    train_batches, val_batches = batches(n_train), batches(n_val)
    ran = 0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(cfg, epoch)
        losses = []
        L_ep, yt, yv = phase(epoch)
        for i, (s0, e0) in enumerate(train_batches):
            if likelihood:
                with record_function("fivo"):
                    loss, _ = likelihood_loss(models.params, models.noise_gens, yi_train[:, s0:e0, :L_ep],
                                              cfg.particles, cfg.ess_threshold, cfg.random_h0)
                with record_function("backward"):
                    opt.zero_grad(set_to_none=True)
                    loss.sum().backward()  # the models are independent: each gets its own gradient
                loss = loss.detach()
            else:
                out, hard = models.forward(e0 - s0, L_ep, cfg.tau)
                loss, grad = loss_of(out, hard, yt[:, s0:e0], "train", i, True)
                with record_function("backward"):
                    opt.zero_grad(set_to_none=True)
                    out.backward(grad.view_as(out))
            with record_function("optimiser"):
                models.clip_per_model(cfg.grad_clip)
                opt.step()
            losses.append(loss)
        with torch.no_grad():
            vl = []
            for i, (s0, e0) in enumerate(val_batches):
                out, hard = models.forward(e0 - s0, L_ep, cfg.tau)
                vl.append(loss_of(out, hard, yv[:, s0:e0], "val", i, False)[0])
        if likelihood:
            with record_function("fivo validation"):
                vb = validation_bound(models.params, models.seeds, yi_val[:, :, :L_ep], val_batches,
                                      cfg.particles, cfg.ess_threshold, cfg.random_h0).tolist()
        # one device -> host transfer per epoch; the mean over batches as float64, as np.mean
        tl = torch.stack(losses).double().mean(0).tolist()
        vv = torch.stack(vl).double().mean(0).tolist()
        for s in range(S):
            train_hist[s].append(float(tl[s]))
            val_hist[s].append(float(vv[s]))
            score = val_hist[s][-1]
            if likelihood:
                bound_hist[s].append(float(vb[s]))
                score = -bound_hist[s][-1]
            # the best weights are chosen on the full length only (warm-up losses are on shorter sequences)
            if L_ep == L and score < best_score[s]:
                best_score[s], best_val[s], best_epoch[s], best_state[s] = score, val_hist[s][-1], epoch, \
                    models.state(s)
        if wants_snapshot(cfg, epoch):
            snaps.append(epoch, models.params)
        elapsed = elapsed_before + time.perf_counter() - t0
        done = epoch - start_epoch
        if wants_log(cfg, epoch):
            per = (time.perf_counter() - t0) / done
            vals = "  ".join(f"s{m.seed}: {train_hist[s][-1]:.4f}/{val_hist[s][-1]:.4f}"
                             + (f" bound {bound_hist[s][-1]:.4f}" if likelihood else "")
                             for s, m in enumerate(cfgs))
            log(f"epoch {epoch}/{cfg.epochs}  train/val {vals}  {per:.2f} s/epoch for {S} models  "
                f"ETA {per * (cfg.epochs - epoch) / 60:.1f} min")
        ran += 1
        end_of_epoch(cfg, epoch, ran, stop_after, lambda: save_checkpoint(epoch, elapsed))  # noqa: B023 (called now)

    wall = elapsed_before + time.perf_counter() - t0
    evo_epochs, evo = snaps.read() if snaps.count else ([], None)
    results = []
    for s in range(S):
        evolution = {"epochs": list(evo_epochs), **evo[s]} if evo_epochs else None
        results.append(TrainResult(
            last=models.state(s), best=best_state[s], best_epoch=best_epoch[s], best_val=best_val[s],
            train_loss=list(train_hist[s]), val_loss=list(val_hist[s]), evolution_epochs=list(evo_epochs),
            evolution=evolution, wall_time_s=wall, device=str(device), resumed_from_epoch=start_epoch,
            device_name=fingerprint["name"], resume_identical=identical, val_bound=list(bound_hist[s]),
        ))
    return results

def train(cfg: TrainConfig, train_obs: np.ndarray, val_obs: np.ndarray, n_outputs: int = 3,
          checkpoint_path: str | Path | None = None, log: Callable[[str], None] = print,
          stop_after: int | None = None) -> TrainResult:
    """Train one model: :func:`rnnhmm.training.engine.train_many` with a batch of one (the one training loop).

    train_obs, val_obs: int symbols (N, L). ``checkpoint_path``: where the resumable state is
    written every ``checkpoint_every`` epochs; if it exists the run continues from it. ``stop_after``
    (testing only) returns after that many epochs of this call, as a killed job would.
    """
    return train_many([cfg], [train_obs], [val_obs], n_outputs=n_outputs, checkpoint_path=checkpoint_path,
                      log=log, stop_after=stop_after)[0]
